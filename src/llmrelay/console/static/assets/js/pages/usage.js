// Usage: totals, charts over time by model or key, and the request log with paging and CSV.
import { api, keys as keysApi, usageApi } from "../api.js";
import { stackedBarChart, topSeries } from "../charts.js";
import { icon } from "../icons.js";
import { setParams } from "../router.js";
import { badge, busy, button, clear, download, empty, errorAlert, fmtCompact, fmtDate, fmtInt,
  fmtMs, fmtRelative, fmtUSD, h, loading, segmented, toast } from "../ui.js";
import { DOOR_NAMES, METRICS, RANGES, rangeBuckets, toSeries, totals } from "../usage-data.js";

const PAGE_SIZE = 25;

export async function mount(root, { me, params, signal }) {
  const admin = me.role === "admin";
  const source = usageApi(me.role);
  const state = {
    range: RANGES[params.get("range")] ? params.get("range") : "7d",
    metric: METRICS[params.get("metric")] ? params.get("metric") : "total_tokens",
    by: ["key", "endpoint"].includes(params.get("by")) && (admin || params.get("by") === "endpoint")
      ? params.get("by") : "model",
    model: params.get("model") || "",
    key: admin ? params.get("key") || "" : "",
    status: params.get("status") || "",
  };
  const charts = [];
  const save = () => setParams({ range: state.range, metric: state.metric,
    by: state.by === "model" ? null : state.by, model: state.model, key: state.key, status: state.status });

  const modelSelect = h("select", { class: "select", id: "usage-model" },
    h("option", { value: "" }, "All models"));
  const keySelect = h("select", { class: "select", id: "usage-key" },
    h("option", { value: "" }, "All keys"));
  const statusSelect = h("select", { class: "select", id: "usage-status" },
    h("option", { value: "" }, "Any status"), h("option", { value: "ok" }, "Succeeded"),
    h("option", { value: "error" }, "Failed"));
  statusSelect.value = state.status;

  const statsEl = h("div", { class: "stats" });
  const chartBody = h("div", { class: "card-body" });
  const logBody = h("div");
  const logFoot = h("div", { class: "card-foot" });
  const chartTitle = h("h2");

  const filters = h("div", { class: "actions" },
    segmented("Time range", Object.entries(RANGES).map(([k, r]) => [k, r.label]), state.range, (v) => {
      state.range = v;
      save();
      loadAggregates();
      loadLog(true);
    }),
    h("label", { class: "visually-hidden", for: "usage-model" }, "Model"), modelSelect,
    admin ? [h("label", { class: "visually-hidden", for: "usage-key" }, "Key"), keySelect] : null,
    button("Refresh", { iconName: "refresh", onClick: () => { loadAggregates(); loadLog(true); } }));
  modelSelect.style.width = "auto";
  keySelect.style.width = "auto";

  const metricControl = segmented("Metric", Object.entries(METRICS).map(([k, m]) => [k, m.label]),
    state.metric, (v) => { state.metric = v; save(); renderChart(); });
  const byChoices = [["model", "By model"], admin ? ["key", "By key"] : null, ["endpoint", "By door"]];
  const byControl = segmented("Group by", byChoices.filter(Boolean), state.by, (v) => {
    state.by = v;
    save();
    loadAggregates();
  });

  const exportBtn = admin ? button("Export CSV", { iconName: "download", small: true }) : null;
  if (exportBtn) {
    exportBtn.addEventListener("click", () => busy(exportBtn, async () => {
      try {
        const response = await source.csv(logFilters());
        download(`llmrelay-requests-${new Date().toISOString().slice(0, 10)}.csv`, await response.blob());
      } catch (e) {
        toast(`Export failed: ${e.message}`, "error");
      }
    }));
  }

  clear(root,
    h("div", { class: "page-head" },
      h("div", null, h("h1", null, "Usage"),
        h("p", null, admin ? "Tokens, spend and errors across every key and model. Days are UTC."
          : "Your key's tokens, spend and errors. Days are UTC.")),
      filters),
    statsEl,
    h("section", { class: "card section", "aria-labelledby": "chart-title", dataset: { testid: "usage-chart" } },
      h("div", { class: "card-head" }, chartTitle, h("div", { class: "actions" }, metricControl, byControl)),
      chartBody),
    h("section", { class: "card section", "aria-labelledby": "log-title" },
      h("div", { class: "card-head" }, h("h2", { id: "log-title" }, "Request log"),
        h("div", { class: "actions" }, h("label", { class: "visually-hidden", for: "usage-status" }, "Status"),
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
      const models = await api("/v1/models", { signal });
      for (const m of models.data) modelSelect.append(h("option", { value: m.id }, m.id));
      if (state.model && ![...modelSelect.options].some((o) => o.value === state.model)) {
        modelSelect.append(h("option", { value: state.model }, state.model));
      }
      modelSelect.value = state.model;
      if (admin) {
        const list = await keysApi.list(signal);
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
    clear(chartBody, loading("Loading usage…"));
    statsEl.replaceChildren(...["Requests", "Tokens", "Cost", "Errors"].map((l) =>
      h("div", { class: "card stat" }, h("div", { class: "stat-label" }, l),
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
      clear(chartBody, errorAlert(e, "Could not load usage"));
      statsEl.replaceChildren();
    }
  }

  function renderStats(t) {
    const rate = t.requests ? (t.errors / t.requests) * 100 : 0;
    const card = (label, iconName, value, sub) => h("div", { class: "card stat" },
      h("div", { class: "stat-label" }, icon(iconName), label),
      h("div", { class: "stat-value" }, value), h("div", { class: "stat-sub" }, sub));
    statsEl.replaceChildren(
      card("Requests", "activity", fmtInt(t.requests), `last ${RANGES[state.range].label}`),
      card("Tokens", "hash", fmtCompact(t.total_tokens),
        `${fmtCompact(t.prompt_tokens)} in · ${fmtCompact(t.completion_tokens)} out`),
      card("Cost", "coins", fmtUSD(t.cost_usd), t.requests ? `${fmtUSD(t.cost_usd / t.requests)} per request` : "no spend"),
      card("Errors", "alert", fmtInt(t.errors), `${rate.toFixed(rate && rate < 1 ? 2 : 1)}% of requests`));
  }

  function renderChart() {
    const metric = METRICS[state.metric];
    chartTitle.textContent = `${metric.label} by ${aggregate ? aggregate.by : state.by}`;
    for (const c of charts.splice(0)) c.destroy();
    if (!aggregate) return;
    const { rows, range, by } = aggregate;
    if (!rows.length) {
      clear(chartBody, empty({ iconName: "usage", title: "No requests in this period",
        text: "Usage appears here as soon as a key makes a request.",
        action: h("a", { class: "btn", href: "#/playground" }, icon("playground"), "Open the playground") }));
      return;
    }
    const series = topSeries(toSeries(rows, { ...range, by, metric: state.metric }));
    const chart = stackedBarChart({ buckets: range.buckets, series, format: metric.format, exact: metric.exact,
      label: `${metric.label} by ${by}, last ${RANGES[state.range].label}` });
    charts.push(chart);
    clear(chartBody, chart);
  }

  // ---------- request log ----------
  const cursors = [null];
  let page = 0;
  let logToken = 0;
  async function loadLog(reset = false) {
    if (reset) {
      cursors.length = 1;
      page = 0;
    }
    const token = ++logToken;
    clear(logBody, loading("Loading requests…"));
    clear(logFoot);
    try {
      const result = await source.requests({ ...logFilters(), limit: PAGE_SIZE, cursor: cursors[page] },
        signal);
      if (token !== logToken) return;
      cursors[page + 1] = result.next_cursor;
      renderLog(result);
    } catch (e) {
      if (e.name === "AbortError" || token !== logToken) return;
      clear(logBody, h("div", { class: "card-body" }, errorAlert(e, "Could not load the request log")));
    }
  }

  function statusBadge(r) {
    if (r.status < 400) {
      return r.client_disconnected ? badge("client left", "warning") : badge(String(r.status), "success");
    }
    return h("div", { class: "status-error" }, badge(String(r.status), "danger"),
      r.error_code ? h("div", { class: "cell-sub" }, r.error_code) : null);
  }

  function when(seconds) {
    const d = new Date(seconds * 1000);
    const today = new Date().toDateString() === d.toDateString();
    const time = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    return today ? time : `${d.toLocaleDateString(undefined, { month: "short", day: "numeric" })}, ${time}`;
  }

  function renderLog(result) {
    if (!result.data.length) {
      clear(logBody, empty({ iconName: "activity", title: page ? "No more requests" : "No requests match",
        text: page ? "You reached the oldest request." : "Requests in this range and with these filters appear here." }));
    } else {
      const headers = ["Time", admin ? "Key" : null, "Model", "Status", "Tokens", "Cost", "Latency", "Request"]
        .filter(Boolean);
      const table = h("table", { class: "table responsive log" },
        h("thead", null, h("tr", null, headers.map((t, i) =>
          h("th", { scope: "col", class: i >= headers.length - 3 && t !== "Request" ? "num" : null }, t)))),
        h("tbody", null, result.data.map((r) => h("tr", null,
          h("td", { "data-label": "Time", class: "nowrap", title: `${fmtDate(r.created_at)} (${fmtRelative(r.created_at)})` },
            when(r.created_at)),
          admin ? h("td", { "data-label": "Key", class: "nowrap" }, r.key_name || r.key_id || "—") : null,
          h("td", { "data-label": "Model", class: "nowrap" }, h("span", { class: "mono" }, r.model || "—"),
            r.stream ? h("span", { class: "muted small", title: "streamed" }, " · SSE") : null,
            r.endpoint && r.endpoint !== "chat"
              ? h("span", { class: "muted small", title: "the door it came in by" }, ` · ${DOOR_NAMES[r.endpoint] || r.endpoint}`)
              : null),
          h("td", { "data-label": "Status" }, statusBadge(r)),
          h("td", { "data-label": "Tokens in → out", class: "num",
            title: r.usage_estimated ? "counted by the relay: the upstream reported none" : null },
          `${fmtInt(r.prompt_tokens)} → ${fmtInt(r.completion_tokens)}`, r.usage_estimated ? " ≈" : ""),
          h("td", { "data-label": "Cost", class: "num" }, fmtUSD(r.cost_usd, { exact: true })),
          h("td", { "data-label": "Latency", class: "num hide-sm", title: r.ttft_ms != null ? `first token ${fmtMs(r.ttft_ms)}` : null },
            fmtMs(r.latency_ms)),
          h("td", { "data-label": "Request", class: "hide-sm" }, h("span", { class: "cell-sub req-id", title: r.request_id }, r.request_id),
            r.client_ip ? h("div", { class: "cell-sub muted", title: "the client's address" }, r.client_ip) : null)))));
      clear(logBody, h("div", { class: "table-wrap" }, table));
    }
    const prev = button("Newer", { iconName: "chevronLeft", small: true, onClick: () => { page -= 1; loadLog(); } });
    const next = button("Older", { small: true, onClick: () => { page += 1; loadLog(); } });
    next.append(icon("chevronRight"));
    prev.disabled = page === 0;
    next.disabled = !result.has_more;
    clear(logFoot, h("span", null, `Page ${page + 1} · ${PAGE_SIZE} per page`), h("div", { class: "actions" }, prev, next));
  }

  loadOptions();
  loadAggregates();
  loadLog(true);
  return () => { for (const c of charts) c.destroy(); };
}
