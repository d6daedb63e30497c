// Hash routing: "#/keys", "#/usage?group=key". A route's title is the string `route.<path>`. Each page module exports `mount(root, ctx)`,
// which may return a cleanup function; navigation aborts the previous page's requests.

// Roles: "admin" (the admin key), "customer" (an API key), and a signed-in account member's
// role in their account: "owner", "member" or "viewer" (see `roleOf`).
const MEMBERS = ["owner", "member", "viewer"];

export const ROUTES = [
  { path: "overview", icon: "overview", roles: ["admin", "customer"],
    load: () => import("./pages/overview.js") },
  { path: "account", icon: "wallet", roles: MEMBERS,
    load: () => import("./pages/account.js") },
  { path: "keys", icon: "key", roles: ["admin", ...MEMBERS],
    load: () => import("./pages/keys.js") },
  { path: "models", icon: "models", roles: ["admin", "customer"],
    load: () => import("./pages/models.js") },
  { path: "usage", icon: "usage", roles: ["admin", "customer", ...MEMBERS],
    load: () => import("./pages/usage.js") },
  { path: "members", icon: "overview", roles: ["owner"],
    load: () => import("./pages/members.js") },
  { path: "playground", icon: "playground", roles: ["admin", "customer"],
    load: () => import("./pages/playground.js") },
];

export const DEFAULT_ROUTE = "overview";

/** The role routes are chosen by: a member's role in their account, else the console's. */
export function roleOf(me) {
  return me.role === "member" ? me.memberRole : me.role;
}

/** Where a signed-in person lands: the first page their role has. */
export function homeFor(role) {
  return (routesFor(role)[0] || { path: DEFAULT_ROUTE }).path;
}

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?");
  return { path: path || "", params: new URLSearchParams(search) };
}

export function navigate(path, params) {
  const search = params ? new URLSearchParams(params).toString() : "";
  const target = "#/" + path + (search ? "?" + search : "");
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = target;
}

/** Replaces the query part of the current hash without re-rendering the page. */
export function setParams(params) {
  const { path } = parseHash();
  const search = new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""),
  ).toString();
  history.replaceState(null, "", "#/" + path + (search ? "?" + search : ""));
}

export function routeFor(path, role) {
  return ROUTES.find((r) => r.path === path && r.roles.includes(role)) || null;
}

export function routesFor(role) {
  return ROUTES.filter((r) => r.roles.includes(role));
}
