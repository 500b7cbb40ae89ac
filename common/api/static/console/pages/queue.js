// The work queue: filters in the address (so a view can be bookmarked),
// counts per state, one page of orders at a time with the API's tokens.

import { get, queryOf } from "../api.js";
import { badge, fmt, go, h, orderLink, table, when } from "../dom.js";

const STATES = ["Draft", "Approved", "Allocated", "Released", "Closed", "PartiallyReturned", "FullyReturned",
  "Cancelled"];
const KINDS = ["standard", "delta", "supplemental"];
const FILTERS = ["status", "project_id", "market", "kind", "sla_breached", "min_age_hours", "sort"];

function hashOf(filters) {
  const query = queryOf(filters);
  return `#/queue${query ? `?${query}` : ""}`;
}

function select(name, label, options, value) {
  return [h("label", { for: `f-${name}` }, label),
    h("select", { id: `f-${name}`, name },
      options.map(([v, text]) => h("option", { value: v, selected: v === (value || "") }, text)))];
}

function input(name, label, value, attrs = {}) {
  return [h("label", { for: `f-${name}` }, label), h("input", { id: `f-${name}`, name, value: value || "", ...attrs })];
}

function filterForm(filters, refresh) {
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter the work queue" },
    h("div", { class: "field" }, select("status", "State", [["", "Any state"], ...STATES.map((s) => [s, s])],
      filters.status)),
    h("div", { class: "field" }, input("project_id", "Project", filters.project_id, { placeholder: "PRJ-…" })),
    h("div", { class: "field" }, input("market", "Market", filters.market)),
    h("div", { class: "field" }, select("kind", "Kind", [["", "Any kind"], ...KINDS.map((k) => [k, k])],
      filters.kind)),
    h("div", { class: "field" }, input("min_age_hours", "In state longer than (hours)", filters.min_age_hours,
      { type: "number", min: "0", step: "any", inputmode: "decimal" })),
    h("div", { class: "field check" },
      h("input", { id: "f-sla_breached", name: "sla_breached", type: "checkbox", checked: filters.sla_breached === "true" }),
      h("label", { for: "f-sla_breached" }, "SLA breached")),
    h("div", { class: "field" }, select("sort", "Sort", [["order_id", "Order id"], ["waiting", "Waiting longest"]],
      filters.sort || "order_id")),
    h("div", { class: "field actions" }, h("button", { type: "submit", class: "primary" }, "Apply"),
      h("a", { href: "#/queue", class: "button" }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = {};
    for (const name of FILTERS) next[name] = name === "sla_breached" ? (data.get(name) ? "true" : "") : data.get(name);
    if (next.sort === "order_id") next.sort = "";
    go(hashOf(next), refresh);
  });
  return form;
}

function countsBar(counts, filters) {
  return h("nav", { class: "counts", "aria-label": "Orders per state" },
    h("a", { href: hashOf({ ...filters, status: "", after: "" }), "aria-current": filters.status ? null : "true",
      dataset: { state: "all" } }, `All ${fmt(counts.total)}`),
    STATES.map((state) => h("a", { href: hashOf({ ...filters, status: state, after: "" }),
      "aria-current": filters.status === state ? "true" : null, dataset: { state, count: counts.counts[state] } },
    `${state} `, h("span", { class: "count" }, fmt(counts.counts[state])))));
}

function row(order) {
  return h("tr", { dataset: { order: order.order_id, status: order.status } },
    h("td", {}, orderLink(order.order_id)),
    h("td", {}, badge(order.status)),
    h("td", {}, order.kind),
    h("td", {}, order.project_id),
    h("td", {}, order.market || "–"),
    h("td", { class: "num" }, fmt(order.national_priority)),
    h("td", { class: "num" }, fmt(order.lines.length)),
    h("td", { class: order.breaching ? "num breach" : "num" }, fmt(order.age_hours),
      order.breaching ? h("span", { class: "visually-hidden" }, " (SLA breached)") : null),
    h("td", { class: "num" }, fmt(order.sla_hours)),
    h("td", {}, when(order.updated_at)));
}

export async function queuePage(me, filters, refresh) {
  const { after, ...rest } = filters;
  const apiFilters = { ...rest };
  const [page, counts] = await Promise.all([
    get("/api/queue", queryOf({ ...apiFilters, limit: 25, continuation: after })),
    get("/api/queue/counts", queryOf({ ...apiFilters, status: "", sort: "" })),
  ]);
  const headers = ["Order", "State", "Kind", "Project", "Market", { label: "Priority", num: true },
    { label: "Lines", num: true }, { label: "In state (h)", num: true }, { label: "SLA (h)", num: true }, "Updated"];
  return h("section", { class: "page" },
    h("h1", {}, "Work queue"),
    filterForm(rest, refresh),
    countsBar(counts, rest),
    table("Orders", headers, page.items.map(row), { id: "queue", empty: "No order matches these filters." }),
    h("nav", { class: "pager", "aria-label": "Pages" },
      after ? h("a", { href: hashOf(rest), class: "button" }, "First page") : null,
      page.continuation ? h("a", { href: hashOf({ ...rest, after: page.continuation }), class: "button",
        id: "next-page" }, "Next page") : null));
}
