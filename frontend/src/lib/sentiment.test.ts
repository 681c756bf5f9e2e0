import { describe, expect, it } from "vitest";
import type { Article, SentimentOverview } from "./insightTypes";
import {
  applySentimentUpdate,
  filterArticles,
  formatScore,
  newsQuery,
  safeExternalUrl,
  scoreLabel,
  scoreTone,
  trendPoints,
} from "./sentiment";

describe("scores", () => {
  it("reads the neutral band like the classifier (±0.05)", () => {
    expect(scoreTone(0.05)).toBe("positive");
    expect(scoreTone(0.049)).toBe("neutral");
    expect(scoreTone(-0.05)).toBe("negative");
    expect(scoreTone(null)).toBe("none");
    expect(scoreLabel(-0.4)).toBe("Negative");
    expect(scoreLabel(null)).toBe("No articles");
  });
  it("formats with a sign", () => {
    expect(formatScore(0.4213)).toBe("+0.42");
    expect(formatScore(-0.1)).toBe("−0.10");
    expect(formatScore(0)).toBe("0.00");
    expect(formatScore(null)).toBe("—");
  });
});

describe("safeExternalUrl", () => {
  it("keeps http(s) links only", () => {
    expect(safeExternalUrl("https://example.com/a?b=1")).toBe("https://example.com/a?b=1");
    expect(safeExternalUrl("http://example.com")).toBe("http://example.com/");
    expect(safeExternalUrl("javascript:alert(1)")).toBeNull();
    expect(safeExternalUrl("data:text/html,hi")).toBeNull();
    expect(safeExternalUrl("/relative")).toBeNull();
    expect(safeExternalUrl("not a url")).toBeNull();
  });
});

const overview: SentimentOverview = {
  window: "24h",
  kind: "news",
  coins: [
    { coin_id: "bitcoin", symbol: "BTC", name: "Bitcoin", window: "24h", kind: "news", score: 0.1, positive_pct: 50, negative_pct: 25, neutral_pct: 25, article_count: 4, timestamp: "2025-01-01T00:00:00Z" },
    { coin_id: "ethereum", symbol: "ETH", name: "Ethereum", window: "24h", kind: "news", score: null, positive_pct: null, negative_pct: null, neutral_pct: null, article_count: 0, timestamp: "2025-01-01T00:00:00Z" },
  ],
};
const aggregate = { score: -0.5, positive_pct: 0, negative_pct: 100, neutral_pct: 0, article_count: 2 };

describe("applySentimentUpdate", () => {
  it("takes the update's value for the overview's window and kind", () => {
    const next = applySentimentUpdate(overview, {
      type: "sentiment_update",
      coin_id: "ethereum",
      score: 0.9,
      article_count: 9,
      timestamp: "2025-01-01T00:01:00Z",
      windows: { "24h": { news: aggregate, all: { ...aggregate, score: 0.9 } } },
    });
    expect(next?.coins[1]).toMatchObject({ coin_id: "ethereum", score: -0.5, article_count: 2, timestamp: "2025-01-01T00:01:00Z" });
    expect(next?.coins[0]).toBe(overview.coins[0]);
  });
  it("ignores other windows, older updates and unknown coins", () => {
    const base = { type: "sentiment_update" as const, score: 0, article_count: 0 };
    expect(applySentimentUpdate(overview, { ...base, coin_id: "bitcoin", timestamp: "2025-01-02T00:00:00Z", windows: { "7d": { news: aggregate } } })).toBe(overview);
    expect(applySentimentUpdate(overview, { ...base, coin_id: "bitcoin", timestamp: "2024-12-31T00:00:00Z", windows: { "24h": { news: aggregate } } })).toBe(overview);
    expect(applySentimentUpdate(overview, { ...base, coin_id: "dogecoin", timestamp: "2025-01-02T00:00:00Z", windows: { "24h": { news: aggregate } } })).toBe(overview);
  });
});

describe("feed and trend", () => {
  const article = (id: number, label: Article["label"]): Article => ({
    id, label, title: "t", url: "https://x", source: "s", provider: "demo", kind: "news", published_at: "2025-01-01T00:00:00Z", coins: [], score: 0, model: "vader", demo: true,
  });
  it("filters by label in the browser", () => {
    const all = [article(1, "positive"), article(2, "negative"), article(3, "negative")];
    expect(filterArticles(all, "negative").map((a) => a.id)).toEqual([2, 3]);
    expect(filterArticles(all, "all")).toHaveLength(3);
  });
  it("asks the server for coin, kind and the next page", () => {
    expect(newsQuery({ coin: "", kind: "all" }, 20)).toBe("/api/sentiment/news?kind=all&limit=20");
    expect(newsQuery({ coin: "bitcoin", kind: "social" }, 20, "2025-01-01T00:00:00Z")).toBe(
      "/api/sentiment/news?kind=social&limit=20&coin_id=bitcoin&before=2025-01-01T00%3A00%3A00Z",
    );
  });
  it("drops empty buckets from the trend and converts times to unix seconds", () => {
    const points = trendPoints({
      coin_id: "bitcoin", kind: "all", interval: "1h", range: "24h",
      points: [
        { timestamp: "2025-01-01T00:00:00Z", score: null, positive_pct: null, negative_pct: null, neutral_pct: null, article_count: 0 },
        { timestamp: "2025-01-01T01:00:00Z", score: 0.25, positive_pct: 100, negative_pct: 0, neutral_pct: 0, article_count: 1 },
      ],
    });
    expect(points).toEqual([{ time: 1735693200, value: 0.25, count: 1 }]);
  });
});
