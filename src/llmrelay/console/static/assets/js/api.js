// The relay's HTTP API as the console uses it: same origin, the key as a Bearer token; or,
// for a signed-in account member, the HttpOnly session cookie (which the browser sends by
// itself) and the session's CSRF token in `x-csrf-token` on every change.
import { t } from "./i18n.js";

const STORAGE = "llmrelay.console.session";

export class ApiError extends Error {
  constructor(status, message, { code = null, param = null, type = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.param = param;
    this.type = type;
  }
}

/** The signed-in session: {key, role: "admin"|"customer", name}, or for a member
 * {role: "member", memberRole, name (the email), account, csrf}; in sessionStorage only. */
export const session = {
  get() {
    try {
      const raw = sessionStorage.getItem(STORAGE);
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  },
  set(value) {
    sessionStorage.setItem(STORAGE, JSON.stringify(value));
  },
  clear() {
    sessionStorage.removeItem(STORAGE);
  },
};

const listeners = new Set();
/** Called with the error when a signed-in key stops working (revoked, disabled, rotated). */
export function onUnauthorized(fn) {
  listeners.add(fn);
}

function query(params) {
  if (!params) return "";
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") search.set(k, String(v));
  }
  const text = search.toString();
  return text ? "?" + text : "";
}

export async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const err = body && body.error;
  const message = (err && err.message) || `${response.status} ${response.statusText || "error"}`;
  return new ApiError(response.status, message, err || {});
}

const CHANGING = new Set(["POST", "PATCH", "PUT", "DELETE"]);

/** Raw fetch with the session key; throws ApiError for network failures and non-2xx. */
export async function request(path, options = {}) {
  const { method = "GET", body, params, signal, key, headers, retried } = options;
  const me = session.get() || {};
  const token = key || me.key;
  const init = { method, signal, headers: { accept: "application/json", ...headers } };
  if (token) init.headers.authorization = `Bearer ${token}`;
  else if (me.csrf && CHANGING.has(method)) init.headers["x-csrf-token"] = me.csrf;
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path + query(params), init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, t("api.unreachable"));
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (error.code === "csrf_failed" && me.csrf && !retried && (await refreshMember())) {
      // Signed in again in another tab: a new session, a new token. Once more with it.
      return request(path, { ...options, retried: true });
    }
    if (response.status === 401 && !key) for (const fn of listeners) fn(error);
    throw error;
  }
  return response;
}

export async function api(path, options = {}) {
  const response = await request(path, options);
  if (response.status === 204) return null;
  return response.json();
}

/**
 * Which console a key opens: GET /admin/keys answers 200 to the admin key and 403 to an API
 * key. Resolves {role, name, key}; rejects with the relay's own message for a wrong key.
 */
export async function identify(key) {
  try {
    await api("/admin/keys", { key });
    return { key, role: "admin", name: t("shell.administrator") };
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 403 && e.status !== 404)) throw e;
  }
  // An API key: confirm it works and learn its name.
  try {
    const me = await api("/v1/key", { key });
    return { key, role: "customer", name: me.name || t("shell.key_role"), id: me.id };
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
  }
  await api("/v1/models", { key });
  return { key, role: "customer", name: t("shell.key_role") };
}

export const keys = {
  list: (signal) => api("/admin/keys", { signal }),
  create: (body) => api("/admin/keys", { method: "POST", body }),
  update: (id, body) => api(`/admin/keys/${encodeURIComponent(id)}`, { method: "PATCH", body }),
  remove: (id) => api(`/admin/keys/${encodeURIComponent(id)}`, { method: "DELETE" }),
  disable: (id) => api(`/admin/keys/${encodeURIComponent(id)}/disable`, { method: "POST" }),
  enable: (id) => api(`/admin/keys/${encodeURIComponent(id)}/enable`, { method: "POST" }),
  rotate: (id) => api(`/admin/keys/${encodeURIComponent(id)}/rotate`, { method: "POST" }),
};

/** Usage and request-log routes: the admin's, the calling key's own, or (a member) the
 * account's usage, which has no request log. */
export function usageApi(role) {
  const base = { admin: "/admin", member: "/v1/account" }[role] || "/v1/key";
  return {
    usage: (params, signal) => api(`${base}/usage`, { params, signal }),
    requests: role === "member" ? null : (params, signal) => api(`${base}/requests`, { params, signal }),
    csv: role === "admin"
      ? (params) => request("/admin/requests.csv", { params, headers: { accept: "text/csv" } })
      : null,
  };
}

// ---------- account members ----------

/** The console's session for a member's session object (POST/GET /v1/account/session). */
function memberSession(answer) {
  return { role: "member", memberRole: answer.member.role, id: answer.member.id,
    name: answer.member.email, account: answer.account.name, csrf: answer.csrf_token };
}

/** Signs a member in with an email and a password; the relay sets the session cookie. */
export async function signInMember(email, password) {
  const me = memberSession(await api("/v1/account/session", { method: "POST",
    body: { email, password } }));
  session.set(me);
  return me;
}

/** Sets the invited member's password; the relay signs them in as it does at sign-in. */
export async function acceptInvite(token, password) {
  const me = memberSession(await api("/v1/account/invite", { method: "POST",
    body: { token, password } }));
  session.set(me);
  return me;
}

/** The member signed in by the cookie (another tab's sign-in, a reload), or null. */
export async function resumeMember() {
  try {
    const response = await fetch("/v1/account/session", { headers: { accept: "application/json" } });
    if (!response.ok) return null;
    const me = memberSession(await response.json());
    session.set(me);
    return me;
  } catch {
    return null;
  }
}

async function refreshMember() {
  const current = session.get();
  const fresh = current && current.role === "member" ? await resumeMember() : null;
  return Boolean(fresh && fresh.csrf !== current.csrf);
}

/** Ends the member's session on the relay (the cookie goes with it); never throws. */
export async function signOutMember() {
  try {
    await request("/v1/account/session", { method: "DELETE" });
  } catch {
    // Expired already: nothing to end.
  }
}

const one = (base, id) => `${base}/${encodeURIComponent(id)}`;

/** The member's account, its keys and (for owners) its members. */
export const account = {
  show: (signal) => api("/v1/account", { signal }),
  redeem: (code) => api("/v1/account/redeem", { method: "POST", body: { code } }),
  keys: {
    list: (signal) => api("/v1/account/keys", { signal }),
    create: (body) => api("/v1/account/keys", { method: "POST", body }),
    update: (id, body) => api(one("/v1/account/keys", id), { method: "PATCH", body }),
    disable: (id) => api(one("/v1/account/keys", id) + "/disable", { method: "POST" }),
    enable: (id) => api(one("/v1/account/keys", id) + "/enable", { method: "POST" }),
    rotate: (id) => api(one("/v1/account/keys", id) + "/rotate", { method: "POST" }),
    remove: null,
  },
  members: {
    list: (signal) => api("/v1/account/members", { signal }),
    invite: (body) => api("/v1/account/members", { method: "POST", body }),
    setRole: (id, role) => api(one("/v1/account/members", id), { method: "PATCH", body: { role } }),
    remove: (id) => api(one("/v1/account/members", id), { method: "DELETE" }),
  },
};

/** The keys a signed-in person manages: the admin's every key, or a member's account's. */
export function keysFor(me) {
  return me.role === "member" ? account.keys : keys;
}
