// The review console: sign in, then one page per hash route. Every page is
// drawn from API reads; the address holds filters and ids, never the key,
// so reloading or bookmarking a page lands on the same page.

import { forgetKey, signInForm, whoAmI } from "./session.js";
import { h, say } from "./dom.js";
import { queuePage } from "./pages/queue.js";
import { orderPage } from "./pages/order.js";
import { quarantinePage } from "./pages/quarantine.js";
import { allocationPage, runPage } from "./pages/allocation.js";
import { jobsPage } from "./pages/jobs.js";
import { incidentPage, incidentsPage } from "./pages/incidents.js";

const ROUTES = [
  [/^#\/orders\/(.+)$/, (me, m) => orderPage(me, decodeURIComponent(m[1])), "queue"],
  [/^#\/quarantine(\?.*)?$/, (me, m, refresh) => quarantinePage(me, params(m[1]), refresh), "quarantine"],
  [/^#\/allocation\/runs\/(.+)$/, (me, m) => runPage(me, decodeURIComponent(m[1])), "allocation"],
  [/^#\/allocation(\?.*)?$/, (me, m, refresh) => allocationPage(me, refresh), "allocation"],
  [/^#\/jobs(\?.*)?$/, (me) => jobsPage(me), "jobs"],
  [/^#\/incidents\/(.+)$/, (me, m, refresh) => incidentPage(me, decodeURIComponent(m[1]), refresh), "incidents"],
  [/^#\/incidents(\?.*)?$/, (me, m) => incidentsPage(me, params(m[1])), "incidents"],
  [/^#\/queue(\?.*)?$/, (me, m, refresh) => queuePage(me, params(m[1]), refresh), "queue"],
];

function params(search) {
  return Object.fromEntries(new URLSearchParams((search || "").replace(/^\?/, "")));
}

const view = () => document.getElementById("view");
let me = null;

async function render() {
  const hash = window.location.hash || "#/queue";
  const [pattern, page, nav] = ROUTES.find(([re]) => re.test(hash)) || ROUTES[ROUTES.length - 1];
  for (const link of document.querySelectorAll("nav a[data-nav]")) {
    if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  say("");
  say("", "error");
  document.body.dataset.ready = "0";
  const target = view();
  target.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  try {
    const content = await page(me, hash.match(pattern) || [], render);
    target.replaceChildren(content);
    document.body.dataset.ready = "1";
  } catch (error) {
    if (error.status === 401) {
      forgetKey();
      await start();
      return;
    }
    target.replaceChildren(h("h1", { tabindex: "-1" }, "Could not load this page"),
      h("p", { class: "error", role: "alert" }, error.message || String(error)));
    document.body.dataset.ready = "error";
  }
  const heading = target.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
    document.title = `${heading.textContent} · OMS review console`;
  }
}

function showIdentity() {
  const who = document.getElementById("who");
  who.replaceChildren(
    h("span", { id: "user" }, me.user),
    h("span", { class: "roles", id: "roles" }, ` (${me.roles.join(", ") || "no role"})`),
    me.via === "api-key"
      ? h("button", { type: "button", id: "sign-out", onclick: () => { forgetKey(); window.location.reload(); } },
        "Sign out")
      : null);
  who.hidden = false;
  document.getElementById("nav").hidden = false;
}

async function start() {
  document.getElementById("nav").hidden = true;
  document.getElementById("who").hidden = true;
  me = await whoAmI().catch(() => null);
  if (!me) {
    document.body.dataset.ready = "signin";
    me = await signInForm(view(), "Sign in with the API key you were given (X-API-Key).");
  }
  showIdentity();
  await render();
}

window.addEventListener("hashchange", () => { if (me) render(); });
// The skip link moves focus to the page; it must not touch the address (the route).
document.querySelector("a.skip").addEventListener("click", (event) => {
  event.preventDefault();
  view().focus();
});
start();
