// Stacked bar charts drawn as inline SVG: axes with round ticks, a legend with totals, and a
// tooltip with every series' value for the bucket under the pointer (mouse or touch).
import { t } from "./i18n.js";
import { h } from "./ui.js";

const NS = "http://www.w3.org/2000/svg";
export const PALETTE = ["#6366f1", "#22c55e", "#f59e0b", "#06b6d4", "#ec4899", "#8b5cf6",
  "#ef4444", "#14b8a6", "#84cc16", "#64748b"];

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/** Round tick values from 0 to at least `max`. */
export function niceTicks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((st) => st >= raw);
  const ticks = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Keeps the `limit - 1` largest series and folds the rest into "Other". */
export function topSeries(series, limit = 8) {
  const total = (x) => x.values.reduce((a, b) => a + b, 0);
  const sorted = [...series].sort((a, b) => total(b) - total(a));
  if (sorted.length <= limit) return sorted;
  const kept = sorted.slice(0, limit - 1);
  const rest = sorted.slice(limit - 1);
  const other = { name: t("charts.other", { n: rest.length }),
    values: rest[0].values.map((_, i) => rest.reduce((a, x) => a + x.values[i], 0)) };
  return [...kept, other];
}

/**
 * buckets: [{short, long}] along the x axis; series: [{name, values}] stacked bottom-up.
 * format(value) renders axis ticks, tooltip and legend values.
 */
export function stackedBarChart({ buckets, series, format = String, exact, height = 260, label = t("charts.chart") }) {
  const precise = exact || format;
  const colored = series.map((x, i) => ({ ...x, color: x.color || PALETTE[i % PALETTE.length] }));
  const tooltip = h("div", { class: "tooltip", hidden: true, role: "presentation" });
  const holder = h("div", { class: "chart-svg" });
  const totals = colored.map((x) => x.values.reduce((a, b) => a + b, 0));
  const legend = h("div", { class: "legend" }, colored.map((x, i) =>
    h("span", null, h("i", { class: "swatch", dataset: { color: x.color } }), x.name,
      h("b", { class: "muted" }, precise(totals[i])))));
  for (const sw of legend.querySelectorAll(".swatch")) sw.style.background = sw.dataset.color;
  const summary = colored.map((x, i) => `${x.name}: ${precise(totals[i])}`).join("; ");
  const root = h("figure", { class: "chart" }, holder, tooltip, legend);
  root.style.margin = "0";

  const sums = buckets.map((_, b) => colored.reduce((a, x) => a + (x.values[b] || 0), 0));
  const ticks = niceTicks(Math.max(...sums, 0));
  const top = ticks[ticks.length - 1] || 1;
  const tickLabels = ticks.map(format);

  function draw(width) {
    if (width <= 0) return;
    const m = { top: 10, right: 8, bottom: 26,
      left: Math.max(...tickLabels.map((text) => text.length)) * 6.6 + 14 };
    const w = width - m.left - m.right;
    const ih = height - m.top - m.bottom;
    const n = Math.max(buckets.length, 1);
    const band = w / n;
    const barW = Math.max(2, Math.min(band * 0.68, 40));
    const y = (v) => m.top + ih - (v / top) * ih;
    const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, height, role: "img",
      "aria-label": `${label}. ${summary || t("charts.no_data")}` });
    const grid = s("g", { class: "grid" });
    const axis = s("g", { class: "axis" });
    ticks.forEach((tick, i) => {
      grid.append(s("line", { x1: m.left, x2: width - m.right, y1: y(tick), y2: y(tick),
        "stroke-dasharray": tick === 0 ? null : "3 3" }));
      axis.append(s("text", { x: m.left - 8, y: y(tick) + 4, "text-anchor": "end" }, tickLabels[i]));
    });
    const maxChars = Math.max(...buckets.map((b) => b.short.length), 1);
    const every = Math.max(1, Math.ceil((maxChars * 6.6 + 10) / band));
    buckets.forEach((b, i) => {
      if (i % every !== 0 && i !== n - 1) return;
      if (i === n - 1 && i % every !== 0 && (n - 1) % every < every * 0.6) return;
      axis.append(s("text", { x: m.left + band * (i + 0.5), y: height - 8, "text-anchor": "middle" },
        b.short));
    });
    svg.append(grid, axis);
    const bars = s("g");
    const hovers = s("g");
    buckets.forEach((b, i) => {
      const x = m.left + band * i + (band - barW) / 2;
      let acc = 0;
      colored.forEach((series_) => {
        const v = series_.values[i] || 0;
        if (v <= 0) return;
        const y0 = y(acc);
        acc += v;
        const y1 = y(acc);
        bars.append(s("rect", { x, y: y1, width: barW, height: Math.max(y0 - y1, 1), rx: 2,
          fill: series_.color }));
      });
      const hover = s("rect", { class: "hover-col", x: m.left + band * i, y: m.top, width: band,
        height: ih, "data-i": i });
      hovers.append(hover);
    });
    svg.append(s("line", { class: "axis-line", x1: m.left, x2: width - m.right, y1: y(0), y2: y(0) }),
      bars, hovers);
    const show = (event) => {
      const target = event.target.closest ? event.target.closest(".hover-col") : null;
      if (!target) return;
      for (const r of hovers.children) r.classList.toggle("on", r === target);
      const i = Number(target.getAttribute("data-i"));
      tooltip.replaceChildren(h("div", { class: "tt-title" }, buckets[i].long));
      for (const x of colored.filter((x) => (x.values[i] || 0) > 0 || colored.length <= 4).reverse()) {
        const swatch = h("i");
        swatch.style.background = x.color;
        tooltip.append(h("div", { class: "tt-row" }, h("span", null, swatch, x.name),
          h("b", null, precise(x.values[i] || 0))));
      }
      if (colored.length > 1) {
        tooltip.append(h("div", { class: "tt-row tt-total" }, h("span", null, t("charts.total")),
          h("b", null, precise(sums[i]))));
      }
      tooltip.hidden = false;
      const center = m.left + band * (i + 0.5);
      const tw = tooltip.offsetWidth;
      let left = center + band / 2 + 8;
      if (left + tw > width) left = Math.max(0, center - band / 2 - 8 - tw);
      tooltip.style.left = `${left}px`;
      tooltip.style.top = `${m.top}px`;
    };
    const hide = () => {
      tooltip.hidden = true;
      for (const r of hovers.children) r.classList.remove("on");
    };
    svg.addEventListener("pointermove", show);
    svg.addEventListener("pointerdown", show);
    svg.addEventListener("pointerleave", hide);
    holder.replaceChildren(svg);
  }

  let lastWidth = 0;
  const observer = new ResizeObserver((entries) => {
    const width = Math.floor(entries[0].contentRect.width);
    if (width !== lastWidth) {
      lastWidth = width;
      draw(width);
    }
  });
  observer.observe(holder);
  root.destroy = () => observer.disconnect();
  return root;
}
