// Quarantine: every record with its reasons and payload, filtered by source
// and status, paged; operators reprocess one record or a selection.

import { get, post, queryOf } from "../api.js";
import { fmt, go, h, problemBox, say, table, when } from "../dom.js";

const SOURCES = ["engineering", "warehouse", "project-master", "item-catalog", "stock-snapshots"];
const STATUSES = ["open", "reprocessed", "discarded"];

function hashOf(filters) {
  const query = queryOf(filters);
  return `#/quarantine${query ? `?${query}` : ""}`;
}

function filterForm(filters, seen, refresh) {
  const sources = [...new Set([...SOURCES, ...seen])];
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter the quarantine" },
    h("div", { class: "field" }, h("label", { for: "q-source" }, "Source"),
      h("input", { id: "q-source", name: "source", list: "q-sources", value: filters.source || "", autocomplete: "off" }),
      h("datalist", { id: "q-sources" }, sources.map((s) => h("option", { value: s })))),
    h("div", { class: "field" }, h("label", { for: "q-status" }, "Status"),
      h("select", { id: "q-status", name: "status" },
        [["", "Any status"], ...STATUSES.map((s) => [s, s])].map(([v, t]) =>
          h("option", { value: v, selected: v === (filters.status ?? "open") }, t)))),
    h("div", { class: "field actions" }, h("button", { type: "submit", class: "primary" }, "Apply")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    go(hashOf({ source: data.get("source"), status: data.get("status") || "any" }), refresh);
  });
  return form;
}

function outcomeText(result) {
  const events = result.results.map((r) => `${r.event_id || "event"}: ${r.outcome}${r.order_id ? ` (${r.order_id})` : ""}`
    + (r.reasons.length ? ` – ${r.reasons.join("; ")}` : ""));
  const job = result.job ? [`job ${result.job.job_id}: ${result.job.status}`] : [];
  return `${result.record.id} is now ${result.record.status}. ${[...events, ...job].join(". ")}`;
}

export async function quarantinePage(me, filters, refresh) {
  const status = filters.status === "any" ? "" : (filters.status ?? "open");
  const page = await get("/api/quarantine", queryOf({ source: filters.source, status, limit: 50,
    continuation: filters.after }));
  const operator = me.acts_as.includes("operator");

  // Each record in turn; then the page is read again and the results shown on it.
  async function reprocess(ids) {
    const lines = [];
    for (const id of ids) {
      try {
        const result = await post(`/api/quarantine/${encodeURIComponent(id)}/reprocess`);
        lines.push(h("li", { dataset: { record: id, status: result.record.status } }, outcomeText(result)));
      } catch (error) {
        lines.push(h("li", { dataset: { record: id, status: "refused" } }, problemBox(error)));
      }
    }
    await refresh();
    say(`Reprocessed ${ids.length} record(s)`);
    document.getElementById("reprocess-results")?.replaceChildren(h("h2", {}, "Reprocessing results"), h("ul", {}, lines));
  }

  const rows = page.items.map((r) => h("tr", { dataset: { record: r.id, source: r.source, status: r.status } },
    operator ? h("td", {}, h("input", { type: "checkbox", class: "pick", id: `pick-${r.id}`, value: r.id,
      "aria-label": `Select ${r.id}`, disabled: r.status !== "open" })) : null,
    h("td", {}, when(r.received_at)),
    h("td", {}, r.source),
    h("td", { class: "mono" }, r.event_id || r.id),
    h("td", {}, r.status),
    h("td", { class: "num" }, fmt(r.attempts)),
    h("td", {}, h("ul", { class: "reasons" }, r.reasons.map((reason) =>
      h("li", {}, reason.loc.length ? h("code", {}, reason.loc.join(".")) : null, reason.loc.length ? ": " : null,
        reason.msg, reason.type ? h("span", { class: "muted" }, ` (${reason.type})`) : null)))),
    h("td", {}, h("details", {}, h("summary", {}, "Payload"),
      h("pre", { class: "payload", tabindex: "0" }, JSON.stringify(r.payload, null, 2)))),
    operator ? h("td", {}, r.status === "open" ? h("button", { type: "button", class: "reprocess",
      "aria-label": `Reprocess ${r.event_id || r.id}`, onclick: () => reprocess([r.id]) }, "Reprocess") : null) : null));
  const headers = [operator ? "Pick" : null, "Received", "Source", "Event", "Status", { label: "Attempts", num: true },
    "Reasons", "Payload", operator ? "Action" : null].filter(Boolean);

  return h("section", { class: "page" },
    h("h1", {}, "Quarantine"),
    h("p", { class: "note" }, "Inputs that could not be applied, with every reason. Fix the cause (master data, ",
      "catalogue, stock) and reprocess them; what still fails stays here."),
    filterForm(filters, page.items.map((r) => r.source), refresh),
    operator ? h("div", { class: "buttons" }, h("button", { type: "button", id: "reprocess-selected", onclick: () => {
      const ids = [...document.querySelectorAll("input.pick:checked")].map((box) => box.value);
      if (ids.length) reprocess(ids);
      else say("Select the records to reprocess first.", "error");
    } }, "Reprocess selected")) : h("p", { class: "note", id: "role-note" },
      `Reprocessing needs the operator role; you have ${me.roles.join(", ")}.`),
    h("div", { id: "reprocess-results", "aria-live": "polite" }),
    table("Quarantined inputs", headers, rows, { id: "quarantine", empty: "Nothing quarantined matches." }),
    h("nav", { class: "pager", "aria-label": "Pages" },
      filters.after ? h("a", { href: hashOf({ ...filters, after: "" }), class: "button" }, "First page") : null,
      page.continuation ? h("a", { href: hashOf({ ...filters, after: page.continuation }), class: "button",
        id: "next-page" }, "Next page") : null));
}
