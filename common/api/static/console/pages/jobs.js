// Job runs (ingestion, allocation, sweeps) with their counts and failures,
// and the flow dashboard.

import { get } from "../api.js";
import { badge, fmt, h, table, when } from "../dom.js";

function failure(job) {
  if (!job.error) return "–";
  const { step, error, message, type } = job.error;
  return h("div", { class: "failure" }, step ? h("div", {}, `step: ${step}`) : null,
    h("div", {}, [type, message || error].filter(Boolean).join(": ") || JSON.stringify(job.error)));
}

export async function jobsPage() {
  const jobs = await get("/api/jobs", "limit=100");
  const rows = jobs.items.map((j) => h("tr", { dataset: { job: j.job_id, status: j.status } },
    h("td", {}, j.job), h("td", {}, j.source || "–"), h("td", {}, badge(j.status)),
    h("td", {}, when(j.started_at)), h("td", {}, when(j.ended_at)),
    h("td", {}, Object.entries(j.counts).filter(([, n]) => n).map(([k, n]) => `${k} ${fmt(n)}`).join(", ") || "–"),
    h("td", {}, failure(j)),
    h("td", { class: "mono" }, j.job === "allocation"
      ? h("a", { href: `#/allocation/runs/${encodeURIComponent(j.job_id)}` }, j.job_id) : j.job_id)));
  return h("section", { class: "page" },
    h("h1", {}, "Jobs"),
    h("p", {}, "Every ingestion, allocation and sweep is a job run with its counts. The ",
      h("a", { href: "/api/dashboard", id: "dashboard-link" }, "order-flow dashboard"),
      " shows orders by state, ages against the SLA, throughput and the bottleneck."),
    table("Recent job runs", ["Job", "Source", "Status", "Started", "Ended", "Counts", "Failure", "Id"], rows,
      { id: "jobs", empty: "No job has run yet." }));
}
