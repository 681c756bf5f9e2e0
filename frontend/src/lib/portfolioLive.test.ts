import { describe, expect, it } from "vitest";
import { applyWatchPrice, isPortfolioUpdate, performanceOf, subscriptionDiff } from "./portfolioLive";
import { historyLines } from "./portfolioHistory";
import { pickPortfolio } from "./portfolioPrefs";
import { attachmentName, historyInterval } from "./portfolioQueries";
import type { Performance, WatchlistItem } from "./portfolioTypes";

const item: WatchlistItem = {
  coin_id: "bitcoin", added_at: "2024-01-01T00:00:00Z", symbol: "btc", name: "Bitcoin", price: 100, change_24h_pct: 1,
  high_24h: 110, low_24h: 90, volume_24h_usd: 1e9, updated_at: "2024-01-01T00:00:10Z", stale: true,
};

describe("watchlist stream", () => {
  it("subscribes to exactly the watched coins", () => {
    expect(subscriptionDiff(new Set(), ["ethereum", "bitcoin"])).toEqual({ subscribe: ["bitcoin", "ethereum"], unsubscribe: [] });
    expect(subscriptionDiff(new Set(["bitcoin", "solana"]), ["bitcoin", "ethereum"])).toEqual({ subscribe: ["ethereum"], unsubscribe: ["solana"] });
    expect(subscriptionDiff(new Set(["bitcoin"]), [])).toEqual({ subscribe: [], unsubscribe: ["bitcoin"] });
  });

  it("applies a newer price and ignores an older one", () => {
    const newer = applyWatchPrice([item], { type: "price_update", coin_id: "bitcoin", price: 101, timestamp: "2024-01-01T00:00:11Z", change_24h: 2 });
    expect(newer?.[0]).toMatchObject({ price: 101, change_24h_pct: 2, stale: false, updated_at: "2024-01-01T00:00:11Z" });
    const older = applyWatchPrice([item], { type: "price_update", coin_id: "bitcoin", price: 99, timestamp: "2024-01-01T00:00:09Z" });
    expect(older?.[0]?.price).toBe(100);
    const other = applyWatchPrice([item], { type: "price_update", coin_id: "ethereum", price: 5, timestamp: "2024-01-01T00:00:11Z" });
    expect(other?.[0]).toBe(item);
  });
});

describe("portfolio stream", () => {
  it("recognizes portfolio_update frames and keeps their body", () => {
    const body = { portfolio_id: 3, total_value: "10.5" } as Performance;
    const frame = { type: "portfolio_update", ...body };
    expect(isPortfolioUpdate(frame)).toBe(true);
    expect(isPortfolioUpdate({ type: "portfolio_update", portfolio_id: 3, total_value: 10.5 })).toBe(false);
    expect(isPortfolioUpdate({ type: "subscribed", portfolio_id: 3 })).toBe(false);
    expect(performanceOf(frame)).toEqual(body);
  });
});

describe("portfolio page helpers", () => {
  it("draws history with strictly increasing times", () => {
    const lines = historyLines([
      { timestamp: "2024-01-01T00:00:00Z", total_value: "10", cost_basis: "8" },
      { timestamp: "2024-01-02T00:00:00Z", total_value: "11", cost_basis: "8" },
      { timestamp: "2024-01-02T00:00:00.400Z", total_value: "12", cost_basis: "9" },
      { timestamp: "2023-12-31T00:00:00Z", total_value: "1", cost_basis: "1" },
    ]);
    expect(lines.value).toEqual([
      { time: 1704067200, value: 10 },
      { time: 1704153600, value: 12 },
    ]);
    expect(lines.cost.map((p) => p.value)).toEqual([8, 9]);
  });

  it("keeps the remembered portfolio while it exists", () => {
    expect(pickPortfolio([1, 2], 2)).toBe(2);
    expect(pickPortfolio([1, 2], 9)).toBe(1);
    expect(pickPortfolio([], 9)).toBeNull();
  });

  it("reads hourly history for a week, daily beyond", () => {
    expect(historyInterval("7d")).toBe("1h");
    expect(historyInterval("1y")).toBe("1d");
  });

  it("names the download after the server's attachment", () => {
    expect(attachmentName('attachment; filename="portfolio-3-transactions.csv"', "x.csv")).toBe("portfolio-3-transactions.csv");
    expect(attachmentName(null, "x.csv")).toBe("x.csv");
  });
});
