"use client";

import { useSparkline } from "@/lib/queries";

export function sparkPath(values: number[], width: number, height: number): string {
  if (values.length < 2) return "";
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const step = width / (values.length - 1);
  return values
    .map((value, i) => `${i === 0 ? "M" : "L"}${(i * step).toFixed(1)},${(height - ((value - min) / span) * height).toFixed(1)}`)
    .join(" ");
}

/** The last 24 hourly closes, with the live price as the last point. */
export function Sparkline({ coinId, price, width = 96, height = 28 }: { coinId: string; price: number | null; width?: number; height?: number }) {
  const { data } = useSparkline(coinId);
  const closes = data?.candles.map((candle) => candle.close) ?? [];
  if (closes.length === 0) return <span aria-hidden className="inline-block" style={{ width, height }} />;
  const values = price === null ? closes : [...closes, price];
  const first = values[0] ?? 0;
  const last = values.at(-1) ?? first;
  const tone = last >= first ? "var(--up)" : "var(--down)";
  return (
    <svg
      width={width}
      height={height}
      viewBox={`-1 -1 ${width + 2} ${height + 2}`}
      role="img"
      aria-label={`24 hour trend ${last >= first ? "up" : "down"}`}
    >
      <path d={sparkPath(values, width, height)} fill="none" stroke={tone} strokeWidth="1.5" strokeLinejoin="round" />
    </svg>
  );
}
