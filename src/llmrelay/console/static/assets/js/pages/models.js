// Models (模型一览): name, provider, capabilities, prices per million tokens, health.
import { api } from "../api.js";
import { t, tn } from "../i18n.js";
import { copyText, clear, empty, errorAlert, fmtPrice, h, iconButton, loading, toast } from "../ui.js";

const TONE = { healthy: "ok", half_open: "warn", cooldown: "bad" };

function health(deployments) {
  if (!deployments || !deployments.length) return h("span", { class: "muted" }, "—");
  const label = (state) => (TONE[state] ? t(`health.${state}`) : state);
  const states = deployments.map((d) => d.state);
  const worst = states.includes("cooldown") ? (states.every((s) => s === "cooldown") ? "cooldown" : "half_open")
    : states.includes("half_open") ? "half_open" : "healthy";
  const [cls, text] = [TONE[worst] || "", label(worst)];
  const healthy = states.filter((s) => s === "healthy").length;
  const detail = deployments.map((d) => {
    const wait = d.state === "cooldown" && d.cooldown_remaining_seconds
      ? ` (${t("models.seconds_left", { n: Math.ceil(d.cooldown_remaining_seconds) })})` : "";
    return `${d.provider} → ${d.upstream_model}: ${label(d.state)}${wait}`;
  }).join("\n");
  return h("span", { class: "inline", title: detail },
    h("span", { class: `dot ${cls}`, "aria-hidden": "true" }),
    deployments.length > 1 ? `${text} · ${healthy}/${deployments.length}` : text);
}

function capabilities(c) {
  if (!c) return h("span", { class: "muted" }, "—");
  if (c.endpoints && !c.endpoints.includes("chat")) {
    return h("div", { class: "chips" }, h("span", { class: "badge plain info" }, t("cap.embeddings")));
  }
  const present = ["vision", "reasoning", "tools"].filter((k) => c[k]);
  if (!present.length) return h("span", { class: "muted" }, t("models.text_only"));
  return h("div", { class: "chips" }, present.map((k) => h("span", { class: "badge plain info" }, t(`cap.${k}`))));
}

function unpriced() {
  return h("span", { class: "muted", title: t("models.unpriced_title") }, "—");
}

function copyName(id) {
  return iconButton("copy", t("models.copy_name", { name: id }), async () => {
    if (await copyText(id)) toast(t("models.copied", { name: id }));
  });
}

export async function mount(root, { me, signal }) {
  const admin = me.role === "admin";
  const search = h("input", { class: "input", type: "search", placeholder: t("models.filter"),
    "aria-label": t("models.filter") });
  search.style.maxWidth = "240px";
  const body = h("div", null, loading(t("models.loading")));
  const count = h("h2");
  clear(root,
    h("div", { class: "page-head" },
      h("div", null, h("h1", null, t("route.models")),
        h("p", null, admin ? t("models.intro_admin") : t("models.intro_customer"))),
      h("div", { class: "actions" }, search,
        h("a", { class: "btn", href: "/models", target: "_blank", rel: "noopener" }, t("models.catalogue")))),
    h("section", { class: "card" }, h("div", { class: "card-head" }, count), body));

  let models = [];
  try {
    if (admin) {
      models = (await api("/admin/models", { signal })).data;
    } else {
      models = (await api("/v1/models", { signal })).data;
    }
  } catch (e) {
    if (e.name === "AbortError") return;
    clear(body, h("div", { class: "card-body" }, errorAlert(e, t("models.load_failed"))));
    return;
  }
  models.sort((a, b) => a.id.localeCompare(b.id));

  function render() {
    const q = search.value.trim().toLowerCase();
    const rows = models.filter((m) => !q || m.id.toLowerCase().includes(q) ||
      (m.provider || m.owned_by || "").toLowerCase().includes(q));
    count.textContent = tn("models.count", models.length);
    if (!models.length) {
      clear(body, empty({ iconName: "models", title: t("models.none"),
        text: admin ? t("models.none_admin") : t("models.none_customer") }));
      return;
    }
    if (!rows.length) {
      clear(body, empty({ iconName: "search", title: t("models.no_match"), text: t("models.no_match_hint") }));
      return;
    }
    const head = admin
      ? ["models.model", "models.provider", "models.capabilities", "models.input", "models.output",
        "models.cached", "models.health"].map((k) => t(k))
      : [t("models.model"), t("models.owned_by"), ""];
    const perMillion = (i) => t("models.per_million", { what: head[i] });
    const table = h("table", { class: "table responsive", "aria-label": t("route.models") },
      h("thead", null, h("tr", null, head.map((text, i) => h("th", { scope: "col",
        class: admin && i >= 3 && i <= 5 ? "num" : null }, text)))),
      h("tbody", null, rows.map((m) => admin
        ? h("tr", null,
          h("td", { class: "primary-cell" }, h("div", { class: "inline" }, h("span", { class: "cell-title mono" }, m.id), copyName(m.id)),
            m.aliases && m.aliases.length ? h("div", { class: "cell-sub" }, t("models.aliases", { list: m.aliases.join(", ") })) : null,
            m.description ? h("div", { class: "muted small" }, m.description) : null),
          h("td", { "data-label": head[1] }, m.provider),
          h("td", { "data-label": head[2] }, capabilities(m.capabilities)),
          h("td", { "data-label": perMillion(3), class: "num" }, m.price ? fmtPrice(m.price.input) : unpriced()),
          h("td", { "data-label": perMillion(4), class: "num" }, m.price ? fmtPrice(m.price.output) : unpriced()),
          h("td", { "data-label": perMillion(5), class: "num" }, m.price ? fmtPrice(m.price.cached_input) : unpriced()),
          h("td", { "data-label": head[6] }, health(m.health)))
        : h("tr", null,
          h("td", { class: "primary-cell" }, h("span", { class: "cell-title mono" }, m.id)),
          h("td", { "data-label": head[1] }, m.owned_by || "—"),
          h("td", { class: "actions-cell" }, h("div", { class: "row-actions" },
            h("a", { class: "btn btn-sm", href: `#/playground?model=${encodeURIComponent(m.id)}` }, t("models.try")),
            copyName(m.id)))))));
    const note = admin ? h("div", { class: "card-foot" }, t("models.price_note")) : null;
    clear(body, h("div", { class: "table-wrap" }, table), note);
  }
  search.addEventListener("input", render);
  render();
}
