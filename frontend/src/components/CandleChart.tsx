"use client";

// Candles + volume with lightweight-charts v5; indicator overlays on the price pane and
// RSI / MACD in panes below that share the time scale. Live prices update the last candle.
import {
  CandlestickSeries,
  ColorType,
  createChart,
  HistogramSeries,
  LineSeries,
  LineStyle,
  type IChartApi,
  type ISeriesApi,
  type UTCTimestamp,
} from "lightweight-charts";
import { useEffect, useRef } from "react";
import { foldPrice, type ChartColors, type LineDef, type PaneDef } from "@/lib/chart";
import type { Theme } from "@/lib/theme";
import type { Candle } from "@/lib/types";

export const PALETTE: Record<Theme, ChartColors & { bg: string; text: string; grid: string }> = {
  dark: {
    bg: "#121826", text: "#97a1b5", grid: "#1e2638", up: "#2bd19a", down: "#ff6b7a",
    sma_20: "#f3c969", sma_50: "#6f95ff", ema_12: "#e879f9", ema_26: "#38bdf8", bb: "#94a3b8",
    rsi: "#c084fc", macd: "#38bdf8", signal: "#f59e0b",
  },
  light: {
    bg: "#ffffff", text: "#55607a", grid: "#eef1f5", up: "#0b8a5b", down: "#c9303e",
    sma_20: "#b7791f", sma_50: "#2f5bd3", ema_12: "#a21caf", ema_26: "#0369a1", bb: "#64748b",
    rsi: "#7c3aed", macd: "#0369a1", signal: "#d97706",
  },
};

const ts = (seconds: number) => seconds as UTCTimestamp;

interface Props {
  candles: Candle[];
  overlays: LineDef[];
  panes: PaneDef[];
  theme: Theme;
  intervalSeconds: number;
  live?: { price: number; at: number };
  height?: number;
}

export function CandleChart({ candles, overlays, panes, theme, intervalSeconds, live, height = 420 }: Props) {
  const container = useRef<HTMLDivElement>(null);
  const chartRef = useRef<IChartApi | null>(null);
  const candleRef = useRef<ISeriesApi<"Candlestick"> | null>(null);
  const volumeRef = useRef<ISeriesApi<"Histogram"> | null>(null);
  const extrasRef = useRef<ISeriesApi<"Line" | "Histogram">[]>([]);
  const lastRef = useRef<Candle | undefined>(undefined);
  const colors = PALETTE[theme];

  // The chart itself: rebuilt only when the theme changes.
  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const chart = createChart(el, {
      autoSize: true,
      layout: {
        background: { type: ColorType.Solid, color: colors.bg },
        textColor: colors.text,
        fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        panes: { separatorColor: colors.grid },
      },
      grid: { vertLines: { color: colors.grid }, horzLines: { color: colors.grid } },
      rightPriceScale: { borderColor: colors.grid },
      timeScale: { borderColor: colors.grid, timeVisible: true, secondsVisible: false },
      crosshair: { mode: 0 },
    });
    candleRef.current = chart.addSeries(CandlestickSeries, {
      upColor: colors.up,
      downColor: colors.down,
      wickUpColor: colors.up,
      wickDownColor: colors.down,
      borderVisible: false,
    });
    volumeRef.current = chart.addSeries(HistogramSeries, {
      priceScaleId: "volume",
      priceFormat: { type: "volume" },
      lastValueVisible: false,
      priceLineVisible: false,
    });
    chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    candleRef.current.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.25 } });
    chartRef.current = chart;
    return () => {
      chart.remove();
      chartRef.current = null;
      candleRef.current = null;
      volumeRef.current = null;
      extrasRef.current = [];
    };
  }, [colors]);

  // Candles and volume.
  useEffect(() => {
    candleRef.current?.setData(
      candles.map((c) => ({ time: ts(c.time), open: c.open, high: c.high, low: c.low, close: c.close })),
    );
    volumeRef.current?.setData(
      candles.map((c) => ({
        time: ts(c.time),
        value: c.volume,
        color: `${c.close >= c.open ? colors.up : colors.down}55`,
      })),
    );
    lastRef.current = candles.at(-1);
    chartRef.current?.timeScale().fitContent();
  }, [candles, colors]);

  // Indicator overlays and panes: replaced whole whenever the selection or data changes.
  useEffect(() => {
    const chart = chartRef.current;
    if (!chart) return;
    for (const series of extrasRef.current) chart.removeSeries(series);
    extrasRef.current = [];
    const addLine = (line: LineDef, pane: number) => {
      const series = chart.addSeries(
        LineSeries,
        {
          color: line.color,
          lineWidth: 2,
          lineStyle: line.dashed ? LineStyle.Dashed : LineStyle.Solid,
          priceLineVisible: false,
          lastValueVisible: false,
          title: pane === 0 ? "" : line.label,
          crosshairMarkerVisible: false,
        },
        pane,
      );
      series.setData(line.points.map((p) => ({ time: ts(p.time), value: p.value })));
      extrasRef.current.push(series);
      return series;
    };
    for (const line of overlays) addLine(line, 0);
    panes.forEach((pane, i) => {
      const index = i + 1;
      if (pane.histogram) {
        const hist = chart.addSeries(HistogramSeries, { priceLineVisible: false, lastValueVisible: false }, index);
        hist.setData(pane.histogram.points.map((p) => ({ time: ts(p.time), value: p.value, color: p.color })));
        extrasRef.current.push(hist);
      }
      pane.lines.forEach((line, j) => {
        const series = addLine(line, index);
        if (j === 0) for (const guide of pane.guides ?? []) {
          series.createPriceLine({ price: guide, color: colors.text, lineStyle: LineStyle.Dotted, lineWidth: 1, axisLabelVisible: false, title: "" });
        }
      });
    });
    const chartPanes = chart.panes();
    chartPanes[0]?.setStretchFactor(3);
    for (let i = 1; i < chartPanes.length; i++) chartPanes[i]?.setStretchFactor(1);
  }, [overlays, panes, colors]);

  // Live price into the last candle.
  useEffect(() => {
    if (!live || !candleRef.current) return;
    const next = foldPrice(lastRef.current, live.price, live.at, intervalSeconds);
    if (!next) return;
    candleRef.current.update({ ...next, time: ts(next.time) });
    lastRef.current = { ...next, volume: next.time === lastRef.current?.time ? lastRef.current.volume : 0 };
  }, [live, intervalSeconds]);

  const paneExtra = panes.length * 130;
  return (
    <div
      ref={container}
      className="w-full overflow-hidden rounded-lg"
      style={{ height: height + paneExtra }}
      data-testid="candle-chart"
      role="img"
      aria-label={`Candlestick chart, ${candles.length} candles${panes.length ? ` with ${panes.map((p) => p.label).join(" and ")}` : ""}`}
    />
  );
}
