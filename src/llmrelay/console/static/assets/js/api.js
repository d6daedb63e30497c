// The relay's HTTP API as the console uses it: same origin, the key as a Bearer token.
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

/** The signed-in session: {key, role: "admin"|"customer", name}; in sessionStorage only. */
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

/** Raw fetch with the session key; throws ApiError for network failures and non-2xx. */
export async function request(path, { method = "GET", body, params, signal, key, headers } = {}) {
  const token = key || (session.get() || {}).key;
  const init = { method, signal, headers: { accept: "application/json", ...headers } };
  if (token) init.headers.authorization = `Bearer ${token}`;
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

/** Usage and request-log routes: the admin's, or the calling key's own. */
export function usageApi(role) {
  const base = role === "admin" ? "/admin" : "/v1/key";
  return {
    usage: (params, signal) => api(`${base}/usage`, { params, signal }),
    requests: (params, signal) => api(`${base}/requests`, { params, signal }),
    csv: role === "admin"
      ? (params) => request("/admin/requests.csv", { params, headers: { accept: "text/csv" } })
      : null,
  };
}
