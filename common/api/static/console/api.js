// Calls to the OMS API with the signed-in identity. Errors come back as
// ApiError holding the problem+json document (RFC 9457) the API answered.

import { authHeaders } from "./session.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }

  // Every reason the problem gives, one line each.
  get reasons() {
    return (this.problem.errors || []).map((e) => e.msg || JSON.stringify(e));
  }

  hasType(type) {
    return (this.problem.errors || []).some((e) => e.type === type) || String(this.problem.detail).includes(type);
  }
}

export async function call(method, path, { body, etag, query } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (etag) headers["If-Match"] = `"${etag}"`;
  const url = query ? `${path}?${query}` : path;
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text };
  }
  if (!response.ok) throw new ApiError(response.status, data || { detail: response.statusText });
  return data;
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body, etag) => call("POST", path, { body, etag });
export const patch = (path, body, etag) => call("PATCH", path, { body, etag });

// Query string of the non-empty entries of `params`.
export function queryOf(params) {
  const out = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "" && value !== false) out.set(name, String(value));
  }
  return out.toString();
}

export const orderPath = (orderId) => `/api/orders/${encodeURIComponent(orderId)}`;
