// Pure: the correlation heatmap's diverging colour scale (−1 red, 0 neutral, +1 blue), a text
// colour that stays readable on every cell, and the words a screen reader hears for a value.
import type { Theme } from "./theme";

type Rgb = [number, number, number];

// Every colour on a scale stays on one side of the luminance band (≈0.18–0.21) where neither
// white nor dark text reaches 4.5:1: dark-theme cells are all dark, light-theme cells all light.
const ENDS: Record<Theme, { negative: Rgb; neutral: Rgb; positive: Rgb; missing: string }> = {
  dark: { negative: [190, 45, 65], neutral: [26, 34, 51], positive: [47, 91, 211], missing: "#1a2233" },
  light: { negative: [235, 100, 110], neutral: [246, 247, 250], positive: [96, 140, 235], missing: "#eef1f5" },
};

function hex([r, g, b]: Rgb): string {
  return `#${[r, g, b].map((c) => Math.round(c).toString(16).padStart(2, "0")).join("")}`;
}

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

/** WCAG relative luminance of an sRGB colour. */
export function luminance([r, g, b]: Rgb): number {
  const channel = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}

export function contrast(a: Rgb, b: Rgb): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

const WHITE: Rgb = [255, 255, 255];
const INK: Rgb = [15, 23, 42];

export interface CellColour {
  background: string;
  color: string;
}

/** The cell colours for a correlation in [−1, 1]; null (no data) gets the muted panel colour. */
export function correlationColour(value: number | null | undefined, theme: Theme): CellColour {
  const ends = ENDS[theme];
  if (value === null || value === undefined || !Number.isFinite(value)) {
    return { background: ends.missing, color: theme === "dark" ? "#97a1b5" : "#55607a" };
  }
  const v = Math.max(-1, Math.min(1, value));
  const rgb = mix(ends.neutral, v < 0 ? ends.negative : ends.positive, Math.abs(v));
  const text = contrast(rgb, WHITE) >= contrast(rgb, INK) ? WHITE : INK;
  return { background: hex(rgb), color: hex(text) };
}

/** "strong positive", "weak negative", "none"… (|r| ≥ 0.7 strong, ≥ 0.4 moderate, ≥ 0.2 weak). */
export function correlationStrength(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "no data";
  const abs = Math.abs(value);
  const sign = value > 0 ? "positive" : "negative";
  if (abs >= 0.7) return `strong ${sign}`;
  if (abs >= 0.4) return `moderate ${sign}`;
  if (abs >= 0.2) return `weak ${sign}`;
  return "little or none";
}

export function formatCorrelation(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return (value < 0 ? "−" : "") + Math.abs(value).toFixed(2);
}

/** The legend's stops, left to right. */
export const LEGEND_STOPS = [-1, -0.5, 0, 0.5, 1] as const;
