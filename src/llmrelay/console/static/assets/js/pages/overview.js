// Overview: the admin's relay at a glance, or a customer's budget, limits and quick start.
import { api, usageApi } from "../api.js";
import { stackedBarChart, topSeries } from "../charts.js";
import { t, tn } from "../i18n.js";
import { icon } from "../icons.js";
import { badge, clear, empty, errorAlert, fmtCompact, fmtDate, fmtInt, fmtRelative, fmtUSD, h,
  copyButton, fill, loading } from "../ui.js";
import { METRICS, rangeBuckets, toSeries, totals } from "../usage-data.js";
import { budgetCell, limitsText, modelsCell, newestFirst, statusBadge, STATUSES } from "./keys.js";

function stat(label, iconName, value, sub) {
  return h("div", { class: "card stat" }, h("div", { class: "stat-label" }, icon(iconName), label),
    h("div", { class: "stat-value" }, value), h("div", { class: "stat-sub" }, sub));
}

function quickStart(model) {
  const base = `${location.origin}/v1`;
  const json = `{"model": ${JSON.stringify(model || "MODEL")}, "messages": [{"role": "user", "content": ${
    JSON.stringify(t("cat.example_prompt"))}}]}`;
  const code = [
    `curl ${base}/chat/completions \\`,
    '  -H "Authorization: Bearer $LLMRELAY_KEY" -H "Content-Type: application/json" \\',
    `  -d '${json.replaceAll("'", "'\\''")}'`,
  ].join("\n");
  // The copy button sits in the card's head, never over the code (which scrolls sideways on
  // a phone, under anything laid over it).
  return h("section", { class: "card" },
    h("div", { class: "card-head" }, h("h2", null, t("overview.quick_start")), copyButton(() => code)),
    h("div", { class: "card-body" },
      h("p", { class: "muted" }, fill(t("overview.quick_hint"), { base: h("code", null, base) })),
      h("div", { class: "section" }, h("pre", { class: "code" }, code))));
}

async function usageCards(me, signal) {
  const range = rangeBuckets("7d");
  const rows = (await usageApi(me.role).usage({ group_by: "day,model", start: range.start }, signal)).data;
  const sum = totals(rows);
  const stats = h("div", { class: "stats" },
    stat(t("overview.requests_7d"), "activity", fmtInt(sum.requests), tn("overview.errors", sum.errors)),
    stat(t("overview.tokens_7d"), "hash", fmtCompact(sum.total_tokens),
      t("usage.in_out", { in: fmtCompact(sum.prompt_tokens), out: fmtCompact(sum.completion_tokens) })),
    stat(t("overview.spend_7d"), "coins", fmtUSD(sum.cost_usd), t("overview.all_models")));
  const chartCard = h("section", { class: "card section" },
    h("div", { class: "card-head" }, h("h2", null, t("overview.by_model")),
      h("a", { href: "#/usage", class: "btn btn-sm" }, t("overview.open_usage"))));
  let chart = null;
  if (rows.length) {
    chart = stackedBarChart({ buckets: range.buckets,
      series: topSeries(toSeries(rows, { ...range, by: "model", metric: "requests" })),
      format: METRICS.requests.format, exact: METRICS.requests.exact, height: 200, label: t("overview.chart_label") });
    chartCard.append(h("div", { class: "card-body" }, chart));
  } else {
    chartCard.append(empty({ iconName: "usage", title: t("overview.no_requests"),
      text: t("overview.no_requests_hint"),
      action: h("a", { class: "btn", href: "#/playground" }, icon("playground"), t("common.open_playground")) }));
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
  usage.stats.append(stat(t("route.keys"), "key", fmtInt(keyList.data.length), keyCounts(keyList.data)));

  const providers = ready && ready.providers ? Object.entries(ready.providers) : [];
  const healthCard = h("section", { class: "card" },
    h("div", { class: "card-head" }, h("h2", null, t("overview.health")),
      ready ? badge(ready.status === "ready" ? t("overview.ready") : t("overview.degraded"),
        ready.status === "ready" ? "success" : "danger")
        : badge(t("overview.unknown"), "warning")),
    h("div", { class: "card-body" },
      ready && ready.problems ? h("div", { class: "alert error" }, icon("alert"), ready.problems.join("; ")) : null,
      h("dl", { class: "kv" },
        h("dt", null, t("route.models")), h("dd", null, fmtInt(ready ? ready.models : models.data.length)),
        providers.map(([name, p]) => [h("dt", null, name),
          h("dd", { class: "inline" }, h("span", { class: `dot ${p.ready === false || p.status === "error" ? "bad" : "ok"}` }),
            typeof p === "object" && p.ready === false ? t("overview.provider_not_ready") : t("overview.provider_ready"))]))));

  const recent = newestFirst(keyList.data).slice(0, 5);
  const keysCard = h("section", { class: "card" },
    h("div", { class: "card-head" }, h("h2", null, t("overview.newest_keys")),
      h("a", { href: "#/keys", class: "btn btn-sm" }, t("overview.manage_keys"))),
    recent.length
      ? h("div", { class: "card-body" }, h("dl", { class: "kv" }, recent.map((k) => [
        h("dt", null, k.name), h("dd", { class: "inline" }, statusBadge(k.status),
          h("span", { class: "muted small" }, t("overview.created", { when: fmtRelative(k.created_at) })))])))
      : empty({ iconName: "key", title: t("keys.none"), text: t("overview.keys_hint"),
        action: h("a", { class: "btn btn-primary", href: "#/keys" }, t("overview.go_keys")) }));

  clear(root,
    h("div", { class: "page-head" }, h("div", null, h("h1", null, t("route.overview")),
      h("p", null, t("overview.intro")))),
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
    h("span", { class: "nowrap" }, t("overview.status_count", { n: fmtInt(count(s)), status: t(`status.${s}`) }))]));
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
    h("div", { class: "card-head" }, h("h2", null, t("overview.budget")),
      statusBadge(key.status)),
    h("div", { class: "card-body" },
      h("div", { class: "stat-label" }, t("overview.remaining")),
      h("div", { class: "stat-value", dataset: { testid: "remaining" } },
        remaining === null || remaining === undefined ? t("overview.no_limit") : fmtUSD(remaining)),
      h("div", { class: "section" }, budgetCell(key)),
      key.budget_resets_at ? h("p", { class: "muted small section" }, t("overview.resets", { date: fmtDate(key.budget_resets_at) })) : null));
  const detailsCard = h("section", { class: "card" },
    h("div", { class: "card-head" }, h("h2", null, t("overview.your_key"))),
    h("div", { class: "card-body" }, h("dl", { class: "kv" },
      h("dt", null, t("keys.name")), h("dd", null, key.name),
      h("dt", null, t("overview.key")), h("dd", { class: "mono" }, `${key.key_prefix}…`),
      h("dt", null, t("route.models")), h("dd", null, modelsCell(key.models)),
      h("dt", null, t("keys.rate_limits")), h("dd", null, limitsText(key)),
      h("dt", null, t("keys.expires")), h("dd", null, key.expires_at ? fmtDate(key.expires_at) : t("keys.never")),
      h("dt", null, t("overview.allowed_ips")),
      h("dd", null, key.allowed_ips && key.allowed_ips.length ? key.allowed_ips.join(", ") : t("overview.anywhere")))));
  clear(root,
    h("div", { class: "page-head" }, h("div", null, h("h1", null, t("overview.welcome", { name: key.name })),
      h("p", null, t("overview.customer_intro")))),
    h("div", { class: "cols" }, budgetCard, detailsCard),
    h("div", { class: "section" }, usage.stats), usage.chartCard,
    h("div", { class: "section" }, quickStart(pickModel(usage.busiest, models.data))));
  return usage.chart;
}

export async function mount(root, { me, signal }) {
  clear(root, loading(t("overview.loading")));
  let chart = null;
  try {
    chart = me.role === "admin" ? await adminOverview(root, me, signal) : await customerOverview(root, me, signal);
  } catch (e) {
    if (e.name === "AbortError") return () => {};
    clear(root, h("div", { class: "page-head" }, h("h1", null, t("route.overview"))),
      errorAlert(e, t("overview.failed")));
  }
  return () => { if (chart) chart.destroy(); };
}
