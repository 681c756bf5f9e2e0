// Pure: turns the analytics indicators response into the lines and panes the chart draws.
import { create } from "zustand";
import { persist } from "zustand/middleware";
import type { IndicatorParams } from "./queries";
import type { IndicatorsResponse, Interval, Series } from "./types";

export const INDICATORS = [
  { id: "sma_20", label: "SMA 20", kind: "overlay" },
  { id: "sma_50", label: "SMA 50", kind: "overlay" },
  { id: "ema_12", label: "EMA 12", kind: "overlay" },
  { id: "ema_26", label: "EMA 26", kind: "overlay" },
  { id: "bb_20_2", label: "Bollinger 20, 2", kind: "overlay" },
  { id: "rsi_14", label: "RSI 14", kind: "pane" },
  { id: "macd", label: "MACD 12, 26, 9", kind: "pane" },
] as const;
export type IndicatorId = (typeof INDICATORS)[number]["id"];

export const INTERVAL_SECONDS: Record<Interval, number> = {
  "1m": 60,
  "5m": 300,
  "15m": 900,
  "1h": 3600,
  "4h": 14400,
  "1d": 86400,
};

interface ChartPrefs {
  interval: Interval;
  indicators: IndicatorId[];
  setInterval: (interval: Interval) => void;
  toggle: (id: IndicatorId) => void;
}

/** The coin page's timeframe and indicator picks, remembered across visits. */
export const useChartPrefs = create<ChartPrefs>()(
  persist(
    (set) => ({
      interval: "1h",
      indicators: [],
      setInterval: (interval) => set({ interval }),
      toggle: (id) =>
        set((state) => ({
          indicators: state.indicators.includes(id)
            ? state.indicators.filter((x) => x !== id)
            : [...state.indicators, id],
        })),
    }),
    { name: "cryptodash.chart" },
  ),
);

export function indicatorParams(selected: readonly IndicatorId[]): IndicatorParams {
  const periods = (prefix: "sma" | "ema") =>
    selected.filter((id) => id.startsWith(prefix)).map((id) => Number(id.split("_")[1])).sort((a, b) => a - b);
  return {
    sma: periods("sma"),
    ema: periods("ema"),
    bb: selected.includes("bb_20_2"),
    rsi: selected.includes("rsi_14"),
    macd: selected.includes("macd"),
  };
}

export interface Point {
  time: number;
  value: number;
}

export interface LineDef {
  id: string;
  label: string;
  color: string;
  points: Point[];
  dashed?: boolean;
}

export interface PaneDef {
  id: "rsi_14" | "macd";
  label: string;
  lines: LineDef[];
  histogram?: { points: (Point & { color: string })[] };
  guides?: number[];
}

export interface ChartColors {
  sma_20: string;
  sma_50: string;
  ema_12: string;
  ema_26: string;
  bb: string;
  rsi: string;
  macd: string;
  signal: string;
  up: string;
  down: string;
}

export function toPoints(times: number[], series: Series | undefined): Point[] {
  if (!series) return [];
  const points: Point[] = [];
  series.forEach((value, i) => {
    const time = times[i];
    if (value !== null && value !== undefined && Number.isFinite(value) && time !== undefined) points.push({ time, value });
  });
  return points;
}

function flat(value: IndicatorsResponse["series"][string] | undefined): Series | undefined {
  return Array.isArray(value) ? value : undefined;
}

function nested(value: IndicatorsResponse["series"][string] | undefined, key: string): Series | undefined {
  return value && !Array.isArray(value) ? value[key] : undefined;
}

/** Unix seconds from unix seconds or an ISO-8601 timestamp. */
export function toSeconds(time: number | string): number {
  return typeof time === "number" ? time : Math.floor(Date.parse(time) / 1000);
}

/** A series by its exact key, else the first whose key starts with `prefix` (`macd_12_26_9`). */
function seriesFor(data: IndicatorsResponse, key: string, prefix = key) {
  if (key in data.series) return data.series[key];
  return Object.entries(data.series).find(([name]) => name.startsWith(prefix))?.[1];
}

export function buildIndicators(
  data: IndicatorsResponse,
  selected: readonly IndicatorId[],
  colors: ChartColors,
): { overlays: LineDef[]; panes: PaneDef[] } {
  const times = data.candles.map((candle) => toSeconds(candle.time));
  const overlays: LineDef[] = [];
  for (const id of ["sma_20", "sma_50", "ema_12", "ema_26"] as const) {
    if (!selected.includes(id)) continue;
    const label = INDICATORS.find((item) => item.id === id)?.label ?? id;
    overlays.push({ id, label, color: colors[id], points: toPoints(times, flat(data.series[id])) });
  }
  if (selected.includes("bb_20_2")) {
    const bands = seriesFor(data, "bb_20_2", "bb_");
    for (const band of ["upper", "middle", "lower"] as const) {
      overlays.push({
        id: `bb_${band}`,
        label: `BB ${band}`,
        color: colors.bb,
        dashed: band === "middle",
        points: toPoints(times, nested(bands, band)),
      });
    }
  }
  const panes: PaneDef[] = [];
  if (selected.includes("rsi_14")) {
    panes.push({
      id: "rsi_14",
      label: "RSI 14",
      lines: [{ id: "rsi_14", label: "RSI 14", color: colors.rsi, points: toPoints(times, flat(seriesFor(data, "rsi_14"))) }],
      guides: [70, 30],
    });
  }
  if (selected.includes("macd")) {
    const macd = seriesFor(data, "macd");
    panes.push({
      id: "macd",
      label: "MACD",
      lines: [
        { id: "macd", label: "MACD", color: colors.macd, points: toPoints(times, nested(macd, "macd")) },
        { id: "signal", label: "Signal", color: colors.signal, points: toPoints(times, nested(macd, "signal")) },
      ],
      histogram: {
        points: toPoints(times, nested(macd, "histogram")).map((point) => ({
          ...point,
          color: point.value >= 0 ? colors.up : colors.down,
        })),
      },
    });
  }
  return { overlays, panes };
}

/** Fold a live price into the last candle (or open the next one when its bucket has begun). */
export function foldPrice<T extends { time: number; open: number; high: number; low: number; close: number }>(
  last: T | undefined,
  price: number,
  atSeconds: number,
  intervalSeconds: number,
): { time: number; open: number; high: number; low: number; close: number } | null {
  if (!last) return null;
  const bucket = Math.floor(atSeconds / intervalSeconds) * intervalSeconds;
  if (bucket < last.time) return null;
  if (bucket === last.time) {
    return { time: last.time, open: last.open, high: Math.max(last.high, price), low: Math.min(last.low, price), close: price };
  }
  return { time: bucket, open: last.close, high: Math.max(last.close, price), low: Math.min(last.close, price), close: price };
}
