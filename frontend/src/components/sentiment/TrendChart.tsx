"use client";

// A coin's sentiment trend next to its price: the price line on top, the score per bucket as
// bars below (green above zero, red below), one time scale (lightweight-charts v5 panes).
import {
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
import { PALETTE } from "@/components/CandleChart";
import type { Theme } from "@/lib/theme";

const ts = (seconds: number) => seconds as UTCTimestamp;

export function TrendChart({
  price,
  scores,
  theme,
  label,
}: {
  price: { time: number; value: number }[];
  scores: { time: number; value: number }[];
  theme: Theme;
  label: string;
}) {
  const container = useRef<HTMLDivElement>(null);
  const chartRef = useRef<IChartApi | null>(null);
  const priceRef = useRef<ISeriesApi<"Line"> | null>(null);
  const scoreRef = useRef<ISeriesApi<"Histogram"> | null>(null);
  const colors = PALETTE[theme];

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
    });
    priceRef.current = chart.addSeries(LineSeries, { color: colors.sma_50, lineWidth: 2, title: "Price", priceLineVisible: false });
    scoreRef.current = chart.addSeries(
      HistogramSeries,
      { title: "Sentiment", priceLineVisible: false, lastValueVisible: true, priceFormat: { type: "price", precision: 2, minMove: 0.01 } },
      1,
    );
    scoreRef.current.createPriceLine({ price: 0, color: colors.text, lineStyle: LineStyle.Dotted, lineWidth: 1, axisLabelVisible: false, title: "" });
    chart.panes()[0]?.setStretchFactor(2);
    chart.panes()[1]?.setStretchFactor(1);
    chartRef.current = chart;
    return () => {
      chart.remove();
      chartRef.current = null;
      priceRef.current = null;
      scoreRef.current = null;
    };
  }, [colors]);

  useEffect(() => {
    priceRef.current?.setData(price.map((p) => ({ time: ts(p.time), value: p.value })));
    scoreRef.current?.setData(
      scores.map((p) => ({ time: ts(p.time), value: p.value, color: p.value >= 0 ? colors.up : colors.down })),
    );
    chartRef.current?.timeScale().fitContent();
  }, [price, scores, colors]);

  return <div ref={container} className="h-80 w-full overflow-hidden rounded-lg" role="img" aria-label={label} data-testid="sentiment-trend-chart" />;
}
