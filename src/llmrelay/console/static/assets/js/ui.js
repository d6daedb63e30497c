// Small DOM toolkit shared by every page: element builder, formatting, states, dialogs, toasts.
import { locale, t } from "./i18n.js";
import { icon } from "./icons.js";

/** h("div", {class: "x", onclick: fn}, child, "text", [more]) builds an element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on") && typeof value === "function") {
        el.addEventListener(name.slice(2).toLowerCase(), value);
      } else if (name === "class") {
        el.className = value;
      } else if (name === "dataset") {
        Object.assign(el.dataset, value);
      } else if (name in el && !name.includes("-") && name !== "list" && name !== "form") {
        el[name] = value;
      } else {
        el.setAttribute(name, value === true ? "" : value);
      }
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// ---------- formatting ----------
const nf = new Intl.NumberFormat(locale);
const compact = new Intl.NumberFormat(locale, { notation: "compact", maximumFractionDigits: 1 });

export function fmtInt(n) {
  return n === null || n === undefined ? "—" : nf.format(n);
}

export function fmtCompact(n) {
  if (n === null || n === undefined) return "—";
  return Math.abs(n) < 1000 ? nf.format(Math.round(n * 100) / 100) : compact.format(n);
}

export function fmtUSD(n, { exact = false } = {}) {
  if (n === null || n === undefined) return "—";
  const abs = Math.abs(n);
  let digits = 2;
  if (abs > 0 && abs < 0.01) digits = exact ? 6 : 4;
  else if (abs > 0 && abs < 1) digits = exact ? 4 : 3;
  return "$" + n.toLocaleString(locale, { minimumFractionDigits: Math.min(digits, 2),
    maximumFractionDigits: digits });
}

export function fmtPrice(n) {
  if (n === null || n === undefined) return "—";
  return "$" + n.toLocaleString(locale, { minimumFractionDigits: 2, maximumFractionDigits: 4 });
}

export function fmtDate(seconds, { time = true } = {}) {
  if (!seconds) return "—";
  const d = new Date(seconds * 1000);
  const opts = { year: "numeric", month: "short", day: "numeric" };
  if (time) Object.assign(opts, { hour: "2-digit", minute: "2-digit" });
  return d.toLocaleString(locale, opts);
}

export function fmtRelative(seconds) {
  if (!seconds) return "—";
  const diff = seconds - Date.now() / 1000;
  const abs = Math.abs(diff);
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  if (abs < 60) return rtf.format(Math.round(diff), "second");
  if (abs < 3600) return rtf.format(Math.round(diff / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(diff / 3600), "hour");
  if (abs < 86400 * 45) return rtf.format(Math.round(diff / 86400), "day");
  return fmtDate(seconds, { time: false });
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return "—";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

/** `text` (a translated string) with its `{name}` placeholders replaced by the nodes in
 * `parts`, for sentences with an element inside, such as a code span. */
export function fill(text, parts) {
  return text.split(/\{(\w+)\}/).map((piece, i) => (i % 2 ? parts[piece] ?? `{${piece}}` : piece));
}

// ---------- states ----------
export function loading(text = t("common.loading")) {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spinner" }), text);
}

export function skeletonRows(columns, rows = 4) {
  return Array.from({ length: rows }, () =>
    h("tr", null, Array.from({ length: columns }, (_, i) =>
      h("td", null, h("div", { class: "skeleton", dataset: { w: i } })))));
}

export function empty({ iconName = "info", title, text, action }) {
  return h("div", { class: "empty" },
    h("div", { class: "empty-icon" }, icon(iconName)),
    h("h3", null, title),
    text ? h("p", null, text) : null,
    action || null);
}

export function errorAlert(error, title = t("common.error")) {
  const message = error && error.message ? error.message : String(error);
  return h("div", { class: "alert error", role: "alert" }, icon("alert"),
    h("div", { class: "alert-body" }, h("strong", null, title), h("span", null, message)));
}

export function alertBox(kind, text, title) {
  return h("div", { class: `alert ${kind}`, role: kind === "error" ? "alert" : "status" },
    icon(kind === "error" ? "alert" : "info"),
    h("div", { class: "alert-body" }, title ? h("strong", null, title) : null, text));
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}` }, text);
}

export function button(label, { kind = "", iconName, onClick, type = "button", title, small } = {}) {
  const cls = ["btn", kind && `btn-${kind}`, small && "btn-sm"].filter(Boolean).join(" ");
  return h("button", { class: cls, type, onclick: onClick, title },
    iconName ? icon(iconName) : null, label);
}

export function iconButton(iconName, label, onClick, kind = "ghost") {
  return h("button", { class: `btn btn-${kind} btn-icon`, type: "button", title: label,
    "aria-label": label, onclick: onClick }, icon(iconName));
}

/** Runs `work` with the button showing a spinner and disabled. */
export async function busy(btn, work) {
  btn.disabled = true;
  btn.classList.add("busy");
  try {
    return await work();
  } finally {
    btn.disabled = false;
    btn.classList.remove("busy");
  }
}

/** A labelled form field: label, control, optional hint; `field.error(msg)` marks it. */
export function field(label, control, { hint, id } = {}) {
  const controlId = id || control.id || "f-" + Math.random().toString(36).slice(2, 9);
  control.id = controlId;
  const err = h("div", { class: "field-error", id: controlId + "-err", hidden: true });
  const hintEl = hint ? h("div", { class: "hint", id: controlId + "-hint" }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  const wrap = h("div", { class: "field" }, h("label", { for: controlId }, label), control, hintEl, err);
  wrap.setError = (message) => {
    wrap.classList.toggle("invalid", Boolean(message));
    err.hidden = !message;
    err.textContent = message || "";
    if (message) control.setAttribute("aria-invalid", "true");
    else control.removeAttribute("aria-invalid");
  };
  return wrap;
}

export function segmented(label, options, value, onChange) {
  const group = h("div", { class: "segmented", role: "group", "aria-label": label });
  const buttons = options.map(([key, text]) => {
    const b = h("button", { type: "button", "aria-pressed": String(key === value) }, text);
    b.addEventListener("click", () => {
      for (const other of buttons) other.setAttribute("aria-pressed", String(other === b));
      onChange(key);
    });
    group.append(b);
    return b;
  });
  return group;
}

// ---------- dialogs ----------
/** A modal <dialog>; resolves with the value passed to `close(value)` (undefined on Esc). */
export function openDialog({ title, description, body, footer, wide = false, label }) {
  const dialog = h("dialog", { class: `dialog${wide ? " wide" : ""}`, "aria-label": label || title });
  let resolve;
  const done = new Promise((r) => { resolve = r; });
  const close = (value) => {
    resolve(value);
    dialog.close();
  };
  dialog.addEventListener("close", () => {
    resolve(undefined);
    dialog.remove();
  });
  const head = h("div", { class: "dialog-head" },
    h("div", null, h("h2", null, title), description ? h("p", null, description) : null),
    iconButton("x", t("common.close"), () => close(undefined)));
  const content = h("div", { class: "dialog-body" });
  const foot = h("div", { class: "dialog-foot" });
  dialog.append(h("div", { class: "dialog-form" }, head, content, foot));
  append(content, [typeof body === "function" ? body(close) : body]);
  append(foot, [typeof footer === "function" ? footer(close) : footer]);
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, close, done };
}

export function confirmDialog({ title, text, confirm = t("common.confirm"), danger = false }) {
  const { done } = openDialog({
    title,
    body: h("p", { class: "muted" }, text),
    footer: (close) => [
      button(t("common.cancel"), { onClick: () => close(false) }),
      button(confirm, { kind: danger ? "danger" : "primary", onClick: () => close(true) }),
    ],
  });
  return done.then(Boolean);
}

// ---------- toasts and clipboard ----------
let toastRoot;
export function toast(message, kind = "") {
  if (!toastRoot) {
    toastRoot = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toastRoot);
  }
  const el = h("div", { class: `toast ${kind}` }, icon(kind === "error" ? "alert" : "check"), message);
  toastRoot.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 6000 : 3200);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Plain-http origins have no async clipboard: fall back to a selected textarea.
    const area = h("textarea", { value: text, readOnly: true, "aria-hidden": "true" });
    area.className = "visually-hidden";
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

export function copyButton(getText, label = t("common.copy")) {
  const btn = button(label, { iconName: "copy", small: true });
  btn.addEventListener("click", async () => {
    const ok = await copyText(getText());
    btn.lastChild.textContent = ok ? t("common.copied") : t("common.press_ctrl_c");
    setTimeout(() => { btn.lastChild.textContent = label; }, 1800);
  });
  return btn;
}

export function download(filename, blob) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
