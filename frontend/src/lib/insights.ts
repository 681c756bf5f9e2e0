// Pure helpers of the analytics page: the volatility ranking, live values from /ws/analytics
// folded over the REST summary, and how indicator values read.
import type { AnalyticsSummary, AnalyticsUpdate, VolatilityResponse } from "./insightTypes";
import type { Coin, Interval } from "./types";

export interface VolatilityRow {
  coin_id: string;
  name: string;
  symbol: string;
  /** annualized, as a fraction (0.8 = 80 %) */
  volatility: number | null;
  rank: number | null;
}

/**
 * Coins from most to least volatile; coins without a value go last (alphabetically) with no
 * rank. `live` maps coin → a newer value from the stream (same interval and window).
 */
export function rankVolatility(
  data: VolatilityResponse,
  coins: readonly Pick<Coin, "coin_id" | "name" | "symbol">[],
  live: Readonly<Record<string, number | null>> = {},
): VolatilityRow[] {
  const names = new Map(coins.map((coin) => [coin.coin_id, coin]));
  const rows = data.coins.map((entry) => {
    const coin = names.get(entry.coin_id);
    const value = entry.coin_id in live ? live[entry.coin_id] : entry.volatility;
    return {
      coin_id: entry.coin_id,
      name: coin?.name ?? entry.coin_id,
      symbol: coin?.symbol ?? "",
      volatility: value !== null && value !== undefined && Number.isFinite(value) ? value : null,
    };
  });
  rows.sort((a, b) => {
    if (a.volatility === null && b.volatility === null) return a.name.localeCompare(b.name);
    if (a.volatility === null) return 1;
    if (b.volatility === null) return -1;
    return b.volatility - a.volatility;
  });
  let rank = 0;
  return rows.map((row) => ({ ...row, rank: row.volatility === null ? null : ++rank }));
}

/** 0.8123 → "81.2%". */
export function formatVolatility(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return "—";
  return `${(value * 100).toFixed(1)}%`;
}

/** Live values for the page: the stream's when newer than (or as new as) the summary's. */
export function liveValues(
  summary: AnalyticsSummary | undefined,
  update: AnalyticsUpdate | undefined,
): { values: AnalyticsSummary["values"]; close: number | null; time: string | null; live: boolean; fromStream: boolean } | null {
  const newer =
    update && (!summary?.time || Date.parse(update.time) >= Date.parse(summary.time)) ? update : undefined;
  if (newer) {
    return { values: { ...(summary?.values ?? {}), ...newer.values }, close: newer.close, time: newer.time, live: newer.live, fromStream: true };
  }
  if (!summary) return null;
  return { values: summary.values, close: summary.close, time: summary.time, live: summary.live, fromStream: false };
}

export function isAnalyticsUpdate(data: unknown): data is AnalyticsUpdate {
  if (typeof data !== "object" || data === null) return false;
  const frame = data as Record<string, unknown>;
  return (
    frame.type === "analytics_update" &&
    typeof frame.coin_id === "string" &&
    typeof frame.interval === "string" &&
    typeof frame.time === "string" &&
    typeof frame.values === "object" &&
    frame.values !== null
  );
}

export function liveKey(coinId: string, interval: Interval): string {
  return `${coinId}:${interval}`;
}

/** The volatility values (`volatility_{window}`) of one interval among the latest updates. */
export function liveVolatility(
  updates: Readonly<Record<string, AnalyticsUpdate>>,
  interval: Interval,
  window: number,
): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  const metric = `volatility_${window}`;
  for (const update of Object.values(updates)) {
    if (update.interval !== interval) continue;
    const value = update.values[metric];
    if (typeof value === "number" || value === null) out[update.coin_id] = value;
  }
  return out;
}

/** An indicator value for the live figures: prices as prices, RSI to one decimal. */
export function formatIndicator(value: number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const abs = Math.abs(value);
  const fraction = abs >= 1000 ? 2 : abs >= 1 ? digits : Math.max(digits, 4 - Math.floor(Math.log10(abs || 1)));
  return value.toLocaleString("en-US", { minimumFractionDigits: Math.min(2, fraction), maximumFractionDigits: Math.min(10, fraction) });
}

export function nested(
  values: AnalyticsSummary["values"],
  key: string,
  field: string,
): number | null {
  const value = values[key];
  if (value && typeof value === "object") {
    const part = value[field];
    return typeof part === "number" ? part : null;
  }
  return null;
}

export function scalar(values: AnalyticsSummary["values"], key: string): number | null {
  const value = values[key];
  return typeof value === "number" ? value : null;
}
