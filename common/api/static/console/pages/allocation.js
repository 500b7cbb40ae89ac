// Allocation: the recent runs with their counts, one run's report with the
// explanation per order, and (operators) a dry run from the page, or a run.

import { get, post } from "../api.js";
import { badge, facts, fmt, h, orderLink, problemBox, say, table, when } from "../dom.js";

const COUNTS = ["considered", "allocated", "short", "rejected", "skipped", "released"];

function runLink(runId) {
  return h("a", { href: `#/allocation/runs/${encodeURIComponent(runId)}`, class: "mono" }, runId);
}

function ordersTable(report) {
  const rows = report.orders.map((o) => h("tr", { dataset: { order: o.order_id, outcome: o.outcome } },
    h("td", { class: "num" }, fmt(o.rank)),
    h("td", {}, orderLink(o.order_id)),
    h("td", {}, h("span", { class: `outcome outcome-${o.outcome}` }, o.outcome)),
    h("td", {}, o.reason || "–"),
    h("td", {}, o.shortfall.length ? h("ul", { class: "shortfall" }, o.shortfall.map((s) =>
      h("li", {}, h("span", { class: "mono" }, s.sku), `: needs ${s.needed}, ${s.available} left at its turn`))) : "–"),
    h("td", {}, o.blocked_by.length ? h("span", {}, o.blocked_by.map((id) => [orderLink(id), " "])) : "–")));
  return table("What the run did with each order", [{ label: "Rank", num: true }, "Order", "Outcome", "Reason",
    "Shortfall per SKU", "Stock taken by"], rows, { id: "run-orders", empty: "No order was considered." });
}

function reportView(report) {
  return h("div", { class: "report", dataset: { run: report.run_id } },
    facts([["Run", report.run_id], ["Mode", report.mode], ["Dry run", report.dry_run],
      ["Status", report.status], ["Started", when(report.started_at)], ["Ended", when(report.ended_at)],
      ...COUNTS.map((name) => [name[0].toUpperCase() + name.slice(1), report.counts[name] ?? 0,
        { dataset: { count: name } }])]),
    ordersTable(report));
}

export async function runPage(me, runId) {
  const report = await get(`/api/allocation/runs/${encodeURIComponent(runId)}`);
  return h("section", { class: "page" },
    h("p", { class: "crumbs" }, h("a", { href: "#/allocation" }, "Allocation"), " › ", runId),
    h("h1", {}, `Allocation run ${runId}`),
    reportView(report));
}

function runForm(refresh) {
  const result = h("div", { id: "run-result", "aria-live": "polite" });
  const form = h("form", { class: "action", id: "run-form", "aria-labelledby": "run-title" },
    h("h2", { id: "run-title" }, "Run allocation"),
    h("p", { class: "note" }, "A dry run shows what a run would do, order by order, and changes nothing."),
    h("div", { class: "field" }, h("label", { for: "run-mode" }, "Mode"),
      h("select", { id: "run-mode", name: "mode" }, h("option", { value: "greedy" }, "greedy (strict priority)"),
        h("option", { value: "optimal" }, "optimal (exact, per priority class)"))),
    h("div", { class: "buttons" },
      h("button", { type: "submit", class: "primary", id: "dry-run", value: "dry" }, "Dry run"),
      h("button", { type: "submit", id: "run-now", value: "run" }, "Run now (allocates and releases)")),
    result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const dry = (event.submitter || {}).value !== "run";
    const mode = new FormData(form).get("mode");
    for (const b of form.querySelectorAll("button")) b.disabled = true;
    try {
      const report = await post("/api/allocation/runs", { dry_run: dry, mode });
      if (!dry) {
        await refresh();
        say(`Allocation run ${report.run_id}: ${report.counts.allocated ?? 0} allocated, ${report.counts.short ?? 0} short`);
        return;
      }
      result.replaceChildren(h("h3", {}, "Dry run: what a run would do now"), reportView(report));
      say(`Dry run: ${report.counts.allocated ?? 0} would be allocated, ${report.counts.short ?? 0} short`);
    } catch (error) {
      result.replaceChildren(problemBox(error));
    } finally {
      for (const b of form.querySelectorAll("button")) b.disabled = false;
    }
  });
  return form;
}

export async function allocationPage(me, refresh) {
  const runs = await get("/api/allocation/runs", "limit=30");
  const rows = runs.items.map((r) => h("tr", { dataset: { run: r.run_id } },
    h("td", {}, runLink(r.run_id)), h("td", {}, when(r.started_at)), h("td", {}, r.mode),
    h("td", {}, r.dry_run ? "dry run" : "run"), h("td", {}, badge(r.status)),
    COUNTS.map((name) => h("td", { class: "num" }, fmt(r.counts[name] ?? 0)))));
  return h("section", { class: "page" },
    h("h1", {}, "Allocation"),
    me.acts_as.includes("operator") ? runForm(refresh)
      : h("p", { class: "note", id: "role-note" }, `Running allocation needs the operator role; you have `
        + `${me.roles.join(", ")}. Runs also happen on their schedule.`),
    h("h2", {}, "Recent runs"),
    table("Recent allocation runs", ["Run", "Started", "Mode", "Kind", "Status",
      ...COUNTS.map((c) => ({ label: c, num: true }))], rows, { id: "runs", empty: "No allocation run yet." }));
}
