// Models (模型一览): name, provider, capabilities, prices per million tokens, health.
import { api } from "../api.js";
import { copyText, clear, empty, errorAlert, fmtPrice, h, iconButton, loading, toast } from "../ui.js";

const STATE = {
  healthy: ["ok", "Healthy"],
  half_open: ["warn", "Recovering"],
  cooldown: ["bad", "Cooling down"],
};

function health(deployments) {
  if (!deployments || !deployments.length) return h("span", { class: "muted" }, "—");
  const states = deployments.map((d) => d.state);
  const worst = states.includes("cooldown") ? (states.every((s) => s === "cooldown") ? "cooldown" : "half_open")
    : states.includes("half_open") ? "half_open" : "healthy";
  const [cls, text] = STATE[worst] || ["", worst];
  const healthy = states.filter((s) => s === "healthy").length;
  const detail = deployments.map((d) => {
    const [, label] = STATE[d.state] || ["", d.state];
    const wait = d.state === "cooldown" && d.cooldown_remaining_seconds
      ? ` (${Math.ceil(d.cooldown_remaining_seconds)} s left)` : "";
    return `${d.provider} → ${d.upstream_model}: ${label}${wait}`;
  }).join("\n");
  return h("span", { class: "inline", title: detail },
    h("span", { class: `dot ${cls}`, "aria-hidden": "true" }),
    deployments.length > 1 ? `${text} · ${healthy}/${deployments.length}` : text);
}

function capabilities(c) {
  if (!c) return h("span", { class: "muted" }, "—");
  if (c.endpoints && !c.endpoints.includes("chat")) {
    return h("div", { class: "chips" }, h("span", { class: "badge plain info" }, "Embeddings"));
  }
  const items = [["vision", "Vision"], ["reasoning", "Reasoning"], ["tools", "Tools"]];
  const present = items.filter(([k]) => c[k]);
  if (!present.length) return h("span", { class: "muted" }, "Text only");
  return h("div", { class: "chips" }, present.map(([, label]) => h("span", { class: "badge plain info" }, label)));
}

function unpriced() {
  return h("span", { class: "muted", title: "No price set: requests cost nothing" }, "—");
}

function copyName(id) {
  return iconButton("copy", `Copy ${id}`, async () => {
    if (await copyText(id)) toast(`Copied ${id}`);
  });
}

export async function mount(root, { me, signal }) {
  const admin = me.role === "admin";
  const search = h("input", { class: "input", type: "search", placeholder: "Filter models",
    "aria-label": "Filter models" });
  search.style.maxWidth = "240px";
  const body = h("div", null, loading("Loading models…"));
  const count = h("h2");
  clear(root,
    h("div", { class: "page-head" },
      h("div", null, h("h1", null, "Models"),
        h("p", null, admin ? "Every public model name, where it is served, what it can do and what it costs."
          : "The models your key may use. Pass the name as the model field of a request.")),
      search),
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
    clear(body, h("div", { class: "card-body" }, errorAlert(e, "Could not load the models")));
    return;
  }
  models.sort((a, b) => a.id.localeCompare(b.id));

  function render() {
    const q = search.value.trim().toLowerCase();
    const rows = models.filter((m) => !q || m.id.toLowerCase().includes(q) ||
      (m.provider || m.owned_by || "").toLowerCase().includes(q));
    count.textContent = `${models.length} ${models.length === 1 ? "model" : "models"}`;
    if (!models.length) {
      clear(body, empty({ iconName: "models", title: "No models available",
        text: admin ? "Add models and providers to the relay's configuration file." : "Your key may not use any model. Ask the relay's operator." }));
      return;
    }
    if (!rows.length) {
      clear(body, empty({ iconName: "search", title: "No models match", text: "Try another filter." }));
      return;
    }
    const head = admin
      ? ["Model", "Provider", "Capabilities", "Input", "Output", "Cached input", "Health"]
      : ["Model", "Owned by", ""];
    const table = h("table", { class: "table responsive", "aria-label": "Models" },
      h("thead", null, h("tr", null, head.map((t, i) => h("th", { scope: "col",
        class: admin && i >= 3 && i <= 5 ? "num" : null }, t)))),
      h("tbody", null, rows.map((m) => admin
        ? h("tr", null,
          h("td", { class: "primary-cell" }, h("div", { class: "inline" }, h("span", { class: "cell-title mono" }, m.id), copyName(m.id)),
            m.aliases && m.aliases.length ? h("div", { class: "cell-sub" }, `aliases: ${m.aliases.join(", ")}`) : null,
            m.description ? h("div", { class: "muted small" }, m.description) : null),
          h("td", { "data-label": "Provider" }, m.provider),
          h("td", { "data-label": "Capabilities" }, capabilities(m.capabilities)),
          h("td", { "data-label": "Input / 1M", class: "num" }, m.price ? fmtPrice(m.price.input) : unpriced()),
          h("td", { "data-label": "Output / 1M", class: "num" }, m.price ? fmtPrice(m.price.output) : unpriced()),
          h("td", { "data-label": "Cached / 1M", class: "num" }, m.price ? fmtPrice(m.price.cached_input) : unpriced()),
          h("td", { "data-label": "Health" }, health(m.health)))
        : h("tr", null,
          h("td", { class: "primary-cell" }, h("span", { class: "cell-title mono" }, m.id)),
          h("td", { "data-label": "Owned by" }, m.owned_by || "—"),
          h("td", { class: "actions-cell" }, h("div", { class: "row-actions" },
            h("a", { class: "btn btn-sm", href: `#/playground?model=${encodeURIComponent(m.id)}` }, "Try it"),
            copyName(m.id)))))));
    const note = admin ? h("div", { class: "card-foot" },
      "Prices are USD per million tokens; reasoning tokens count as output. — means no price is set: such requests cost nothing.") : null;
    clear(body, h("div", { class: "table-wrap" }, table), note);
  }
  search.addEventListener("input", render);
  render();
}
