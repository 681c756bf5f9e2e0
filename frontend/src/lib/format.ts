// Number and time formatting for prices that span from 0.0000012 to 100,000.

export function formatPrice(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const abs = Math.abs(value);
  let digits: number;
  if (abs >= 1000) digits = 2;
  else if (abs >= 1) digits = abs >= 100 ? 2 : 4;
  else if (abs === 0) digits = 2;
  else digits = Math.min(10, Math.max(4, 3 - Math.floor(Math.log10(abs)) + 1));
  return (
    "$" +
    value.toLocaleString("en-US", { minimumFractionDigits: Math.min(digits, 2), maximumFractionDigits: digits })
  );
}

export function formatPercent(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const sign = value > 0 ? "+" : value < 0 ? "−" : "";
  return `${sign}${Math.abs(value).toFixed(2)}%`;
}

export function formatCompact(value: number | null | undefined, prefix = "$"): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return (
    prefix +
    value.toLocaleString("en-US", { notation: "compact", maximumFractionDigits: 2 })
  );
}

export function formatAgo(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "—";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "—";
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} d ago`;
}

export function changeTone(value: number | null | undefined): "up" | "down" | "flat" {
  if (value === null || value === undefined || value === 0 || !Number.isFinite(value)) return "flat";
  return value > 0 ? "up" : "down";
}
