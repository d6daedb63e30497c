// Usage: totals, charts over time by model or key, and the request log with paging and CSV.
// A member sees their account's usage by model and key (the account has no request log).
import { account, api, keysFor, usageApi } from "../api.js";
import { stackedBarChart, topSeries } from "../charts.js";
import { locale, t } from "../i18n.js";
import { icon } from "../icons.js";
import { setParams } from "../router.js";
import { badge, busy, button, clear, download, empty, errorAlert, fmtCompact, fmtDate, fmtInt,
  fmtMs, fmtRelative, fmtUSD, h, loading, segmented, toast } from "../ui.js";
import { DOOR_NAMES, METRICS, RANGES, rangeBuckets, toSeries, totals } from "../usage-data.js";

const PAGE_SIZE = 25;

export async function mount(root, { me, params, signal }) {
  const admin = me.role === "admin";
  const member = me.role === "member";
  const byKey = admin || member;
  const source = usageApi(me.role);
  const state = {
    range: RANGES[params.get("range")] ? params.get("range") : "7d",
    metric: METRICS[params.get("metric")] ? params.get("metric") : "total_tokens",
    by: ["key", "endpoint"].includes(params.get("by")) && (byKey || params.get("by") === "endpoint")
      ? params.get("by") : "model",
    model: params.get("model") || "",
    key: byKey ? params.get("key") || "" : "",
    status: params.get("status") || "",
  };
  const charts = [];
  const save = () => setParams({ range: state.range, metric: state.metric,
    by: state.by === "model" ? null : state.by, model: state.model, key: state.key, status: state.status });

  const modelSelect = h("select", { class: "select", id: "usage-model" },
    h("option", { value: "" }, t("keys.all_models")));
  const keySelect = h("select", { class: "select", id: "usage-key" },
    h("option", { value: "" }, t("usage.all_keys")));
  const statusSelect = h("select", { class: "select", id: "usage-status" },
    h("option", { value: "" }, t("usage.any_status")), h("option", { value: "ok" }, t("usage.succeeded")),
    h("option", { value: "error" }, t("usage.failed")));
  statusSelect.value = state.status;

  const statsEl = h("div", { class: "stats" });
  const chartBody = h("div", { class: "card-body" });
  const logBody = h("div");
  const logFoot = h("div", { class: "card-foot" });
  const chartTitle = h("h2");

  const filters = h("div", { class: "actions" },
    segmented(t("usage.range"), Object.keys(RANGES).map((k) => [k, t(`range.${k}`)]), state.range, (v) => {
      state.range = v;
      save();
      loadAggregates();
      loadLog(true);
    }),
    h("label", { class: "visually-hidden", for: "usage-model" }, t("models.model")), modelSelect,
    byKey ? [h("label", { class: "visually-hidden", for: "usage-key" }, t("overview.key")), keySelect] : null,
    button(t("common.refresh"), { iconName: "refresh", onClick: () => { loadAggregates(); loadLog(true); } }));
  modelSelect.style.width = "auto";
  keySelect.style.width = "auto";

  const metricControl = segmented(t("usage.metric"), Object.keys(METRICS).map((k) => [k, t(`metric.${k}`)]),
    state.metric, (v) => { state.metric = v; save(); renderChart(); });
  const byChoices = [["model", t("usage.by_model")], byKey ? ["key", t("usage.by_key")] : null,
    ["endpoint", t("usage.by_door")]];
  const byControl = segmented(t("usage.group_by"), byChoices.filter(Boolean), state.by, (v) => {
    state.by = v;
    save();
    loadAggregates();
  });

  const exportBtn = admin ? button(t("usage.export"), { iconName: "download", small: true }) : null;
  if (exportBtn) {
    exportBtn.addEventListener("click", () => busy(exportBtn, async () => {
      try {
        const response = await source.csv(logFilters());
        download(`llmrelay-requests-${new Date().toISOString().slice(0, 10)}.csv`, await response.blob());
      } catch (e) {
        toast(t("usage.export_failed", { message: e.message }), "error");
      }
    }));
  }

  clear(root,
    h("div", { class: "page-head" },
      h("div", null, h("h1", null, t("route.usage")),
        h("p", null, t(admin ? "usage.intro_admin" : member ? "usage.intro_member" : "usage.intro_customer"))),
      filters),
    statsEl,
    h("section", { class: "card section", "aria-labelledby": "chart-title", dataset: { testid: "usage-chart" } },
      h("div", { class: "card-head" }, chartTitle, h("div", { class: "actions" }, metricControl, byControl)),
      chartBody),
    member ? null : h("section", { class: "card section", "aria-labelledby": "log-title" },
      h("div", { class: "card-head" }, h("h2", { id: "log-title" }, t("usage.log")),
        h("div", { class: "actions" }, h("label", { class: "visually-hidden", for: "usage-status" }, t("keys.status")),
          statusSelect, exportBtn)),
      logBody, logFoot));
  chartTitle.id = "chart-title";
  statusSelect.style.width = "auto";

  // ---------- filters ----------
  function commonFilters() {
    const { start } = rangeBuckets(state.range);
    return { start, model: state.model || null, key_id: state.key || null };
  }
  function logFilters() {
    return { ...commonFilters(), status: state.status || null };
  }
  modelSelect.addEventListener("change", () => { state.model = modelSelect.value; save(); loadAggregates(); loadLog(true); });
  keySelect.addEventListener("change", () => { state.key = keySelect.value; save(); loadAggregates(); loadLog(true); });
  statusSelect.addEventListener("change", () => { state.status = statusSelect.value; save(); loadLog(true); });

  async function loadOptions() {
    try {
      const models = member ? { data: (await account.show(signal)).models.map((id) => ({ id })) }
        : await api("/v1/models", { signal });
      for (const m of models.data) modelSelect.append(h("option", { value: m.id }, m.id));
      if (state.model && ![...modelSelect.options].some((o) => o.value === state.model)) {
        modelSelect.append(h("option", { value: state.model }, state.model));
      }
      modelSelect.value = state.model;
      if (byKey) {
        const list = await keysFor(me).list(signal);
        for (const k of list.data) keySelect.append(h("option", { value: k.id }, k.name));
        keySelect.value = state.key;
      }
    } catch (e) {
      if (e.name !== "AbortError") console.warn("filter options", e);
    }
  }

  // ---------- aggregates ----------
  let aggregate = null;
  let aggToken = 0;
  async function loadAggregates() {
    const token = ++aggToken;
    const range = rangeBuckets(state.range);
    clear(chartBody, loading(t("usage.loading")));
    statsEl.replaceChildren(...["requests", "total_tokens", "cost_usd", "errors"].map((k) =>
      h("div", { class: "card stat" }, h("div", { class: "stat-label" }, t(`metric.${k}`)),
        h("div", { class: "skeleton" }))));
    try {
      const rows = (await source.usage({ ...commonFilters(), group_by: `${range.grain},${state.by}` },
        signal)).data;
      if (token !== aggToken) return;
      aggregate = { rows, range, by: state.by };
      renderStats(totals(rows));
      renderChart();
    } catch (e) {
      if (e.name === "AbortError" || token !== aggToken) return;
      clear(chartBody, errorAlert(e, t("usage.load_failed")));
      statsEl.replaceChildren();
    }
  }

  function renderStats(sum) {
    const rate = sum.requests ? (sum.errors / sum.requests) * 100 : 0;
    const card = (label, iconName, value, sub) => h("div", { class: "card stat" },
      h("div", { class: "stat-label" }, icon(iconName), label),
      h("div", { class: "stat-value" }, value), h("div", { class: "stat-sub" }, sub));
    statsEl.replaceChildren(
      card(t("metric.requests"), "activity", fmtInt(sum.requests), t("usage.last", { range: t(`range.${state.range}`) })),
      card(t("metric.total_tokens"), "hash", fmtCompact(sum.total_tokens),
        t("usage.in_out", { in: fmtCompact(sum.prompt_tokens), out: fmtCompact(sum.completion_tokens) })),
      card(t("metric.cost_usd"), "coins", fmtUSD(sum.cost_usd),
        sum.requests ? t("usage.per_request", { cost: fmtUSD(sum.cost_usd / sum.requests) }) : t("usage.no_spend")),
      card(t("metric.errors"), "alert", fmtInt(sum.errors), t("usage.error_rate", { rate: rate.toFixed(rate && rate < 1 ? 2 : 1) })));
  }

  function renderChart() {
    const metric = METRICS[state.metric];
    const label = t(`metric.${state.metric}`);
    chartTitle.textContent = t("usage.chart_title", { metric: label, by: t(`by.${aggregate ? aggregate.by : state.by}`) });
    for (const c of charts.splice(0)) c.destroy();
    if (!aggregate) return;
    const { rows, range, by } = aggregate;
    if (!rows.length) {
      clear(chartBody, empty({ iconName: "usage", title: t("usage.none"),
        text: member ? t("usage.none_member") : t("usage.none_hint"), action: member ? null : h("a", { class: "btn", href: "#/playground" }, icon("playground"), t("common.open_playground")) }));
      return;
    }
    const series = topSeries(toSeries(rows, { ...range, by, metric: state.metric }));
    const chart = stackedBarChart({ buckets: range.buckets, series, format: metric.format, exact: metric.exact,
      label: t("usage.chart_label", { metric: label, by: t(`by.${by}`), range: t(`range.${state.range}`) }) });
    charts.push(chart);
    clear(chartBody, chart);
  }

  // ---------- request log ----------
  const cursors = [null];
  let page = 0;
  let logToken = 0;
  async function loadLog(reset = false) {
    if (!source.requests) return;
    if (reset) {
      cursors.length = 1;
      page = 0;
    }
    const token = ++logToken;
    clear(logBody, loading(t("usage.loading_log")));
    clear(logFoot);
    try {
      const result = await source.requests({ ...logFilters(), limit: PAGE_SIZE, cursor: cursors[page] },
        signal);
      if (token !== logToken) return;
      cursors[page + 1] = result.next_cursor;
      renderLog(result);
    } catch (e) {
      if (e.name === "AbortError" || token !== logToken) return;
      clear(logBody, h("div", { class: "card-body" }, errorAlert(e, t("usage.log_failed"))));
    }
  }

  function statusBadge(r) {
    if (r.status < 400) {
      return r.client_disconnected ? badge(t("usage.client_left"), "warning") : badge(String(r.status), "success");
    }
    return h("div", { class: "status-error" }, badge(String(r.status), "danger"),
      r.error_code ? h("div", { class: "cell-sub" }, r.error_code) : null);
  }

  function when(seconds) {
    const d = new Date(seconds * 1000);
    const today = new Date().toDateString() === d.toDateString();
    const time = d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    return today ? time : `${d.toLocaleDateString(locale, { month: "short", day: "numeric" })}, ${time}`;
  }

  function renderLog(result) {
    if (!result.data.length) {
      clear(logBody, empty({ iconName: "activity", title: page ? t("usage.no_more") : t("usage.no_match"),
        text: page ? t("usage.oldest") : t("usage.no_match_hint") }));
    } else {
      const headers = [t("usage.time"), admin ? t("overview.key") : null, t("models.model"), t("keys.status"),
        t("metric.total_tokens"), t("metric.cost_usd"), t("usage.latency"), t("usage.request")].filter(Boolean);
      const table = h("table", { class: "table responsive log" },
        h("thead", null, h("tr", null, headers.map((text, i) =>
          h("th", { scope: "col", class: i >= headers.length - 4 && i < headers.length - 1 ? "num" : null }, text)))),
        h("tbody", null, result.data.map((r) => h("tr", null,
          h("td", { "data-label": t("usage.time"), class: "nowrap", title: `${fmtDate(r.created_at)} (${fmtRelative(r.created_at)})` },
            when(r.created_at)),
          admin ? h("td", { "data-label": t("overview.key"), class: "nowrap" }, r.key_name || r.key_id || "—") : null,
          h("td", { "data-label": t("models.model"), class: "nowrap" }, h("span", { class: "mono" }, r.model || "—"),
            r.stream ? h("span", { class: "muted small", title: t("usage.streamed") }, " · SSE") : null,
            r.endpoint && r.endpoint !== "chat"
              ? h("span", { class: "muted small", title: t("usage.door_title") }, ` · ${DOOR_NAMES[r.endpoint] || r.endpoint}`)
              : null),
          h("td", { "data-label": t("keys.status") }, statusBadge(r)),
          h("td", { "data-label": t("usage.tokens_in_out"), class: "num",
            title: r.usage_estimated ? t("usage.estimated") : null },
          `${fmtInt(r.prompt_tokens)} → ${fmtInt(r.completion_tokens)}`, r.usage_estimated ? " ≈" : ""),
          h("td", { "data-label": t("metric.cost_usd"), class: "num" }, fmtUSD(r.cost_usd, { exact: true })),
          h("td", { "data-label": t("usage.latency"), class: "num hide-sm",
            title: r.ttft_ms != null ? t("usage.first_token", { ms: fmtMs(r.ttft_ms) }) : null },
            fmtMs(r.latency_ms)),
          h("td", { "data-label": t("usage.request"), class: "hide-sm" }, h("span", { class: "cell-sub req-id", title: r.request_id }, r.request_id),
            r.client_ip ? h("div", { class: "cell-sub muted", title: t("usage.client_ip") }, r.client_ip) : null)))));
      clear(logBody, h("div", { class: "table-wrap" }, table));
    }
    const prev = button(t("usage.newer"), { iconName: "chevronLeft", small: true, onClick: () => { page -= 1; loadLog(); } });
    const next = button(t("usage.older"), { small: true, onClick: () => { page += 1; loadLog(); } });
    next.append(icon("chevronRight"));
    prev.disabled = page === 0;
    next.disabled = !result.has_more;
    clear(logFoot, h("span", null, t("usage.page", { page: page + 1, size: PAGE_SIZE })), h("div", { class: "actions" }, prev, next));
  }

  loadOptions();
  loadAggregates();
  loadLog(true);
  return () => { for (const c of charts) c.destroy(); };
}
