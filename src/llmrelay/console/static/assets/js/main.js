// Boot: the sign-in screen, or the shell (sidebar + page) for the signed-in key.
import { onUnauthorized, resumeMember, session, signOutMember } from "./api.js";
import { languageSwitch, t } from "./i18n.js";
import { icon, logo } from "./icons.js";
import { homeFor, navigate, parseHash, roleOf, routeFor, routesFor } from "./router.js";
import { clear, errorAlert, h, loading, toast } from "./ui.js";
import { mountSignIn } from "./pages/signin.js";
import { mountInvite } from "./pages/invite.js";

const app = document.getElementById("app");
let current = { cleanup: null, controller: null };

function teardown() {
  if (current.controller) current.controller.abort();
  if (typeof current.cleanup === "function") current.cleanup();
  current = { cleanup: null, controller: null };
}

async function signOut(message) {
  teardown();
  const me = session.get();
  if (me && me.role === "member" && !message) await signOutMember();
  session.clear();
  if (message) sessionStorage.setItem("llmrelay.console.notice", message);
  navigate("signin");
}

onUnauthorized((error) => {
  if (session.get()) signOut(t("shell.signed_out", { message: error.message }));
});

/** The line under the name in the sidebar: who this is to the relay. */
function roleLine(me) {
  if (me.role === "admin") return t("shell.admin_role");
  if (me.role === "member") return t("shell.member_line", { role: t(`role.${me.memberRole}`), account: me.account });
  return t("shell.key_role");
}

function shell(me, active) {
  const admin = me.role === "admin";
  const name = admin ? t("shell.administrator") : me.name;
  const nav = h("nav", { class: "nav", "aria-label": t("shell.main_nav") },
    h("div", { class: "nav-label" }, admin ? t("nav.manage") : t("nav.account")),
    routesFor(roleOf(me)).map((r) =>
      h("a", { href: "#/" + r.path, "aria-current": r.path === active ? "page" : null,
        dataset: { route: r.path } }, icon(r.icon), t(`route.${r.path}`))),
    h("div", { class: "nav-label" }, t("nav.reference")),
    h("a", { href: "/models" }, icon("models"), t("nav.catalogue")),
    h("a", { href: "/docs/" }, icon("info"), t("nav.docs")));
  const shellEl = h("div", { class: "shell" });
  const closeNav = () => shellEl.classList.remove("nav-open");
  nav.addEventListener("click", closeNav);
  const sidebar = h("aside", { class: "sidebar", id: "sidebar", "aria-label": t("shell.sidebar") },
    h("div", { class: "brand" }, logo(), h("div", null, "llmrelay", h("small", null, t("nav.console")))),
    nav,
    h("div", { class: "sidebar-foot" },
      h("div", { class: "who" },
        h("span", { class: "avatar", "aria-hidden": "true" }, (name || "?").slice(0, 1).toUpperCase()),
        h("div", { class: "who-text" },
          h("div", { class: "who-name" }, name),
          h("div", { class: "who-role" }, roleLine(me)))),
      h("div", { class: "foot-actions" }, languageSwitch(),
        h("button", { class: "btn btn-sm signout", type: "button", onclick: () => signOut() },
          icon("logout"), t("shell.sign_out")))));
  const menu = h("button", { class: "btn btn-ghost btn-icon", type: "button", "aria-label": t("shell.open_menu"),
    "aria-controls": "sidebar", onclick: () => shellEl.classList.add("nav-open") }, icon("menu"));
  const content = h("main", { class: "content", id: "content", tabindex: "-1" });
  shellEl.append(sidebar, h("div", { class: "backdrop", onclick: closeNav }),
    h("div", { class: "main" },
      h("header", { class: "topbar" }, menu, logo(), h("span", { class: "title" }, "llmrelay")),
      content));
  return { shellEl, content };
}

let shellState = null;

async function render() {
  const me = session.get();
  const { path, params } = parseHash();
  teardown();
  if (path.startsWith("invite/")) {
    shellState = null;
    clear(app, mountInvite({ token: path.slice("invite/".length),
      onSignedIn: (member) => navigate(homeFor(roleOf(member))) }));
    document.title = `${t("invite.title")} · llmrelay`;
    app.removeAttribute("aria-busy");
    return;
  }
  if (!me) {
    shellState = null;
    if (path !== "signin") {
      history.replaceState(null, "", "#/signin");
    }
    const notice = sessionStorage.getItem("llmrelay.console.notice");
    sessionStorage.removeItem("llmrelay.console.notice");
    clear(app, mountSignIn({ notice, onSignedIn: (signed) => navigate(homeFor(roleOf(signed))) }));
    document.title = `${t("signin.title")} · llmrelay`;
    app.removeAttribute("aria-busy");
    return;
  }
  const route = routeFor(path, roleOf(me));
  if (!route) {
    navigate(homeFor(roleOf(me)));
    return;
  }
  const who = me.key || `${me.id}:${me.memberRole}`;
  const firstRender = !shellState || shellState.who !== who;
  if (firstRender) {
    const built = shell(me, route.path);
    shellState = { who, ...built };
    clear(app, built.shellEl);
  }
  for (const a of shellState.shellEl.querySelectorAll(".nav a")) {
    if (a.dataset.route === route.path) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `${t(`route.${route.path}`)} · llmrelay`;
  const content = shellState.content;
  clear(content, loading());
  app.removeAttribute("aria-busy");
  const controller = new AbortController();
  current.controller = controller;
  try {
    const page = await route.load();
    if (controller.signal.aborted) return;
    clear(content);
    current.cleanup = await page.mount(content, { me, params, signal: controller.signal });
    if (!firstRender) {
      // Like a page load: back to the top, and screen readers start at the new page.
      window.scrollTo(0, 0);
      content.focus({ preventScroll: true });
    }
  } catch (e) {
    if (e.name === "AbortError") return;
    console.error(e);
    clear(content, errorAlert(e, t("shell.page_failed")));
  }
}

window.addEventListener("hashchange", render);
window.addEventListener("unhandledrejection", (event) => {
  const reason = event.reason;
  if (reason && reason.name === "AbortError") return;
  toast(reason && reason.message ? reason.message : t("shell.unexpected"), "error");
});
// A member signed in by the cookie (in another tab, or before a reload that lost this tab's
// storage) is found again; anyone else signs in.
if (!session.get() && !parseHash().path.startsWith("invite/")) await resumeMember();
render();
