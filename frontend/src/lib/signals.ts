// Pure: the summary endpoint's signal codes in plain language, with a tone for colour and an
// overall reading. The server's own `text` is the fallback for any code this build does not know.
import type { AnalyticsSignal, AnalyticsSummary } from "./insightTypes";

export type Tone = "bullish" | "bearish" | "neutral" | "unknown";

export interface SignalView {
  indicator: string;
  title: string;
  detail: string;
  tone: Tone;
}

const NAMES: Record<string, string> = {
  sma_50: "Trend (50-period average)",
  sma_200: "Trend (200-period average)",
  rsi_14: "Momentum (RSI 14)",
  macd_12_26_9: "MACD 12, 26, 9",
  bb_20_2: "Volatility (Bollinger 20, 2)",
};

export function indicatorName(indicator: string): string {
  return NAMES[indicator] ?? indicator;
}

function rsiValue(summary: Pick<AnalyticsSummary, "values"> | undefined): number | null {
  const value = summary?.values.rsi_14;
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** One signal as a sentence a newcomer understands. */
export function describeSignal(signal: AnalyticsSignal, summary?: Pick<AnalyticsSummary, "values">): SignalView {
  const base = { indicator: signal.indicator, title: indicatorName(signal.indicator) };
  if (signal.signal === null) {
    return { ...base, detail: `Not enough history yet — ${signal.text.replace(/^Not enough history for /, "").trim()} needs more candles.`, tone: "unknown" };
  }
  const period = signal.indicator === "sma_200" ? 200 : 50;
  const horizon = period === 200 ? "long-term" : "shorter-term";
  const rsi = rsiValue(summary);
  const rsiText = rsi === null ? "RSI" : `RSI is ${rsi.toFixed(1)}`;
  switch (`${signal.indicator}:${signal.signal}`) {
    case "sma_50:above":
    case "sma_200:above":
      return { ...base, detail: `The price is above its ${period}-period average: the ${horizon} trend is up.`, tone: "bullish" };
    case "sma_50:below":
    case "sma_200:below":
      return { ...base, detail: `The price is below its ${period}-period average: the ${horizon} trend is down.`, tone: "bearish" };
    case "sma_50:at":
    case "sma_200:at":
      return { ...base, detail: `The price sits right on its ${period}-period average: no clear ${horizon} trend.`, tone: "neutral" };
    case "rsi_14:overbought":
      return { ...base, detail: `${rsiText} (70 or more): overbought — the price rose fast and may pull back.`, tone: "bearish" };
    case "rsi_14:oversold":
      return { ...base, detail: `${rsiText} (30 or less): oversold — the price fell fast and may bounce.`, tone: "bullish" };
    case "rsi_14:neutral":
      return { ...base, detail: `${rsiText}: neither overbought nor oversold.`, tone: "neutral" };
    case "macd_12_26_9:bullish_cross":
      return { ...base, detail: "MACD just crossed above its signal line: momentum is turning up.", tone: "bullish" };
    case "macd_12_26_9:bearish_cross":
      return { ...base, detail: "MACD just crossed below its signal line: momentum is turning down.", tone: "bearish" };
    case "macd_12_26_9:bullish":
      return { ...base, detail: "MACD is above its signal line: upward momentum.", tone: "bullish" };
    case "macd_12_26_9:bearish":
      return { ...base, detail: "MACD is below its signal line: downward momentum.", tone: "bearish" };
    case "bb_20_2:squeeze":
      return { ...base, detail: "The Bollinger bands are the narrowest in 120 candles: a quiet market, often before a big move (either way).", tone: "neutral" };
    case "bb_20_2:normal":
      return { ...base, detail: "The Bollinger bands are not squeezed: volatility is ordinary.", tone: "neutral" };
    default:
      return { ...base, detail: signal.text, tone: "unknown" };
  }
}

export interface Reading {
  tone: Tone;
  text: string;
}

/** The balance of the signals: "Mostly bullish (3 of 5 signals)", "Mixed", or not enough data. */
export function overallReading(views: readonly SignalView[]): Reading {
  const bullish = views.filter((v) => v.tone === "bullish").length;
  const bearish = views.filter((v) => v.tone === "bearish").length;
  const known = views.filter((v) => v.tone !== "unknown").length;
  if (known === 0) return { tone: "unknown", text: "Not enough history for a reading yet" };
  if (bullish > bearish) return { tone: "bullish", text: `Leaning bullish (${bullish} of ${known} signals)` };
  if (bearish > bullish) return { tone: "bearish", text: `Leaning bearish (${bearish} of ${known} signals)` };
  return { tone: "neutral", text: bullish === 0 ? "Neutral: no directional signal" : `Mixed (${bullish} bullish, ${bearish} bearish)` };
}
