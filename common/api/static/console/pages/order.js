// One order: its facts, lines, review of a return, the actions the signed-in
// roles allow, the audit timeline, its events, reservation and the last
// allocation's explanation. Edits carry the ETag as read (If-Match); when
// someone changed the order meanwhile (412) the page shows what changed and
// offers to apply the same change again on the current order.

import { get, orderPath, patch, post } from "../api.js";
import { badge, facts, fmt, h, orderLink, problemBox, say, table, when } from "../dom.js";

const RETURNED = ["PartiallyReturned", "FullyReturned"];
const EDITABLE = ["Draft", "Approved", ...RETURNED];
const FOUR_EYES = "Four eyes: the person who made the last change to an order may not approve it. "
  + "Another approver has to.";

const may = (me, role) => me.acts_as.includes(role);

async function read(orderId) {
  const [context, audit] = await Promise.all([get(`${orderPath(orderId)}/context`), get(`${orderPath(orderId)}/audit`)]);
  return { context, order: context.order, audit: audit.items };
}

// ------------------------------------------------------------------ reading
function header(order, context) {
  const project = context.project || {};
  const clearance = context.clearance;
  return h("section", { class: "card", "aria-labelledby": "facts-title" },
    h("h2", { id: "facts-title" }, "Order"),
    facts([
      ["State", badge(order.status), { id: "fact-status" }],
      ["Kind", order.kind],
      ["Revision", order.revision, { id: "fact-revision" }],
      ["Design version", order.design_version],
      ["Project", order.project_id],
      ["Site", order.site_code],
      ["Order type", order.order_type],
      ["Market", order.market],
      ["Warehouse", order.warehouse_id],
      ["National priority", order.national_priority, { id: "fact-priority" }],
      ["Gated", order.gated],
      ["Plan type", order.plan_type],
      ["Need by", order.need_by],
      ["In state since", when(order.status_since)],
      ["Approved by", order.approved_by],
      ["Last changed by", order.last_changed_by, { id: "fact-last-changed-by" }],
      ["Rejection reason", order.rejection_reason, { id: "fact-rejection" }],
      ["Parent order", order.parent_order_id ? orderLink(order.parent_order_id) : null],
      ["SLA breaches flagged", order.sla_breached.join(", ")],
    ]),
    h("h3", {}, "Project master"),
    facts([
      ["Milestone", project.milestone],
      ["Project status", project.project_status],
      ["Qualifies for orders", context.qualifies ? "yes" : `no: ${context.why_not_qualifying}`],
      ["Clearance", clearance.cleared ? "cleared" : `not cleared: ${clearance.why_not}`, { id: "fact-clearance" }],
      ["Feasibility checks", clearance.checks.map((c) => `${c.name}: ${c.status}`).join(", ")],
      ["Feasibility updated", when(clearance.feasibility_at)],
    ]));
}

function linesTable(order) {
  const rows = order.lines.map((line) => h("tr", { dataset: { sku: line.sku } },
    h("td", { class: "num" }, line.line_no), h("td", { class: "mono" }, line.sku),
    h("td", { class: "num qty" }, fmt(line.qty)), h("td", {}, line.uom),
    h("td", {}, h("span", { class: `source source-${line.source}` }, line.source))));
  return h("section", { class: "card", "aria-labelledby": "lines-title" },
    h("h2", { id: "lines-title" }, "Lines"),
    table("Order lines", [{ label: "#", num: true }, "SKU", { label: "Qty", num: true }, "UoM", "Source"], rows,
      { id: "lines", empty: "No lines." }));
}

function returnReview(order, context) {
  if (!RETURNED.includes(order.status) && !Object.keys(order.returned).length) return null;
  const rows = order.lines.map((line) => {
    const back = order.returned[line.sku] || 0;
    return h("tr", { dataset: { sku: line.sku } }, h("td", { class: "mono" }, line.sku),
      h("td", { class: "num" }, fmt(line.qty)), h("td", { class: "num returned" }, fmt(back)),
      h("td", { class: "num stayed" }, fmt(Math.max(0, line.qty - back))));
  });
  const followers = context.followers.map((f) => h("li", { dataset: { order: f.order_id } }, orderLink(f.order_id),
    " ", badge(f.status), ` ${f.kind}, ${f.lines.length} line(s)`));
  return h("section", { class: "card", "aria-labelledby": "return-title", id: "return-review" },
    h("h2", { id: "return-title" }, "Return"),
    table("What came back and what stayed on site", ["SKU", { label: "Delivered", num: true },
      { label: "Returned", num: true }, { label: "Stayed on site", num: true }], rows),
    h("h3", {}, "Follow-up orders"),
    followers.length ? h("ul", { id: "followers" }, followers) : h("p", {}, "No follow-up order."));
}

function change(c) {
  const show = (v) => (v === null || v === undefined ? "∅" : typeof v === "object" ? JSON.stringify(v) : String(v));
  return h("li", {}, h("code", {}, c.path), ": ", h("span", { class: "old" }, show(c.old)), " → ",
    h("span", { class: "new" }, show(c.new)));
}

function timeline(entries) {
  const items = entries.slice().reverse().map((e) => h("li", { class: "entry", dataset: { action: e.action } },
    h("div", { class: "when" }, when(e.at)),
    h("div", {}, h("strong", {}, e.action), " by ", `${e.actor.id} (${e.actor.type})`,
      e.from_status || e.to_status ? [" · ", e.from_status || "∅", " → ", e.to_status || "∅"] : null,
      e.reason ? h("div", { class: "reason" }, `Reason: ${e.reason}`) : null,
      e.changes.length ? h("ul", { class: "changes" }, e.changes.map(change)) : null)));
  return h("section", { class: "card", "aria-labelledby": "audit-title" },
    h("h2", { id: "audit-title" }, "Audit timeline (newest first)"),
    h("ol", { class: "timeline", id: "audit" }, items));
}

function eventsTable(events) {
  const rows = events.map((e) => h("tr", { dataset: { type: e.type, event: e.id } }, h("td", {}, e.type),
    h("td", {}, when(e.time)), h("td", {}, e.delivered_at ? when(e.delivered_at) : "pending")));
  return h("section", { class: "card", "aria-labelledby": "events-title" },
    h("h2", { id: "events-title" }, "Events sent"),
    table("Outbox events", ["Type", "Time", "Delivered"], rows, { id: "events", empty: "None yet." }));
}

function stock(context) {
  const reservation = context.reservation;
  const last = context.last_allocation;
  const explanation = last && last.explanation;
  const shortfall = explanation ? explanation.shortfall.map((s) => h("tr", { dataset: { sku: s.sku } },
    h("td", { class: "mono" }, s.sku), h("td", { class: "num" }, fmt(s.needed)),
    h("td", { class: "num" }, fmt(s.available)))) : [];
  return h("section", { class: "card", "aria-labelledby": "stock-title" },
    h("h2", { id: "stock-title" }, "Stock"),
    h("h3", {}, "Reservation"),
    reservation
      ? h("div", { id: "reservation" }, facts([["Warehouse", reservation.warehouse_id],
        ["Run", reservation.run_id], ["At", when(reservation.at)],
        ["Lines", Object.entries(reservation.lines).map(([sku, n]) => `${sku} × ${n}`).join(", ")]]))
      : h("p", { id: "reservation" }, "No stock reserved."),
    h("h3", {}, "Last allocation"),
    last
      ? h("div", { id: "last-allocation" },
        facts([["Run", h("a", { href: `#/allocation/runs/${encodeURIComponent(last.run_id)}` }, last.run_id)],
          ["At", when(last.at)], ["Outcome", explanation ? explanation.outcome : last.action, { id: "fact-outcome" }],
          ["Rank", explanation && explanation.rank], ["Reason", (explanation && explanation.reason) || last.reason],
          ["Stock taken by", explanation && explanation.blocked_by.length
            ? h("span", {}, explanation.blocked_by.map((id) => [orderLink(id), " "])) : null]]),
        shortfall.length ? table("Shortfall per SKU", ["SKU", { label: "Needed", num: true },
          { label: "Available at its turn", num: true }], shortfall, { id: "shortfall" }) : null)
      : h("p", { id: "last-allocation" }, "No allocation run has looked at this order yet."));
}

// ------------------------------------------------------------------ acting
const plainLines = (order) => order.lines.map((l) => ({ sku: l.sku, qty: l.qty, uom: l.uom }));

// What an edit meant, as quantities per SKU (0: removed), so it can be
// applied again on a newer version of the order.
function intentOf(base, edited) {
  const before = Object.fromEntries(base.lines.map((l) => [l.sku, l.qty]));
  const after = Object.fromEntries(edited.map((l) => [l.sku, l.qty]));
  const intent = {};
  for (const sku of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if ((before[sku] || 0) !== (after[sku] || 0)) intent[sku] = after[sku] || 0;
  }
  return intent;
}

function applyIntent(current, intent, uoms) {
  const lines = plainLines(current).filter((l) => intent[l.sku] !== 0)
    .map((l) => (l.sku in intent ? { ...l, qty: intent[l.sku] } : l));
  for (const [sku, qty] of Object.entries(intent)) {
    if (qty > 0 && !lines.some((l) => l.sku === sku)) lines.push({ sku, qty, uom: uoms[sku] || "EA" });
  }
  return lines;
}

function conflictBox(base, current, audit, retry, discard) {
  const since = audit.filter((e) => e.at > base.updated_at);
  const who = [...new Set(since.map((e) => e.actor.id))].join(", ") || "someone";
  const changed = since.flatMap((e) => e.changes.map((c) => change(c)));
  return h("div", { class: "conflict", role: "alert", id: "conflict" },
    h("h3", {}, "This order changed while you were editing it"),
    h("p", {}, `${who} changed it (revision ${base.revision} → ${current.revision}, `,
      `state ${base.status} → ${current.status}). Nothing of yours was saved. What changed meanwhile:`),
    h("ul", { class: "changes", id: "changed-meanwhile" }, changed.length ? changed : h("li", {}, "(no field-level detail)")),
    h("div", { class: "buttons" },
      h("button", { type: "button", class: "primary", id: "reapply", onclick: retry }, "Apply my change to the current order"),
      h("button", { type: "button", id: "discard", onclick: discard }, "Discard my change")));
}

function actionForm(id, title, fields, submitText, onSubmit, note) {
  const form = h("form", { class: "action", id, "aria-labelledby": `${id}-title` },
    h("h3", { id: `${id}-title` }, title), note ? h("p", { class: "note" }, note) : null, fields,
    h("div", { class: "result", "aria-live": "polite" }),
    h("button", { type: "submit", class: "primary" }, submitText));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    form.querySelector(".result").replaceChildren();
    try {
      await onSubmit(new FormData(form), form);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function field(id, label, attrs = {}, tag = "input") {
  return h("div", { class: "field" }, h("label", { for: id }, label), h(tag, { id, name: id, ...attrs }));
}

function actions(me, state, reload) {
  const { order } = state;
  const path = orderPath(order.order_id);
  const out = [];
  // A refusal in the form that was sent; a stale ETag (412) on approve,
  // reject or cancel offers the current order to look at before deciding again.
  const refused = (form, error, explain) => form.querySelector(".result").replaceChildren(
    problemBox(error, explain || (error.status === 412 ? "Someone changed this order since you opened it." : null)),
    error.status === 412 ? h("button", { type: "button", class: "show-current", onclick: () => reload() },
      "Show the current order") : null);

  async function done(message) {
    await reload();
    say(message);
  }

  // Sends `send(etag)`; on 412 shows what changed and offers to send again.
  async function withEtag(form, send, redo, message) {
    try {
      await send(order.etag);
      await done(message);
    } catch (error) {
      if (error.status !== 412) {
        refused(form, error);
        return;
      }
      const fresh = await read(order.order_id);
      const box = conflictBox(order, fresh.order, fresh.audit, async () => {
        try {
          await redo(fresh.order);
          await done(`${message} (applied to the current order)`);
        } catch (again) {
          refused(form, again);
        }
      }, () => reload().then(() => say("Your change was discarded; this is the current order.")));
      form.querySelector(".result").replaceChildren(box);
      box.querySelector("#reapply").focus();
    }
  }

  if (may(me, "planner") && EDITABLE.includes(order.status)) {
    const rows = order.lines.map((line, i) => h("tr", { dataset: { sku: line.sku } },
      h("td", { class: "mono" }, line.sku),
      h("td", {}, h("label", { class: "visually-hidden", for: `qty-${i}` }, `Quantity of ${line.sku}`),
        h("input", { id: `qty-${i}`, name: `qty-${i}`, type: "number", min: "1", step: "1", value: line.qty,
          class: "qty", required: true, inputmode: "numeric" })),
      h("td", {}, line.uom),
      h("td", {}, h("input", { id: `remove-${i}`, name: `remove-${i}`, type: "checkbox" }),
        h("label", { for: `remove-${i}` }, " remove"))));
    out.push(actionForm("edit-lines", "Edit lines", table("Lines to edit", ["SKU", "Qty", "UoM", "Remove"], rows),
      "Save lines", async (data, form) => {
        const edited = order.lines.map((l, i) => ({ sku: l.sku, qty: Number(data.get(`qty-${i}`)), uom: l.uom }))
          .filter((_, i) => !data.get(`remove-${i}`));
        const intent = intentOf(order, edited);
        const uoms = Object.fromEntries(order.lines.map((l) => [l.sku, l.uom]));
        await withEtag(form, (etag) => patch(path, { lines: applyIntent(order, intent, uoms) }, etag),
          (current) => patch(path, { lines: applyIntent(current, intent, uoms) }, current.etag), "Lines saved");
      }, RETURNED.includes(order.status) ? "Editing a returned order sends it back to Draft for review." : null));

    out.push(actionForm("add-items", "Add an item", [
      field("add-sku", "SKU", { required: true, autocomplete: "off", spellcheck: "false" }),
      field("add-qty", "Quantity", { type: "number", min: "1", step: "1", required: true, inputmode: "numeric" }),
      field("add-uom", "Unit", { value: "EA", required: true }),
    ], "Add item", async (data, form) => {
      const items = [{ sku: String(data.get("add-sku")).trim(), qty: Number(data.get("add-qty")),
        uom: String(data.get("add-uom")).trim() || "EA", source: "manual" }];
      await withEtag(form, (etag) => post(`${path}/items`, { items }, etag),
        (current) => post(`${path}/items`, { items }, current.etag), "Item added");
    }));
  }
  if (may(me, "approver") && order.status === "Draft") {
    out.push(actionForm("approve", "Approve", [field("approve-comment", "Comment (optional)", { maxlength: "2000" })],
      "Approve", async (data, form) => {
        const comment = String(data.get("approve-comment") || "").trim();
        try {
          await post(`${path}/approve`, comment ? { comment } : {}, order.etag);
          await done("Order approved");
        } catch (error) {
          refused(form, error, error.hasType && error.hasType("four_eyes") ? FOUR_EYES : null);
        }
      }, order.last_changed_by === me.user ? `You made the last change to this order; four eyes: another approver must approve it.` : null));
  }
  if (may(me, "approver") && (order.status === "Approved" || RETURNED.includes(order.status))) {
    const returned = RETURNED.includes(order.status);
    out.push(actionForm("reject", returned ? "Review the return: back to Draft" : "Reject",
      [field("reject-reason", "Reason", { required: true, maxlength: "2000" }, "textarea")],
      returned ? "Send back to Draft" : "Reject", async (data, form) => {
        try {
          await post(`${path}/reject`, { reason: String(data.get("reject-reason")).trim() }, order.etag);
          await done(returned ? "Return reviewed: the order is back in Draft" : "Order rejected");
        } catch (error) {
          refused(form, error);
        }
      }, returned ? "The order goes back to Draft with only what its site still needs beyond what stayed there "
        + "and what a follow-up order holds." : null));
  }
  if (may(me, "planner") && order.status === "Draft") {
    out.push(actionForm("cancel", "Cancel the order",
      [field("cancel-reason", "Reason", { required: true, maxlength: "2000" }, "textarea")], "Cancel order",
      async (data, form) => {
        try {
          await post(`${path}/cancel`, { reason: String(data.get("cancel-reason")).trim() }, order.etag);
          await done("Order cancelled");
        } catch (error) {
          refused(form, error);
        }
      }));
  }
  const missing = [];
  if (!may(me, "planner")) missing.push("editing, adding items and cancelling need the planner role");
  if (!may(me, "approver")) missing.push("approving and rejecting need the approver role");
  return h("section", { class: "card", "aria-labelledby": "actions-title", id: "actions" },
    h("h2", { id: "actions-title" }, "Actions"),
    out.length ? h("div", { class: "action-grid" }, out)
      : h("p", { id: "no-actions" }, `Nothing you can do to a ${order.status} order with your roles (${me.roles.join(", ")}).`),
    missing.length ? h("p", { class: "note", id: "role-note" }, `You are signed in as ${me.user}: `,
      missing.join("; "), ".") : null);
}

export async function orderPage(me, orderId) {
  const page = h("section", { class: "page" });
  async function load() {
    const state = await read(orderId);
    const { order, context } = state;
    page.replaceChildren(
      h("p", { class: "crumbs" }, h("a", { href: "#/queue" }, "Work queue"), " › ", order.order_number),
      h("h1", {}, `Order ${order.order_id}`),
      h("div", { class: "columns" },
        h("div", { class: "main-col" }, header(order, context), returnReview(order, context), linesTable(order),
          actions(me, state, load)),
        h("div", { class: "side-col" }, stock(context), eventsTable(context.events))),
      timeline(state.audit));
    page.dataset.etag = order.etag || "";
    page.dataset.status = order.status;
    document.body.dataset.ready = "1";  // drawn again after an action, as after a navigation
  }
  await load();
  return page;
}
