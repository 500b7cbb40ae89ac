// Incidents (docs/incidents.md): the list, newest first, and one incident's
// impact in words and numbers, its timeline, every change, and — for
// operators — acknowledge, mitigate, resolve and updates to stakeholders,
// each sent with the incident's ETag (If-Match).

import { ApiError, get, post, queryOf } from "../api.js";
import { badge, facts, fmt, h, orderLink, problemBox, say, table, when } from "../dom.js";

const STATUSES = ["live", "open", "acknowledged", "mitigated", "resolved"];
const incidentPath = (id) => `/api/incidents/${encodeURIComponent(id)}`;

function hashOf(filters) {
  const query = queryOf(filters);
  return `#/incidents${query ? `?${query}` : ""}`;
}

function hours(value) {
  if (value === null || value === undefined) return "–";
  return value < 0 ? `breached ${fmt(-value)} h ago` : `in ${fmt(value)} h`;
}

function inWords(impact) {
  if (!impact.order_count && !impact.projects.length) return "No order or project is known to be affected.";
  const markets = impact.markets.map((m) => m.market).join(", ") || "no market on record";
  const orders = `${fmt(impact.order_count)} order${impact.order_count === 1 ? "" : "s"}`;
  const projects = `${impact.projects.length} project${impact.projects.length === 1 ? "" : "s"}`;
  const breached = impact.breached ? ` ${fmt(impact.breached)} already missed an SLA.` : "";
  return `${orders} in ${projects} (${markets}) affected.${breached}`;
}

function filterForm(filters) {
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter incidents" },
    h("div", { class: "field" }, h("label", { for: "i-status" }, "Status"),
      h("select", { id: "i-status", name: "status" },
        [["any", "Any status"], ...STATUSES.map((s) => [s, s === "live" ? "not resolved" : s])].map(([v, t]) =>
          h("option", { value: v, selected: v === (filters.status ?? "live") }, t)))),
    h("div", { class: "field" }, h("label", { for: "i-market" }, "Market"),
      h("input", { id: "i-market", name: "market", value: filters.market || "", autocomplete: "off" })),
    h("div", { class: "field actions" }, h("button", { type: "submit", class: "primary" }, "Apply")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    window.location.hash = hashOf({ status: data.get("status"), market: data.get("market") });
  });
  return form;
}

export async function incidentsPage(me, filters) {
  const status = filters.status === "any" ? "" : (filters.status ?? "live");
  const page = await get("/api/incidents", queryOf({ status, market: filters.market, limit: 100 }));
  const rows = page.items.map((i) => h("tr", { dataset: { incident: i.incident_id, status: i.status } },
    h("td", { class: "mono" }, h("a", { href: `#/incidents/${encodeURIComponent(i.incident_id)}` }, i.incident_id)),
    h("td", {}, badge(i.status)), h("td", {}, i.severity), h("td", {}, i.title),
    h("td", { class: "num" }, fmt(i.impact.order_count)), h("td", { class: "num" }, fmt(i.impact.projects.length)),
    h("td", {}, i.impact.markets.map((m) => m.market).join(", ") || "–"),
    h("td", {}, when(i.opened_at)), h("td", { class: "num" }, fmt(i.occurrences))));
  return h("section", { class: "page" },
    h("h1", {}, "Incidents"),
    h("p", { class: "note" }, "Failures that touch orders, projects or markets, with their impact. Stakeholders ",
      "subscribed to a market or project hear of each: the notice, updates and the resolution summary."),
    filterForm(filters),
    table("Incidents", ["Incident", "Status", "Severity", "Title", { label: "Orders", num: true },
      { label: "Projects", num: true }, "Markets", "Opened", { label: "Seen", num: true }], rows,
    { id: "incidents", empty: "No incident." }));
}

function actionForm(incident, refresh) {
  const live = incident.status !== "resolved";
  if (!live) return null;
  const result = h("div", { id: "incident-result", "aria-live": "polite" });
  const field = (id, label, attrs = {}) => h("div", { class: "field" }, h("label", { for: id }, label),
    h("textarea", { id, name: id, rows: 2, ...attrs }));
  const form = h("form", { id: "incident-actions", "aria-label": "Act on the incident" },
    field("i-note", "Note for stakeholders"),
    field("i-root-cause", "Root cause (needed to resolve)"),
    field("i-resolution", "Resolution (needed to resolve)"),
    h("div", { class: "buttons" },
      incident.status === "open" ? h("button", { type: "submit", value: "acknowledge", class: "primary" }, "Acknowledge") : null,
      incident.status !== "mitigated" ? h("button", { type: "submit", value: "mitigate" }, "Mark mitigated") : null,
      h("button", { type: "submit", value: "resolve" }, "Resolve"),
      h("button", { type: "submit", value: "updates" }, "Post update")),
    result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter?.value || "updates";
    const data = new FormData(form);
    const text = (name) => (data.get(name) || "").trim() || undefined;
    const body = { acknowledge: { note: text("i-note") }, mitigate: { note: text("i-note"), root_cause: text("i-root-cause") },
      resolve: { root_cause: text("i-root-cause") || "", resolution: text("i-resolution") || "", note: text("i-note") },
      updates: { note: text("i-note") || "" } }[action];
    try {
      const done = await post(`${incidentPath(incident.incident_id)}/${action}`, body, incident.etag);
      await refresh();
      say(`${done.incident_id} is ${done.status}; ${done.notified.length} stakeholder(s) told so far`);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const explain = error.status === 412 ? "Someone changed the incident meanwhile: reload it and try again."
        : error.status === 409 ? `It is ${error.problem.current_status} now.` : null;
      document.getElementById("incident-result")?.replaceChildren(problemBox(error, explain));
      say(`Refused: ${error.message}`, "error");
    }
  });
  return h("section", {}, h("h2", {}, "Act"), form);
}

export async function incidentPage(me, incidentId, refresh) {
  const [incident, audit] = await Promise.all([get(incidentPath(incidentId)),
    get(`${incidentPath(incidentId)}/audit`)]);
  const impact = incident.impact;
  const orders = impact.orders.map((o) => h("tr", { dataset: { order: o.order_id } },
    h("td", {}, orderLink(o.order_id)), h("td", { class: "mono" }, o.project_id), h("td", {}, o.market || "–"),
    h("td", {}, badge(o.status)), h("td", {}, o.clock || "no SLA"), h("td", {}, when(o.due)),
    h("td", {}, hours(o.hours_left))));
  const markets = impact.markets.map((m) => h("tr", { dataset: { market: m.market } },
    h("td", {}, m.market), h("td", { class: "num" }, fmt(m.projects)), h("td", { class: "num" }, fmt(m.orders)),
    h("td", {}, when(m.due)), h("td", {}, hours(m.hours_left))));
  const changes = audit.items.map((a) => h("tr", {}, h("td", {}, when(a.at)), h("td", {}, `${a.actor.type}:${a.actor.id}`),
    h("td", {}, a.action), h("td", {}, a.from_status || ""), h("td", {}, a.to_status || ""), h("td", {}, a.reason || "")));
  return h("section", { class: "page" },
    h("h1", {}, `Incident ${incident.incident_id}`),
    h("p", { id: "incident-title" }, h("strong", {}, incident.title), " ", badge(incident.status)),
    h("p", { id: "incident-summary" }, incident.summary),
    h("p", { id: "incident-impact" }, inWords(impact)),
    facts([["Severity", incident.severity, { id: "fact-severity" }], ["Occurrences", incident.occurrences],
      ["Systems touched", impact.systems.join(", ") || "–"], ["Opened", when(incident.opened_at)],
      ["Acknowledged", when(incident.acknowledged_at)], ["Mitigated", when(incident.mitigated_at)],
      ["Resolved", when(incident.resolved_at), { id: "fact-resolved" }], ["Expected resolution", when(incident.eta)],
      ["Root cause", incident.root_cause || "–", { id: "fact-root-cause" }], ["Resolution", incident.resolution || "–"],
      ["Stakeholders told", incident.notified.length, { id: "fact-told" }]]),
    me.acts_as.includes("operator") ? actionForm(incident, refresh) : null,
    h("h2", {}, "By market"),
    table("Affected markets", ["Market", { label: "Projects", num: true }, { label: "Orders", num: true },
      "Nearest SLA", "Left"], markets, { id: "incident-markets", empty: "No market on record." }),
    h("h2", {}, "Affected orders (nearest SLA first)"),
    table("Affected orders", ["Order", "Project", "Market", "Status", "SLA clock", "Due", "Left"], orders,
      { id: "incident-orders", empty: "No order affected." }),
    h("h2", {}, "Changes"),
    table("Changes", ["At", "By", "Action", "From", "To", "Note"], changes, { id: "incident-audit" }));
}
