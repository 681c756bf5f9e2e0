import { describe, expect, it } from "vitest";
import type { AnalyticsSummary, AnalyticsUpdate, VolatilityResponse } from "./insightTypes";
import { formatVolatility, isAnalyticsUpdate, liveValues, liveVolatility, rankVolatility } from "./insights";

const volatility: VolatilityResponse = {
  interval: "1h",
  window: 30,
  periods_per_year: 8760,
  annualized: true,
  coins: [
    { coin_id: "bitcoin", volatility: 0.4, time: null, live: true },
    { coin_id: "ethereum", volatility: null, time: null, live: true },
    { coin_id: "solana", volatility: 0.9, time: null, live: true },
    { coin_id: "cardano", volatility: null, time: null, live: true },
  ],
};
const coins = [
  { coin_id: "bitcoin", name: "Bitcoin", symbol: "btc" },
  { coin_id: "ethereum", name: "Ethereum", symbol: "eth" },
  { coin_id: "solana", name: "Solana", symbol: "sol" },
  { coin_id: "cardano", name: "Cardano", symbol: "ada" },
];

describe("rankVolatility", () => {
  it("ranks the most volatile first and puts coins without a value last, unranked", () => {
    expect(rankVolatility(volatility, coins).map((row) => [row.coin_id, row.rank])).toEqual([
      ["solana", 1],
      ["bitcoin", 2],
      ["cardano", null],
      ["ethereum", null],
    ]);
  });
  it("prefers a live value from the stream", () => {
    const rows = rankVolatility(volatility, coins, { bitcoin: 1.2, ethereum: 0.1 });
    expect(rows.map((row) => row.coin_id)).toEqual(["bitcoin", "solana", "ethereum", "cardano"]);
  });
  it("formats as a percentage", () => {
    expect(formatVolatility(0.8123)).toBe("81.2%");
    expect(formatVolatility(null)).toBe("—");
  });
});

const summary: AnalyticsSummary = {
  coin_id: "bitcoin",
  interval: "1m",
  time: "2025-01-01T00:00:00Z",
  close: 100,
  live: true,
  values: { rsi_14: 50, sma_50: 99 },
  bandwidth: null,
  signals: [],
};
const update = (time: string, values: AnalyticsUpdate["values"]): AnalyticsUpdate => ({
  type: "analytics_update", coin_id: "bitcoin", interval: "1m", time, close: 101, live: true, values,
});

describe("live values", () => {
  it("lays a newer stream value over the summary", () => {
    expect(liveValues(summary, update("2025-01-01T00:01:00Z", { rsi_14: 55 }))).toEqual({
      values: { rsi_14: 55, sma_50: 99 }, close: 101, time: "2025-01-01T00:01:00Z", live: true, fromStream: true,
    });
  });
  it("keeps the summary when the stream is behind or silent", () => {
    expect(liveValues(summary, update("2024-12-31T23:59:00Z", { rsi_14: 10 }))?.fromStream).toBe(false);
    expect(liveValues(summary, undefined)?.values.rsi_14).toBe(50);
    expect(liveValues(undefined, undefined)).toBeNull();
  });
  it("reads volatility of one interval and window from the updates", () => {
    const updates = {
      "bitcoin:1h": { ...update("2025-01-01T00:00:00Z", { volatility_30: 0.5 }), interval: "1h" as const },
      "bitcoin:1m": update("2025-01-01T00:00:00Z", { volatility_30: 0.7 }),
      "solana:1h": { ...update("2025-01-01T00:00:00Z", { volatility_30: null }), coin_id: "solana", interval: "1h" as const },
    };
    expect(liveVolatility(updates, "1h", 30)).toEqual({ bitcoin: 0.5, solana: null });
    expect(liveVolatility(updates, "1h", 14)).toEqual({});
  });
  it("recognises analytics_update frames only", () => {
    expect(isAnalyticsUpdate(update("2025-01-01T00:00:00Z", {}))).toBe(true);
    expect(isAnalyticsUpdate({ type: "price_update", coin_id: "bitcoin" })).toBe(false);
    expect(isAnalyticsUpdate({ type: "analytics_update", coin_id: "bitcoin", interval: "1m", time: "x" })).toBe(false);
  });
});
