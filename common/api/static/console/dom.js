// Small DOM helpers: elements from data (text is always text, never HTML),
// tables, times, status badges and the page's message area.

export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function when(iso) {
  if (!iso) return "–";
  return String(iso).replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, "");
}

export function fmt(value) {
  if (value === null || value === undefined || value === "") return "–";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number") return Number.isInteger(value) ? value.toLocaleString("en-US") : value.toFixed(1);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function badge(status) {
  return h("span", { class: `badge status-${status}` }, status);
}

export function orderLink(orderId) {
  return h("a", { href: `#/orders/${encodeURIComponent(orderId)}`, class: "mono" }, orderId);
}

// A table inside a labelled, keyboard-scrollable region (wide tables scroll
// on a tablet instead of breaking the layout).
export function table(label, headers, rows, { empty = "Nothing to show.", id } = {}) {
  const head = h("tr", {}, headers.map((col) => h("th", { scope: "col", class: col.num ? "num" : null },
    col.label ?? col)));
  const body = rows.length ? rows : [h("tr", {}, h("td", { colspan: headers.length, class: "empty" }, empty))];
  return h("div", { class: "table-wrap", role: "region", "aria-label": label, tabindex: "0" },
    h("table", { id }, h("caption", { class: "visually-hidden" }, label), h("thead", {}, head), h("tbody", {}, body)));
}

export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([term, value, attrs]) =>
    h("div", attrs || {}, h("dt", {}, term), h("dd", {}, value instanceof Node ? value : fmt(value)))));
}

// Goes to `hash`; the same address again reads the page again (a filter
// applied twice, Apply after someone else's change).
export function go(hash, refresh) {
  if (window.location.hash === hash) refresh();
  else window.location.hash = hash;
}

// The page's message area: polite for results, assertive for refusals.
export function say(text, kind = "info") {
  const region = document.getElementById(kind === "error" ? "alert" : "status");
  region.textContent = "";
  // A fresh text node so screen readers announce the same message twice.
  window.setTimeout(() => { region.textContent = text; }, 10);
  region.hidden = !text;
}

export function problemBox(error, explain) {
  const reasons = error.reasons || [];
  return h("div", { class: "problem", role: "alert" },
    h("p", {}, h("strong", {}, `Refused (${error.status}): `), error.message),
    reasons.length ? h("ul", {}, reasons.map((r) => h("li", {}, r))) : null,
    explain ? h("p", { class: "explain" }, explain) : null);
}
