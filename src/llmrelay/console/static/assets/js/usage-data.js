// Turning /usage rows (grouped by hour or day, and by model or key) into chart series.
import { locale, t } from "./i18n.js";
import { fmtCompact, fmtInt, fmtUSD } from "./ui.js";

/** The doors (client protocols) a request can come in by, by the names of their APIs (the
 * same in every language). */
export const DOOR_NAMES = {
  chat: "Chat Completions",
  messages: "Anthropic Messages",
  responses: "Responses",
  embeddings: "Embeddings",
  completions: "Completions",
};

/** Time ranges; each one's label is the string `range.<name>`. */
export const RANGES = {
  "24h": { grain: "hour", count: 24 },
  "7d": { grain: "day", count: 7 },
  "30d": { grain: "day", count: 30 },
};

/** What a chart can show; each one's label is the string `metric.<name>`. */
export const METRICS = {
  total_tokens: { format: fmtCompact, exact: fmtInt },
  cost_usd: { format: (v) => fmtUSD(v), exact: (v) => fmtUSD(v, { exact: true }) },
  requests: { format: fmtCompact, exact: fmtInt },
  errors: { format: fmtCompact, exact: fmtInt },
};

const pad = (n) => String(n).padStart(2, "0");
const utcDay = (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
const utcHour = (d) => `${utcDay(d)}T${pad(d.getUTCHours())}:00:00Z`;

/** The buckets of a range, oldest first: {key, short, long}, and the `start` to query. */
export function rangeBuckets(rangeName, now = new Date()) {
  const range = RANGES[rangeName] || RANGES["7d"];
  const buckets = [];
  if (range.grain === "hour") {
    const top = Math.floor(now.getTime() / 3600000) * 3600000;
    for (let i = range.count - 1; i >= 0; i--) {
      const d = new Date(top - i * 3600000);
      buckets.push({
        key: utcHour(d),
        short: d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" }),
        long: d.toLocaleString(locale, { weekday: "short", month: "short", day: "numeric",
          hour: "2-digit", minute: "2-digit" }),
      });
    }
    return { grain: "hour", buckets, start: Math.floor((top - (range.count - 1) * 3600000) / 1000) };
  }
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  for (let i = range.count - 1; i >= 0; i--) {
    const d = new Date(today - i * 86400000);
    buckets.push({
      key: utcDay(d),
      short: d.toLocaleDateString(locale, { month: "short", day: "numeric", timeZone: "UTC" }),
      long: d.toLocaleDateString(locale, { weekday: "short", month: "short", day: "numeric",
        year: "numeric", timeZone: "UTC" }) + " (UTC)",
    });
  }
  return { grain: "day", buckets, start: buckets[0].key };
}

/** Series per model or key for `metric`, aligned on `buckets`. */
export function toSeries(rows, { buckets, grain, by, metric }) {
  const index = new Map(buckets.map((b, i) => [b.key, i]));
  const series = new Map();
  for (const row of rows) {
    const i = index.get(row[grain]);
    if (i === undefined) continue;
    const id = by === "key" ? row.key_id || "—" : by === "endpoint" ? row.endpoint : row.model || "—";
    // Usage rows all have a key; a key's request refused before it named a model has none.
    const name = by === "key" ? row.key_name || row.key_id
      : by === "endpoint" ? DOOR_NAMES[row.endpoint] || row.endpoint : row.model || t("usage.no_model");
    if (!series.has(id)) series.set(id, { name, values: new Array(buckets.length).fill(0) });
    series.get(id).values[i] += row[metric] || 0;
  }
  return [...series.values()];
}

export function totals(rows) {
  const t = { requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0,
    cost_usd: 0, reasoning_tokens: 0, cached_tokens: 0 };
  for (const row of rows) for (const k of Object.keys(t)) t[k] += row[k] || 0;
  return t;
}
