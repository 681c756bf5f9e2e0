"use client";

// The portfolio's value over time (an area) against what it cost (a dashed line), drawn with
// lightweight-charts like the coin page.
import { AreaSeries, ColorType, createChart, LineSeries, LineStyle, type IChartApi, type ISeriesApi, type UTCTimestamp } from "lightweight-charts";
import { useEffect, useRef } from "react";
import { PALETTE } from "@/components/CandleChart";
import { historyLines } from "@/lib/portfolioHistory";
import type { HistoryPoint } from "@/lib/portfolioTypes";
import type { Theme } from "@/lib/theme";

export function HistoryChart({ points, theme, height = 280 }: { points: HistoryPoint[]; theme: Theme; height?: number }) {
  const container = useRef<HTMLDivElement>(null);
  const valueRef = useRef<ISeriesApi<"Area"> | null>(null);
  const costRef = useRef<ISeriesApi<"Line"> | null>(null);
  const chartRef = useRef<IChartApi | null>(null);
  const colors = PALETTE[theme];
  const accent = theme === "dark" ? "#6f95ff" : "#2f5bd3";

  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const chart = createChart(el, {
      autoSize: true,
      layout: { background: { type: ColorType.Solid, color: colors.bg }, textColor: colors.text, fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" },
      grid: { vertLines: { color: colors.grid }, horzLines: { color: colors.grid } },
      rightPriceScale: { borderColor: colors.grid },
      timeScale: { borderColor: colors.grid, timeVisible: true, secondsVisible: false },
    });
    valueRef.current = chart.addSeries(AreaSeries, { lineColor: accent, topColor: `${accent}55`, bottomColor: `${accent}05`, lineWidth: 2, title: "Value" });
    costRef.current = chart.addSeries(LineSeries, { color: colors.text, lineWidth: 1, lineStyle: LineStyle.Dashed, title: "Cost basis", lastValueVisible: false, priceLineVisible: false });
    chartRef.current = chart;
    return () => {
      chart.remove();
      chartRef.current = null;
      valueRef.current = null;
      costRef.current = null;
    };
  }, [colors, accent]);

  useEffect(() => {
    const { value, cost } = historyLines(points);
    valueRef.current?.setData(value.map((p) => ({ time: p.time as UTCTimestamp, value: p.value })));
    costRef.current?.setData(cost.map((p) => ({ time: p.time as UTCTimestamp, value: p.value })));
    chartRef.current?.timeScale().fitContent();
  }, [points, colors, accent]);

  return <div ref={container} style={{ height }} className="w-full" data-testid="history-chart" />;
}
