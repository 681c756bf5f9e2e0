import { render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";

// lightweight-charts needs a real canvas: mocked here, drawn for real in the browser tests.
const series = () => ({ setData: vi.fn(), update: vi.fn(), priceScale: () => ({ applyOptions: vi.fn() }), createPriceLine: vi.fn() });
const chart = {
  addSeries: vi.fn((...args: unknown[]) => (void args, series())),
  removeSeries: vi.fn(),
  priceScale: () => ({ applyOptions: vi.fn() }),
  timeScale: () => ({ fitContent: vi.fn() }),
  panes: () => [{ setStretchFactor: vi.fn() }, { setStretchFactor: vi.fn() }],
  remove: vi.fn(),
};
vi.mock("lightweight-charts", () => ({
  createChart: vi.fn(() => chart),
  CandlestickSeries: "Candlestick",
  HistogramSeries: "Histogram",
  LineSeries: "Line",
  ColorType: { Solid: "solid" },
  LineStyle: { Solid: 0, Dotted: 1, Dashed: 2 },
}));

import { CandleChart } from "./CandleChart";

describe("CandleChart", () => {
  it("draws candles, volume, overlays and an RSI pane", () => {
    const candles = [{ time: 0, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10 }];
    const { unmount } = render(
      <CandleChart
        candles={candles}
        overlays={[{ id: "sma_20", label: "SMA 20", color: "#fff", points: [{ time: 0, value: 1 }] }]}
        panes={[{ id: "rsi_14", label: "RSI 14", lines: [{ id: "rsi_14", label: "RSI 14", color: "#fff", points: [] }], guides: [70, 30] }]}
        theme="dark"
        intervalSeconds={3600}
      />,
    );
    const kinds = chart.addSeries.mock.calls.map((call) => [call[0], call[2]]);
    expect(kinds).toEqual([["Candlestick", undefined], ["Histogram", undefined], ["Line", 0], ["Line", 1]]);
    expect(screen.getByRole("img").getAttribute("aria-label")).toBe("Candlestick chart, 1 candles with RSI 14");
    unmount();
    expect(chart.remove).toHaveBeenCalled();
  });
});
