// Overview: the admin's relay at a glance, or a customer's budget, limits and quick start.
import { api, usageApi } from "../api.js";
import { stackedBarChart, topSeries } from "../charts.js";
import { icon } from "../icons.js";
import { badge, clear, empty, errorAlert, fmtCompact, fmtDate, fmtInt, fmtRelative, fmtUSD, h,
  copyButton, loading, plural } from "../ui.js";
import { METRICS, rangeBuckets, toSeries, totals } from "../usage-data.js";
import { budgetCell, limitsText, modelsCell, newestFirst, statusBadge, STATUSES } from "./keys.js";

function stat(label, iconName, value, sub) {
  return h("div", { class: "card stat" }, h("div", { class: "stat-label" }, icon(iconName), label),
    h("div", { class: "stat-value" }, value), h("div", { class: "stat-sub" }, sub));
}

function quickStart(model) {
  const base = `${location.origin}/v1`;
  const code = [
    `curl ${base}/chat/completions \\`,
    '  -H "Authorization: Bearer $LLMRELAY_KEY" -H "Content-Type: application/json" \\',
    `  -d '{"model": "${model || "MODEL"}", "messages": [{"role": "user", "content": "Hello!"}]}'`,
  ].join("\n");
  // The copy button sits in the card's head, never over the code (which scrolls sideways on
  // a phone, under anything laid over it).
  return h("section", { class: "card" },
    h("div", { class: "card-head" }, h("h2", null, "Quick start"), copyButton(() => code)),
    h("div", { class: "card-body" },
      h("p", { class: "muted" }, "Point any OpenAI SDK at ", h("code", null, base),
        " with your key as the API key."),
      h("div", { class: "section" }, h("pre", { class: "code" }, code))));
}

async function usageCards(me, signal) {
  const range = rangeBuckets("7d");
  const rows = (await usageApi(me.role).usage({ group_by: "day,model", start: range.start }, signal)).data;
  const t = totals(rows);
  const stats = h("div", { class: "stats" },
    stat("Requests · 7 days", "activity", fmtInt(t.requests), plural(t.errors, "error")),
    stat("Tokens · 7 days", "hash", fmtCompact(t.total_tokens),
      `${fmtCompact(t.prompt_tokens)} in · ${fmtCompact(t.completion_tokens)} out`),
    stat("Spend · 7 days", "coins", fmtUSD(t.cost_usd), "across all models"));
  const chartCard = h("section", { class: "card section" },
    h("div", { class: "card-head" }, h("h2", null, "Requests by model"),
      h("a", { href: "#/usage", class: "btn btn-sm" }, "Open usage")));
  let chart = null;
  if (rows.length) {
    chart = stackedBarChart({ buckets: range.buckets,
      series: topSeries(toSeries(rows, { ...range, by: "model", metric: "requests" })),
      format: METRICS.requests.format, exact: METRICS.requests.exact, height: 200, label: "Requests by model, last 7 days" });
    chartCard.append(h("div", { class: "card-body" }, chart));
  } else {
    chartCard.append(empty({ iconName: "usage", title: "No requests in the last 7 days",
      text: "Send one from the playground to see it here.",
      action: h("a", { class: "btn", href: "#/playground" }, icon("playground"), "Open the playground") }));
  }
  const byModel = new Map();
  for (const r of rows) byModel.set(r.model, (byModel.get(r.model) || 0) + r.requests);
  const busiest = [...byModel.entries()].sort((a, b) => b[1] - a[1]).map(([m]) => m);
  return { stats, chartCard, chart, busiest };
}

async function adminOverview(root, me, signal) {
  const [keyList, ready, models] = await Promise.all([
    api("/admin/keys", { signal }),
    fetch("/readyz", { signal }).then((r) => r.json()).catch(() => null),
    api("/v1/models", { signal }).catch(() => ({ data: [] })),
  ]);
  const usage = await usageCards(me, signal);
  usage.stats.append(stat("API keys", "key", fmtInt(keyList.data.length), keyCounts(keyList.data)));

  const providers = ready && ready.providers ? Object.entries(ready.providers) : [];
  const healthCard = h("section", { class: "card" },
    h("div", { class: "card-head" }, h("h2", null, "Relay health"),
      ready ? badge(ready.status === "ready" ? "Ready" : "Degraded", ready.status === "ready" ? "success" : "danger")
        : badge("Unknown", "warning")),
    h("div", { class: "card-body" },
      ready && ready.problems ? h("div", { class: "alert error" }, icon("alert"), ready.problems.join("; ")) : null,
      h("dl", { class: "kv" },
        h("dt", null, "Models"), h("dd", null, fmtInt(ready ? ready.models : models.data.length)),
        providers.map(([name, p]) => [h("dt", null, name),
          h("dd", { class: "inline" }, h("span", { class: `dot ${p.ready === false || p.status === "error" ? "bad" : "ok"}` }),
            typeof p === "object" ? (p.status || (p.ready === false ? "not ready" : "ready")) : String(p))]))));

  const recent = newestFirst(keyList.data).slice(0, 5);
  const keysCard = h("section", { class: "card" },
    h("div", { class: "card-head" }, h("h2", null, "Newest keys"), h("a", { href: "#/keys", class: "btn btn-sm" }, "Manage keys")),
    recent.length
      ? h("div", { class: "card-body" }, h("dl", { class: "kv" }, recent.map((k) => [
        h("dt", null, k.name), h("dd", { class: "inline" }, statusBadge(k.status),
          h("span", { class: "muted small" }, `created ${fmtRelative(k.created_at)}`))])))
      : empty({ iconName: "key", title: "No keys yet — create one", text: "Each app or customer gets its own key.",
        action: h("a", { class: "btn btn-primary", href: "#/keys" }, "Go to API keys") }));

  clear(root,
    h("div", { class: "page-head" }, h("div", null, h("h1", null, "Overview"),
      h("p", null, "Your relay at a glance: traffic, spend and health."))),
    usage.stats, usage.chartCard,
    h("div", { class: "cols section" }, keysCard, healthCard),
    h("div", { class: "section" }, quickStart(pickModel(usage.busiest, models.data))));
  return usage.chart;
}

/** "3 active · 1 disabled · 2 revoked": every status some key is in (active always). */
function keyCounts(keys) {
  const count = (status) => keys.filter((k) => k.status === status).length;
  const parts = STATUSES.filter((s) => s === "active" || count(s) > 0);
  // Wrap only between counts, never inside one.
  return h("span", null, parts.map((s, i) => [i ? " · " : null,
    h("span", { class: "nowrap" }, `${fmtInt(count(s))} ${s}`)]));
}

/** The model to show in the quick start: the busiest one this week that is listed, else any. */
function pickModel(busiest, listed) {
  const ids = new Set(listed.map((m) => m.id));
  return busiest.find((m) => ids.has(m)) || (listed[0] && listed[0].id);
}

async function customerOverview(root, me, signal) {
  const [key, models] = await Promise.all([api("/v1/key", { signal }),
    api("/v1/models", { signal }).catch(() => ({ data: [] }))]);
  const usage = await usageCards(me, signal);
  const remaining = key.budget_remaining_usd;
  const budgetCard = h("section", { class: "card" },
    h("div", { class: "card-head" }, h("h2", null, "Budget"),
      statusBadge(key.status)),
    h("div", { class: "card-body" },
      h("div", { class: "stat-label" }, "Remaining"),
      h("div", { class: "stat-value", dataset: { testid: "remaining" } }, remaining === null || remaining === undefined ? "No limit" : fmtUSD(remaining)),
      h("div", { class: "section" }, budgetCell(key)),
      key.budget_resets_at ? h("p", { class: "muted small section" }, `Resets ${fmtDate(key.budget_resets_at)}`) : null));
  const detailsCard = h("section", { class: "card" },
    h("div", { class: "card-head" }, h("h2", null, "Your key")),
    h("div", { class: "card-body" }, h("dl", { class: "kv" },
      h("dt", null, "Name"), h("dd", null, key.name),
      h("dt", null, "Key"), h("dd", { class: "mono" }, `${key.key_prefix}…`),
      h("dt", null, "Models"), h("dd", null, modelsCell(key.models)),
      h("dt", null, "Rate limits"), h("dd", null, limitsText(key)),
      h("dt", null, "Expires"), h("dd", null, key.expires_at ? fmtDate(key.expires_at) : "Never"),
      h("dt", null, "Allowed IPs"), h("dd", null, key.allowed_ips && key.allowed_ips.length ? key.allowed_ips.join(", ") : "Anywhere"))));
  clear(root,
    h("div", { class: "page-head" }, h("div", null, h("h1", null, `Welcome, ${key.name}`),
      h("p", null, "Your key's budget, limits and recent usage."))),
    h("div", { class: "cols" }, budgetCard, detailsCard),
    h("div", { class: "section" }, usage.stats), usage.chartCard,
    h("div", { class: "section" }, quickStart(pickModel(usage.busiest, models.data))));
  return usage.chart;
}

export async function mount(root, { me, signal }) {
  clear(root, loading("Loading overview…"));
  let chart = null;
  try {
    chart = me.role === "admin" ? await adminOverview(root, me, signal) : await customerOverview(root, me, signal);
  } catch (e) {
    if (e.name === "AbortError") return () => {};
    clear(root, h("div", { class: "page-head" }, h("h1", null, "Overview")), errorAlert(e, "Could not load the overview"));
  }
  return () => { if (chart) chart.destroy(); };
}
