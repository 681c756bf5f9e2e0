// Wire contracts of the analytics, sentiment and settings pages (README "Analytics",
// "Sentiment", "Accounts"). Kept apart from types.ts so the pages of issue 11 merge cleanly.
import { type Interval } from "./types";

export interface AnalyticsSignal {
  indicator: string;
  /** null while there is not enough history */
  signal: string | null;
  text: string;
}

export interface AnalyticsSummary {
  coin_id: string;
  interval: Interval;
  time: string | null;
  close: number | null;
  live: boolean;
  values: Record<string, number | Record<string, number | null> | null>;
  bandwidth: number | null;
  signals: AnalyticsSignal[];
}

export interface VolatilityResponse {
  interval: Interval;
  window: number;
  periods_per_year: number;
  annualized: boolean;
  coins: { coin_id: string; volatility: number | null; time: string | null; live: boolean }[];
}

export interface CorrelationResponse {
  coins: string[];
  matrix: (number | null)[][];
  as_of: string | null;
  interval: Interval;
  window: number;
}

export interface AnalyticsUpdate {
  type: "analytics_update";
  coin_id: string;
  interval: Interval;
  time: string;
  close: number | null;
  live: boolean;
  values: AnalyticsSummary["values"];
}

export type SentimentKind = "news" | "social" | "all";
export type SentimentWindow = "1h" | "24h" | "7d";
export type SentimentLabel = "positive" | "negative" | "neutral";

export interface SentimentAggregate {
  coin_id: string;
  window: SentimentWindow;
  kind: SentimentKind;
  /** mean article score in [-1, 1]; null for an empty window */
  score: number | null;
  positive_pct: number | null;
  negative_pct: number | null;
  neutral_pct: number | null;
  article_count: number;
  timestamp: string;
}

export interface SentimentOverview {
  window: SentimentWindow;
  kind: SentimentKind;
  coins: (SentimentAggregate & { symbol: string; name: string })[];
}

export interface SentimentTrendPoint {
  timestamp: string;
  score: number | null;
  positive_pct: number | null;
  negative_pct: number | null;
  neutral_pct: number | null;
  article_count: number;
}

export interface SentimentTrend {
  coin_id: string;
  kind: SentimentKind;
  interval: "15m" | "1h" | "4h" | "1d";
  range: "24h" | "7d" | "30d";
  points: SentimentTrendPoint[];
}

export interface Article {
  id: number;
  title: string;
  url: string;
  source: string;
  provider: string;
  kind: "news" | "social";
  published_at: string;
  coins: string[];
  label: SentimentLabel;
  score: number;
  model: string;
  demo: boolean;
}

export interface ArticleList {
  articles: Article[];
  next_before: string | null;
}

export interface SentimentModel {
  configured: string;
  state: string;
  active?: string | null;
  kind?: "transformer" | "lexicon" | null;
  fallback?: boolean | null;
  reason?: string | null;
  details: Record<string, unknown>;
  sources: { name?: string; state?: string; last_error?: string | null; [key: string]: unknown }[];
  updated_at?: string | null;
}

export interface SentimentUpdate {
  type: "sentiment_update";
  coin_id: string;
  score: number | null;
  article_count: number;
  timestamp: string;
  windows?: Partial<
    Record<SentimentWindow, Partial<Record<SentimentKind, Omit<SentimentAggregate, "coin_id" | "window" | "kind" | "timestamp">>>>
  >;
}

export const THEMES = ["dark", "light", "system"] as const;
export const CURRENCIES = ["USD", "EUR", "GBP", "JPY", "BTC", "ETH"] as const;

export interface Preferences {
  theme: (typeof THEMES)[number];
  currency: (typeof CURRENCIES)[number];
  default_timeframe: Interval;
  notifications: { price_alerts: boolean; sentiment_alerts: boolean; email: boolean };
}
