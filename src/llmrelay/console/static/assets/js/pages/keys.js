// API keys: list with status, limits and spend; create, edit, disable/enable, rotate, delete.
// The admin's every key, or a signed-in member's account's keys (an owner's or a member's to
// change, never to delete; a viewer's to read).
import { account, api, keysFor } from "../api.js";
import { t } from "../i18n.js";
import { badge, button, clear, confirmDialog, empty, errorAlert, fmtCompact, fmtDate, fmtRelative,
  fmtUSD, h, iconButton, segmented, skeletonRows, toast } from "../ui.js";
import { keyFormDialog, secretDialog } from "./key-form.js";

const STATUS_KIND = { active: "success", disabled: "warning", expired: "", revoked: "danger" };
/** Key statuses in the order the console lists them. */
export const STATUSES = ["active", "disabled", "expired", "revoked"];

/** A key's status as a badge, coloured the same on every page. */
export function statusBadge(status) {
  return badge(t(`status.${status}`), STATUS_KIND[status] ?? "");
}

/** Keys newest first. The API lists them oldest first, and `created_at` is in whole seconds:
 * of two keys made in the same second, the one listed later is the newer. */
export function newestFirst(keys) {
  return [...keys].reverse().sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
}

export function budgetCell(k) {
  if (k.budget_usd === null || k.budget_usd === undefined) {
    return h("div", null, h("div", null, fmtUSD(k.spend_usd || 0), h("span", { class: "muted" }, ` ${t("keys.spent")}`)),
      h("div", { class: "muted small" }, t("keys.no_budget")));
  }
  const share = k.budget_usd > 0 ? Math.min(1, (k.spend_usd || 0) / k.budget_usd) : 1;
  const bar = h("span");
  bar.style.width = `${(share * 100).toFixed(1)}%`;
  const cls = share >= 1 ? "progress over" : share >= 0.8 ? "progress warn" : "progress";
  return h("div", { class: "budget" },
    h("div", { class: "small nowrap" }, h("b", null, fmtUSD(k.spend_usd || 0)),
      h("span", { class: "muted" }, ` ${t("keys.of_budget", { budget: fmtUSD(k.budget_usd) })}`)),
    h("div", { class: cls, role: "progressbar", "aria-label": t("keys.budget_used", { name: k.name }),
      "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(share * 100)) }, bar),
    h("div", { class: "muted small" }, k.budget_period ? t(`period.${k.budget_period}`) : ""));
}

export function limitsText(k) {
  const parts = [];
  if (k.rpm) parts.push(`${fmtCompact(k.rpm)} rpm`);
  if (k.tpm) parts.push(`${fmtCompact(k.tpm)} tpm`);
  if (k.max_concurrent) parts.push(t("keys.concurrent", { n: k.max_concurrent }));
  if (!parts.length) return t("keys.unlimited");
  // Wrap only between limits, never inside one.
  return h("span", null, parts.map((p, i) => [i ? " · " : null, h("span", { class: "nowrap" }, p)]));
}

export function modelsCell(models) {
  if (!models || !models.length) return h("span", { class: "muted" }, t("keys.all_models"));
  const shown = models.slice(0, 3).map((m) => h("span", { class: "chip" }, m));
  if (models.length > 3) shown.push(h("span", { class: "chip", title: models.slice(3).join(", ") }, `+${models.length - 3}`));
  return h("div", { class: "chips" }, shown);
}

const MANAGERS = ["owner", "member"];

/** The model names a key form offers: the relay's, or a member's account's allowlist. */
async function modelChoices(me, signal) {
  if (me.role !== "member") return (await api("/v1/models", { signal }).catch(() => ({ data: [] }))).data.map((m) => m.id);
  return (await account.show(signal)).models;
}

export async function mount(root, { me, signal }) {
  const keysApi = keysFor(me);
  const manages = me.role !== "member" || MANAGERS.includes(me.memberRole);
  let all = [];
  let filter = "all";
  let search = "";
  let modelNames = [];
  const tbody = h("tbody", null, skeletonRows(7));
  const body = h("div", { class: "table-wrap" });
  const counts = h("div", { class: "head-control" });
  const searchInput = h("input", { class: "input", type: "search", placeholder: t("keys.search"),
    "aria-label": t("keys.search_label") });
  searchInput.style.maxWidth = "260px";
  searchInput.addEventListener("input", () => { search = searchInput.value.trim().toLowerCase(); renderTable(); });
  const createBtn = manages ? button(t("keys.create"), { kind: "primary", iconName: "plus", onClick: create }) : null;

  const headers = [t("keys.name"), t("keys.status"), t("route.models"), t("keys.spend"), t("keys.limits"),
    t("keys.expires"), ""];
  const table = h("table", { class: "table responsive", "aria-label": t("route.keys") },
    h("thead", null, h("tr", null, headers.map((text) =>
      h("th", { scope: "col" }, text || h("span", { class: "visually-hidden" }, t("keys.actions")))))),
    tbody);
  body.append(table);
  clear(root,
    h("div", { class: "page-head" },
      h("div", null, h("h1", null, t("route.keys")),
        h("p", null, me.role === "member" ? t(`keys.intro_${me.memberRole}`) : t("keys.intro"))),
      h("div", { class: "actions" }, createBtn)),
    h("section", { class: "card" },
      h("div", { class: "card-head" }, counts, searchInput),
      body));

  async function load() {
    try {
      const [list, models] = await Promise.all([keysApi.list(signal), modelChoices(me, signal)]);
      all = newestFirst(list.data);
      modelNames = models;
      renderCounts();
      renderTable();
    } catch (e) {
      if (e.name === "AbortError") return;
      clear(body, h("div", { class: "card-body" }, errorAlert(e, t("keys.load_failed")),
        h("div", { class: "actions" }, button(t("common.retry"), { iconName: "refresh", onClick: () => { clear(body, table); load(); } }))));
    }
  }

  function renderCounts() {
    const n = (s) => all.filter((k) => s === "all" || k.status === s).length;
    const options = [["all", t("tab.all")], ...STATUSES.map((s) => [s, t(`tab.${s}`)])]
      .filter(([s]) => s === "all" || s === "active" || n(s) > 0);
    const control = segmented(t("keys.filter_label"), options, filter, (v) => { filter = v; renderTable(); });
    options.forEach(([s], i) => control.children[i].append(h("span", { class: "count" }, String(n(s)))));
    clear(counts, control);
  }

  function renderTable() {
    if (!all.length) {
      clear(body, empty({ iconName: "key", title: manages ? t("keys.none") : t("keys.none_viewer"),
        text: manages ? t("keys.none_hint") : null,
        action: manages ? button(t("keys.create"), { kind: "primary", iconName: "plus", onClick: create }) : null }));
      return;
    }
    if (!body.contains(table)) clear(body, table);
    const rows = all.filter((k) => (filter === "all" || k.status === filter) &&
      (!search || k.name.toLowerCase().includes(search) || (k.key_prefix || "").toLowerCase().includes(search)));
    if (!rows.length) {
      clear(tbody, h("tr", null, h("td", { colspan: 7 }, empty({ iconName: "search", title: t("keys.no_match"),
        text: t("keys.no_match_hint") }))));
      return;
    }
    clear(tbody, rows.map(row));
  }

  function row(k) {
    const enabled = k.status !== "disabled";
    return h("tr", { dataset: { keyId: k.id } },
      h("td", { class: "primary-cell" }, h("div", { class: "cell-title" }, k.name),
        h("div", { class: "cell-sub" }, `${k.key_prefix}…`)),
      h("td", { "data-label": t("keys.status") }, statusBadge(k.status)),
      h("td", { "data-label": t("route.models") }, modelsCell(k.models)),
      h("td", { "data-label": t("keys.spend") }, budgetCell(k)),
      h("td", { "data-label": t("keys.limits"), class: "small" }, limitsText(k)),
      h("td", { "data-label": t("keys.expires"), class: "nowrap small", title: k.expires_at ? fmtDate(k.expires_at) : null },
        k.expires_at ? fmtRelative(k.expires_at) : h("span", { class: "muted" }, t("keys.never"))),
      h("td", { class: "actions-cell" }, manages ? h("div", { class: "row-actions" },
        iconButton("edit", t("keys.edit", { name: k.name }), () => edit(k)),
        k.status === "revoked" ? null : enabled
          ? iconButton("pause", t("keys.disable", { name: k.name }), () => setEnabled(k, false))
          : iconButton("play", t("keys.enable", { name: k.name }), () => setEnabled(k, true)),
        k.status === "revoked" ? null : iconButton("rotate", t("keys.rotate", { name: k.name }), () => rotate(k)),
        keysApi.remove ? iconButton("trash", t("keys.delete", { name: k.name }), () => remove(k)) : null) : null));
  }

  function replace(updated) {
    const i = all.findIndex((x) => x.id === updated.id);
    if (i >= 0) all[i] = updated;
    else all.unshift(updated);
    renderCounts();
    renderTable();
  }

  async function create() {
    const created = await keyFormDialog({ key: null, models: modelNames, save: (b) => keysApi.create(b) });
    if (!created) return;
    const { key: _secret, ...rest } = created;
    replace(rest);
    await secretDialog({ title: t("keys.new_title"), created });
  }

  async function edit(k) {
    const updated = await keyFormDialog({ key: k, models: modelNames, save: (b) => keysApi.update(k.id, b) });
    if (updated) {
      replace(updated);
      toast(t("keys.saved", { name: updated.name }));
    }
  }

  async function setEnabled(k, on) {
    try {
      const updated = on ? await keysApi.enable(k.id) : await keysApi.disable(k.id);
      replace(updated && updated.id ? updated : { ...k, status: on ? "active" : "disabled" });
      toast(t(on ? "keys.enabled" : "keys.disabled_toast", { name: k.name }));
    } catch (e) {
      toast(e.message, "error");
    }
  }

  async function rotate(k) {
    const ok = await confirmDialog({ title: t("keys.rotate_title", { name: k.name }),
      confirm: t("keys.rotate_confirm"), text: t("keys.rotate_text") });
    if (!ok) return;
    try {
      const created = await keysApi.rotate(k.id);
      const { key: _secret, ...rest } = created;
      replace(rest);
      await secretDialog({ title: t("keys.rotated"), created });
    } catch (e) {
      toast(e.message, "error");
    }
  }

  async function remove(k) {
    const ok = await confirmDialog({ title: t("keys.delete_title", { name: k.name }), danger: true,
      confirm: t("keys.delete_confirm"), text: t("keys.delete_text") });
    if (!ok) return;
    try {
      await keysApi.remove(k.id);
      all = all.filter((x) => x.id !== k.id);
      renderCounts();
      renderTable();
      toast(t("keys.deleted", { name: k.name }));
    } catch (e) {
      toast(e.message, "error");
    }
  }

  load();
}
