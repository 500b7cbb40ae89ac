// The OMS order-flow dashboard: fetches /api/metrics/flow as a viewer and
// draws it with plain DOM and inline SVG (no libraries, works offline). The
// sign-in is the review console's: the key stays in this tab's
// sessionStorage and goes out as X-API-Key, never in the address.
import { authHeaders, forgetKey, signInForm, whoAmI } from "/api/console/assets/session.js";

(function () {
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function fmt(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") return Number.isInteger(value) ? value.toLocaleString("en-US") : value.toFixed(1);
    return String(value);
  }

  function when(iso) {
    return iso ? iso.replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, "") : "–";
  }

  function setText(id, value) {
    document.getElementById(id).textContent = fmt(value);
  }

  function fillRows(tableId, rows, empty) {
    const body = document.querySelector("#" + tableId + " tbody");
    body.replaceChildren();
    if (!rows.length) {
      const cols = document.querySelectorAll("#" + tableId + " thead th").length;
      const tr = el("tr");
      tr.appendChild(el("td", { colspan: cols, class: "empty" }, empty));
      body.appendChild(tr);
      return;
    }
    for (const row of rows) body.appendChild(row);
  }

  function cell(value, cls) {
    return el("td", cls ? { class: cls } : {}, fmt(value));
  }

  function drawStates(states, bottleneck) {
    const chart = document.getElementById("state-chart");
    chart.replaceChildren();
    const width = 360, rowH = 26, left = 118, right = 40;
    chart.setAttribute("viewBox", "0 0 " + width + " " + (states.length * rowH + 8));
    const max = Math.max(1, ...states.map((s) => s.count));
    states.forEach((s, i) => {
      const y = 4 + i * rowH;
      const w = ((width - left - right) * s.count) / max;
      chart.appendChild(svg("text", { x: left - 6, y: y + 16, "text-anchor": "end" }, s.status));
      chart.appendChild(svg("rect", { x: left, y: y + 4, width: Math.max(w, s.count ? 2 : 0), height: rowH - 10,
        class: "bar" + (s.breaching ? " over" : "") }));
      chart.appendChild(svg("text", { x: left + w + 4, y: y + 16 }, fmt(s.count)));
    });
    const rows = states.map((s) => {
      const tr = el("tr", { "data-state": s.status });
      if (bottleneck && bottleneck.status === s.status) tr.classList.add("bottleneck");
      tr.append(el("td", {}, s.status), cell(s.count, "num count"), cell(s.age_hours.median, "num"),
        cell(s.age_hours.p90, "num"), cell(s.age_hours.max, "num"), cell(s.sla_hours, "num"),
        cell(s.breaching, "num breaching" + (s.breaching ? " breach" : "")), cell(s.flagged, "num flagged"));
      return tr;
    });
    fillRows("states", rows, "no orders");
  }

  function drawThroughput(days) {
    const chart = document.getElementById("throughput-chart");
    chart.replaceChildren();
    const width = 900, height = 220, left = 36, bottom = 24, top = 8;
    chart.setAttribute("viewBox", "0 0 " + width + " " + height);
    chart.setAttribute("preserveAspectRatio", "none");
    const max = Math.max(1, ...days.map((d) => Math.max(d.created, d.closed)));
    const slot = (width - left) / Math.max(1, days.length);
    const scale = (height - top - bottom) / max;
    chart.appendChild(svg("text", { x: 2, y: top + 10 }, fmt(max)));
    chart.appendChild(svg("text", { x: 2, y: height - bottom }, "0"));
    days.forEach((d, i) => {
      const x = left + i * slot;
      const bw = Math.max(1, slot / 2 - 2);
      const g = svg("g", { "data-day": d.day, "data-created": d.created, "data-closed": d.closed });
      g.appendChild(svg("rect", { x: x + 1, y: height - bottom - d.created * scale, width: bw,
        height: d.created * scale, class: "created" }));
      g.appendChild(svg("rect", { x: x + 1 + bw, y: height - bottom - d.closed * scale, width: bw,
        height: d.closed * scale, class: "closed" }));
      g.appendChild(svg("title", {}, d.day + ": " + d.created + " created, " + d.closed + " closed"));
      chart.appendChild(g);
      if (days.length <= 16 || i % Math.ceil(days.length / 16) === 0) {
        chart.appendChild(svg("text", { x: x + 1, y: height - 6 }, d.day.slice(5)));
      }
    });
  }

  function render(data) {
    setText("generated-at", when(data.generated_at));
    setText("total-orders", data.total_orders);
    setText("open-breaches", data.breaches.open);
    setText("flagged-breaches", data.breaches.flagged);
    setText("quarantine-open", data.quarantine.open);
    setText("engineering-holds", data.engineering_holds.count);
    fillRows("holds", data.engineering_holds.orders.map((h) => {
      const tr = el("tr", { "data-order": h.order_id });
      tr.append(el("td", {}, h.order_id), el("td", {}, h.project_id), el("td", {}, when(h.at)),
        el("td", {}, h.failed_checks.join(", ") || "–"));
      return tr;
    }), "no released order is on hold");
    const b = data.bottleneck;
    setText("bottleneck", b ? b.status : "none");
    document.getElementById("bottleneck-detail").textContent = b
      ? b.count + " orders · median " + fmt(b.median_age_hours) + " h · p90 " + fmt(b.p90_age_hours) + " h · SLA " +
        fmt(b.sla_hours) + " h"
      : "";
    drawStates(data.states, b);
    drawThroughput(data.throughput);
    fillRows("breaches", data.breaches.oldest.map((x) => {
      const tr = el("tr", { "data-order": x.order_id });
      tr.append(el("td", {}, x.order_id), el("td", {}, x.status), el("td", {}, x.kind === "need_by" ? "need-by" : "state age"),
        cell(x.age_hours, "num"), cell(x.sla_hours, "num"), cell(x.overdue_hours, "num breach"),
        el("td", {}, x.flagged ? "yes" : "not yet"));
      return tr;
    }), "no order is over its SLA");
    fillRows("jobs", data.jobs.map((j) => {
      const tr = el("tr", { "data-job": j.job_id });
      const counts = Object.entries(j.counts).map(([k, v]) => k + " " + v).join(", ");
      const status = el("td", { class: "status-" + j.status }, j.status);
      if (j.error) status.title = j.error.step + ": " + j.error.type + ": " + j.error.message;
      tr.append(el("td", {}, j.job), status, el("td", {}, when(j.started_at)), el("td", {}, counts || "–"));
      return tr;
    }), "no job runs yet");
    fillRows("quarantine", data.quarantine.recent.map((q) => {
      const tr = el("tr", { "data-quarantine": q.id });
      tr.append(el("td", {}, q.source), el("td", {}, when(q.received_at)), el("td", {}, q.event_id || "–"),
        el("td", {}, q.reason));
      return tr;
    }), "nothing in quarantine");
  }

  function orderList(ids) {
    if (ids === null || ids === undefined) return "–";
    return ids.length ? ids.slice(0, 5).join(", ") + (ids.length > 5 ? " +" + (ids.length - 5) : "") : "none";
  }

  // The replenishment panel reads its own route: whatever it answers, the
  // rest of the dashboard still shows.
  async function loadReplenishment() {
    try {
      const response = await fetch("/api/inventory/replenishment",
        { headers: { ...authHeaders(), Accept: "application/json" } });
      if (!response.ok) {
        fillRows("replenishment", [], "could not load the requests (" + response.status + ")");
        return;
      }
      const data = await response.json();
      fillRows("replenishment", data.items.map((r) => {
        const tr = el("tr", { "data-request": r.request_id });
        tr.append(el("td", {}, r.request_id), el("td", {}, r.sku), el("td", {}, r.warehouse_id),
          cell(r.quantity, "num"), cell(r.position.projected, "num"),
          el("td", r.overdue ? { class: "breach" } : {}, when(r.due_at) + (r.overdue ? " (overdue)" : "")),
          el("td", {}, orderList(r.short_orders)), el("td", {}, orderList(r.would_unblock)));
        return tr;
      }), "no replenishment request is open");
    } catch (error) {
      fillRows("replenishment", [], "could not load the requests: " + error.message);
    }
  }

  function showError(message) {
    const box = document.getElementById("error");
    box.textContent = message;
    box.hidden = false;
  }

  async function signIn() {
    const main = document.querySelector("main");
    const box = document.getElementById("signin");
    forgetKey();
    main.hidden = true;
    box.hidden = false;
    document.body.dataset.ready = "signin";
    await signInForm(box, "The dashboard needs an API key with the viewer role.");
    box.replaceChildren();
    box.hidden = true;
    main.hidden = false;
  }

  async function load() {
    document.getElementById("error").hidden = true;
    try {
      if (!(await whoAmI())) {
        await signIn();
      }
      const response = await fetch("/api/metrics/flow", { headers: { ...authHeaders(), Accept: "application/json" } });
      if (response.status === 401) {
        await signIn();
        await load();
        return;
      }
      if (!response.ok) {
        let detail = response.statusText;
        try { detail = (await response.json()).detail || detail; } catch (ignored) { /* not problem+json */ }
        showError("Could not load the metrics (" + response.status + "): " + detail);
        document.body.dataset.ready = "error";
        return;
      }
      render(await response.json());
      await loadReplenishment();
      document.body.dataset.ready = "1";
    } catch (error) {
      showError("Could not load the metrics: " + error.message);
      document.body.dataset.ready = "error";
    }
  }

  document.getElementById("refresh").addEventListener("click", load);
  document.getElementById("forget-key").addEventListener("click", async () => {
    await signIn();
    await load();
  });
  load();
  window.setInterval(() => { if (document.body.dataset.ready !== "signin") load(); }, 60000);
})();
