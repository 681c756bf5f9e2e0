import { describe, expect, it } from "vitest";
import { describeSignal, overallReading } from "./signals";

const summary = { values: { rsi_14: 74.26 } };

describe("describeSignal", () => {
  it("words every code the summary endpoint sends", () => {
    expect(describeSignal({ indicator: "sma_50", signal: "above", text: "" })).toMatchObject({
      title: "Trend (50-period average)",
      detail: "The price is above its 50-period average: the shorter-term trend is up.",
      tone: "bullish",
    });
    expect(describeSignal({ indicator: "sma_200", signal: "below", text: "" })).toMatchObject({
      detail: "The price is below its 200-period average: the long-term trend is down.",
      tone: "bearish",
    });
    expect(describeSignal({ indicator: "rsi_14", signal: "overbought", text: "" }, summary)).toMatchObject({
      detail: "RSI is 74.3 (70 or more): overbought — the price rose fast and may pull back.",
      tone: "bearish",
    });
    expect(describeSignal({ indicator: "rsi_14", signal: "oversold", text: "" }).tone).toBe("bullish");
    expect(describeSignal({ indicator: "macd_12_26_9", signal: "bullish_cross", text: "" }).detail).toMatch(/crossed above/);
    expect(describeSignal({ indicator: "macd_12_26_9", signal: "bearish", text: "" }).tone).toBe("bearish");
    expect(describeSignal({ indicator: "bb_20_2", signal: "squeeze", text: "" })).toMatchObject({ tone: "neutral" });
  });

  it("says what is missing while history is short", () => {
    expect(describeSignal({ indicator: "sma_200", signal: null, text: "Not enough history for SMA 200" })).toMatchObject({
      detail: "Not enough history yet — SMA 200 needs more candles.",
      tone: "unknown",
    });
  });

  it("falls back to the server's text for a code it does not know", () => {
    expect(describeSignal({ indicator: "adx_14", signal: "trending", text: "ADX 31: trending" })).toEqual({
      indicator: "adx_14",
      title: "adx_14",
      detail: "ADX 31: trending",
      tone: "unknown",
    });
  });
});

describe("overallReading", () => {
  const view = (tone: "bullish" | "bearish" | "neutral" | "unknown") => ({ indicator: "x", title: "", detail: "", tone });
  it("weighs bullish against bearish among the known signals", () => {
    expect(overallReading([view("bullish"), view("bullish"), view("bearish"), view("unknown")])).toEqual({
      tone: "bullish",
      text: "Leaning bullish (2 of 3 signals)",
    });
    expect(overallReading([view("bearish"), view("neutral")]).tone).toBe("bearish");
    expect(overallReading([view("bullish"), view("bearish")]).text).toBe("Mixed (1 bullish, 1 bearish)");
    expect(overallReading([view("neutral")]).text).toBe("Neutral: no directional signal");
    expect(overallReading([view("unknown")]).tone).toBe("unknown");
  });
});
