// Pure helpers of the sentiment page: how a score reads, which links are safe to open, the
// price interval a trend is drawn against, and live updates folded into the overview.
import type {
  Article,
  SentimentKind,
  SentimentOverview,
  SentimentTrend,
  SentimentUpdate,
} from "./insightTypes";

export type ScoreTone = "positive" | "negative" | "neutral" | "none";

/** The classifier's own neutral band is ±0.05 (VADER); an average inside it reads neutral. */
export const NEUTRAL_BAND = 0.05;

export function scoreTone(score: number | null | undefined): ScoreTone {
  if (score === null || score === undefined || !Number.isFinite(score)) return "none";
  if (score >= NEUTRAL_BAND) return "positive";
  if (score <= -NEUTRAL_BAND) return "negative";
  return "neutral";
}

export function scoreLabel(score: number | null | undefined): string {
  const tone = scoreTone(score);
  return tone === "none" ? "No articles" : tone[0]!.toUpperCase() + tone.slice(1);
}

/** +0.42 / −0.10 / — */
export function formatScore(score: number | null | undefined): string {
  if (score === null || score === undefined || !Number.isFinite(score)) return "—";
  const sign = score > 0 ? "+" : score < 0 ? "−" : "";
  return `${sign}${Math.abs(score).toFixed(2)}`;
}

/** Only http(s) links are rendered as links: a feed could carry `javascript:` or `data:`. */
export function safeExternalUrl(url: string): string | null {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

export const TREND_RANGES = ["24h", "7d", "30d"] as const;
export type TrendRange = (typeof TREND_RANGES)[number];

/** Each range's bucket: 96, 168 and 180 points, and a candle interval the market also has. */
export const TREND_INTERVAL: Record<TrendRange, SentimentTrend["interval"]> = {
  "24h": "15m",
  "7d": "1h",
  "30d": "4h",
};

export const RANGE_SECONDS: Record<TrendRange, number> = { "24h": 86_400, "7d": 604_800, "30d": 2_592_000 };

export function trendPoints(trend: SentimentTrend | undefined): { time: number; value: number; count: number }[] {
  if (!trend) return [];
  return trend.points
    .filter((point) => point.score !== null && Number.isFinite(point.score))
    .map((point) => ({ time: Math.floor(Date.parse(point.timestamp) / 1000), value: point.score as number, count: point.article_count }));
}

/** Fold a `sentiment_update` into the overview it belongs to (same window and kind). */
export function applySentimentUpdate(overview: SentimentOverview | undefined, update: SentimentUpdate): SentimentOverview | undefined {
  if (!overview) return overview;
  const value = update.windows?.[overview.window]?.[overview.kind];
  if (!value) return overview;
  let changed = false;
  const coins = overview.coins.map((coin) => {
    if (coin.coin_id !== update.coin_id) return coin;
    if (Date.parse(update.timestamp) < Date.parse(coin.timestamp)) return coin;
    changed = true;
    return { ...coin, ...value, timestamp: update.timestamp };
  });
  return changed ? { ...overview, coins } : overview;
}

export function isSentimentUpdate(data: unknown): data is SentimentUpdate {
  if (typeof data !== "object" || data === null) return false;
  const frame = data as Record<string, unknown>;
  return frame.type === "sentiment_update" && typeof frame.coin_id === "string" && typeof frame.timestamp === "string";
}

export interface FeedFilters {
  coin: string;
  kind: SentimentKind;
  label: "all" | Article["label"];
}

/** The label filter runs in the browser (the API filters by coin and kind). */
export function filterArticles(articles: readonly Article[], label: FeedFilters["label"]): Article[] {
  return label === "all" ? [...articles] : articles.filter((article) => article.label === label);
}

export function newsQuery(filters: Pick<FeedFilters, "coin" | "kind">, limit: number, before?: string | null): string {
  const query = new URLSearchParams({ kind: filters.kind, limit: String(limit) });
  if (filters.coin) query.set("coin_id", filters.coin);
  if (before) query.set("before", before);
  return `/api/sentiment/news?${query.toString()}`;
}
