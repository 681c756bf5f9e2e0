import { describe, expect, it } from "vitest";
import { buildIndicators, foldPrice, indicatorParams, toPoints } from "./chart";
import { PALETTE } from "@/components/CandleChart";
import type { IndicatorsResponse } from "./types";

describe("indicatorParams", () => {
  it("asks only for what is selected", () => {
    expect(indicatorParams(["sma_50", "sma_20", "ema_12", "rsi_14"])).toEqual({ sma: [20, 50], ema: [12], bb: false, rsi: true, macd: false });
    expect(indicatorParams([])).toEqual({ sma: [], ema: [], bb: false, rsi: false, macd: false });
  });
});

describe("buildIndicators", () => {
  const data: IndicatorsResponse = {
    coin_id: "bitcoin",
    interval: "1h",
    source: "binance",
    quote: "USDT",
    candles: [0, 1, 2].map((i) => ({ time: 3600 * i, open: 1, high: 1, low: 1, close: 1, volume: 1 })),
    series: {
      sma_20: [null, 1, 2],
      rsi_14: [null, null, 55],
      bb_20_2: { upper: [null, 3, 4], middle: [null, 2, 3], lower: [null, 1, 2] },
      macd_12_26_9: { macd: [null, 1, 2], signal: [null, 0.5, 1], histogram: [null, 0.5, -1] },
    },
  };
  it("skips warm-up nulls and aligns with the candles' times", () => {
    expect(toPoints([10, 20, 30], [null, 5, 6])).toEqual([{ time: 20, value: 5 }, { time: 30, value: 6 }]);
  });
  it("puts overlays on the price pane and RSI/MACD in panes", () => {
    const built = buildIndicators(data, ["sma_20", "bb_20_2", "rsi_14", "macd"], PALETTE.dark);
    expect(built.overlays.map((line) => line.id)).toEqual(["sma_20", "bb_upper", "bb_middle", "bb_lower"]);
    expect(built.overlays[0]?.points).toEqual([{ time: 3600, value: 1 }, { time: 7200, value: 2 }]);
    expect(built.panes.map((pane) => pane.id)).toEqual(["rsi_14", "macd"]);
    expect(built.panes[0]?.guides).toEqual([70, 30]);
    expect(built.panes[1]?.histogram?.points.map((p) => p.color)).toEqual([PALETTE.dark.up, PALETTE.dark.down]);
  });
  it("reads the MACD under the key the API sends (macd_12_26_9) at the candles' unix times", () => {
    const built = buildIndicators(data, ["macd"], PALETTE.dark);
    expect(built.panes[0]?.lines.map((line) => line.points)).toEqual([
      [{ time: 3600, value: 1 }, { time: 7200, value: 2 }],
      [{ time: 3600, value: 0.5 }, { time: 7200, value: 1 }],
    ]);
  });
  it("tolerates a series the server left out", () => {
    const built = buildIndicators(data, ["ema_26"], PALETTE.light);
    expect(built.overlays).toEqual([expect.objectContaining({ id: "ema_26", points: [] })]);
  });
});

describe("foldPrice", () => {
  const last = { time: 3600, open: 10, high: 12, low: 9, close: 11 };
  it("updates the open candle", () => {
    expect(foldPrice(last, 13, 3600 + 100, 3600)).toEqual({ time: 3600, open: 10, high: 13, low: 9, close: 13 });
  });
  it("opens the next candle at the previous close", () => {
    expect(foldPrice(last, 8, 7200 + 5, 3600)).toEqual({ time: 7200, open: 11, high: 11, low: 8, close: 8 });
  });
  it("ignores late prices and missing candles", () => {
    expect(foldPrice(last, 8, 100, 3600)).toBeNull();
    expect(foldPrice(undefined, 8, 7200, 3600)).toBeNull();
  });
});
