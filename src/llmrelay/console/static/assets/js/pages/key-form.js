// The create/edit key dialog, and the dialog that shows a new secret once.
import { ApiError } from "../api.js";
import { t } from "../i18n.js";
import { alertBox, busy, button, clear, copyButton, errorAlert, field, h, openDialog } from "../ui.js";

const PERIODS = ["total", "daily", "weekly", "monthly"];

function toLocalInput(seconds) {
  if (!seconds) return "";
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function numberInput(name, value, { step = "1", min = "1", placeholder = t("keys.unlimited") } = {}) {
  return h("input", { class: "input", type: "number", name, min, step, inputMode: "numeric",
    placeholder, value: value ?? "" });
}

/**
 * Opens the form. `key` null creates. `models` lists the public model names to choose from.
 * `save(body)` performs the request and resolves with its answer; API errors naming a field
 * are shown under that field.
 */
export function keyFormDialog({ key, models, save }) {
  const editing = Boolean(key);
  const k = key || { models: [], budget_period: "monthly", allowed_ips: [], metadata: {} };
  const name = h("input", { class: "input", name: "name", required: true, maxLength: 200,
    placeholder: t("form.name_placeholder"), value: k.name || "", autocomplete: "off" });
  const allModels = h("input", { type: "checkbox", name: "all_models", checked: !k.models.length });
  const names = [...new Set([...models, ...k.models])].sort();
  const modelBoxes = names.map((m) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: "model", value: m, checked: k.models.includes(m) }), m));
  const modelList = h("div", { class: "checks", role: "group", "aria-label": t("form.allowed_models"),
    hidden: !k.models.length }, modelBoxes.length ? modelBoxes : h("span", { class: "muted" }, t("form.no_models")));
  allModels.addEventListener("change", () => { modelList.hidden = allModels.checked; });

  const budget = h("input", { class: "input", type: "number", name: "budget_usd", min: "0", step: "0.01",
    placeholder: t("keys.no_budget"), value: k.budget_usd ?? "", inputMode: "decimal" });
  const period = h("select", { class: "select", name: "budget_period" },
    PERIODS.map((v) => h("option", { value: v, selected: v === k.budget_period }, t(`form.period_${v}`))));
  const expires = h("input", { class: "input", type: "datetime-local", name: "expires_at",
    value: toLocalInput(k.expires_at) });
  const rpm = numberInput("rpm", k.rpm);
  const tpm = numberInput("tpm", k.tpm);
  const conc = numberInput("max_concurrent", k.max_concurrent);
  const ips = h("textarea", { class: "textarea", name: "allowed_ips", rows: 2, spellcheck: false,
    placeholder: t("form.ips_placeholder") });
  ips.value = (k.allowed_ips || []).join("\n");
  const meta = h("textarea", { class: "textarea mono", name: "metadata", rows: 3, spellcheck: false,
    placeholder: '{"team": "search", "owner": "ana@example.com"}' });
  meta.value = k.metadata && Object.keys(k.metadata).length ? JSON.stringify(k.metadata, null, 2) : "";

  const fields = {
    name: field(t("keys.name"), name, { hint: t("form.name_hint") }),
    models: h("div", { class: "field" }, h("span", { class: "label" }, t("route.models")),
      h("label", { class: "check" }, allModels, t("form.every_model")), modelList),
    budget_usd: field(t("form.budget_usd"), budget),
    budget_period: field(t("form.budget_period"), period, { hint: t("form.period_hint") }),
    expires_at: field(t("keys.expires"), expires, { hint: t("form.expires_hint") }),
    rpm: field(t("form.rpm"), rpm),
    tpm: field(t("form.tpm"), tpm),
    max_concurrent: field(t("form.concurrent"), conc),
    allowed_ips: field(t("form.ips"), ips),
    metadata: field(t("form.metadata"), meta, { hint: t("form.metadata_hint") }),
  };
  const message = h("div");

  function collect() {
    for (const f of Object.values(fields)) if (f.setError) f.setError(null);
    const errors = {};
    const body = { name: name.value.trim() };
    if (!body.name) errors.name = t("form.err_name");
    body.models = allModels.checked ? [] : modelBoxes.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value);
    if (!allModels.checked && !body.models.length) errors.models = t("form.err_models");
    body.budget_usd = budget.value === "" ? null : Number(budget.value);
    if (body.budget_usd !== null && !(body.budget_usd >= 0)) errors.budget_usd = t("form.err_budget");
    body.budget_period = period.value;
    body.expires_at = expires.value ? Math.floor(new Date(expires.value).getTime() / 1000) : null;
    for (const [fieldName, input] of [["rpm", rpm], ["tpm", tpm], ["max_concurrent", conc]]) {
      body[fieldName] = input.value === "" ? null : Number(input.value);
      if (body[fieldName] !== null && !(Number.isInteger(body[fieldName]) && body[fieldName] >= 1)) {
        errors[fieldName] = t("form.err_limit");
      }
    }
    body.allowed_ips = ips.value.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
    body.metadata = {};
    if (meta.value.trim()) {
      try {
        body.metadata = JSON.parse(meta.value);
        if (!body.metadata || typeof body.metadata !== "object" || Array.isArray(body.metadata)) {
          errors.metadata = t("form.err_meta_object");
        }
      } catch (e) {
        errors.metadata = t("form.err_json", { message: e.message });
      }
    }
    if (!editing) {
      // A new key: leave unset limits out rather than sending nulls.
      for (const [k2, v] of Object.entries(body)) if (v === null) delete body[k2];
    }
    return { body, errors };
  }

  function showErrors(errors) {
    let first = null;
    for (const [fieldName, text] of Object.entries(errors)) {
      const f = fields[fieldName];
      if (f && f.setError) f.setError(text);
      else if (f) f.append(h("div", { class: "field-error" }, text));
      if (!first && f) first = f;
    }
    if (first) first.querySelector("input, select, textarea")?.focus();
  }

  const submit = h("button", { class: "btn btn-primary", type: "button" },
    editing ? t("form.save") : t("keys.create"));
  const dialog = openDialog({
    title: editing ? t("keys.edit", { name: k.name }) : t("form.create_title"),
    description: editing ? t("form.edit_description") : t("form.create_description"),
    wide: true,
    body: h("form", { class: "form", novalidate: true, onsubmit: (e) => { e.preventDefault(); submit.click(); } },
      message, fields.name, fields.models,
      h("fieldset", { class: "fieldset" }, h("legend", null, t("overview.budget")),
        h("div", { class: "grid-2" }, fields.budget_usd, fields.budget_period)),
      h("fieldset", { class: "fieldset" }, h("legend", null, t("keys.rate_limits")),
        h("div", { class: "grid-3" }, fields.rpm, fields.tpm, fields.max_concurrent)),
      h("fieldset", { class: "fieldset" }, h("legend", null, t("form.access")),
        h("div", { class: "grid-2" }, fields.expires_at, fields.allowed_ips)),
      fields.metadata,
      h("button", { type: "submit", hidden: true })),
    footer: (close) => [button(t("common.cancel"), { onClick: () => close(null) }), submit],
  });
  submit.addEventListener("click", () => busy(submit, async () => {
    clear(message);
    for (const err of dialog.dialog.querySelectorAll(".field > .field-error:not([id])")) err.remove();
    const { body, errors } = collect();
    if (Object.keys(errors).length) {
      showErrors(errors);
      return;
    }
    try {
      dialog.close(await save(body));
    } catch (e) {
      if (e instanceof ApiError && e.param) {
        const param = e.param.replace(/^\$\./, "").split(/[.[]/)[0];
        if (fields[param]) showErrors({ [param]: e.message });
      }
      clear(message, errorAlert(e, editing ? t("form.save_failed") : t("form.create_failed")));
      message.scrollIntoView({ block: "nearest" });
    }
  }));
  queueMicrotask(() => name.focus());
  return dialog.done;
}

/** Shows a freshly issued secret with a copy button; this is the only time it is visible. */
export function secretDialog({ title, created }) {
  const input = h("input", { class: "input secret", readOnly: true, value: created.key,
    "aria-label": t("form.new_key_label"), id: "new-key-secret", spellcheck: false });
  input.addEventListener("focus", () => input.select());
  const { done } = openDialog({
    title,
    description: `${created.name} · ${created.key_prefix}…`,
    body: [
      alertBox("warning", t("form.secret_warning"), t("form.secret_once")),
      h("div", { class: "field" }, h("label", { for: "new-key-secret" }, t("form.secret_key")),
        h("div", { class: "input-group" }, input, copyButton(() => created.key))),
    ],
    footer: (close) => button(t("common.done"), { kind: "primary", onClick: () => close(true) }),
  });
  queueMicrotask(() => input.select());
  return done;
}
