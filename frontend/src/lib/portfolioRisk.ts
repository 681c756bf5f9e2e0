// Risk statistics arrive as JSON numbers (fractions, not money): shown as percentages or ratios.

/** 0.4312 → "43.1%"; null → "—". */
export function formatShare(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return `${(value * 100).toFixed(1).replace("-", "−")}%`;
}

/** 1.0342 → "1.03"; null → "—". */
export function formatRatio(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return value.toFixed(2).replace("-", "−");
}
