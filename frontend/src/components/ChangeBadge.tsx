import { changeTone, formatPercent } from "@/lib/format";

export function Change({ value, className = "" }: { value: number | null | undefined; className?: string }) {
  const tone = changeTone(value);
  const color = tone === "up" ? "text-up" : tone === "down" ? "text-down" : "text-muted";
  return <span className={`tabular ${color} ${className}`}>{formatPercent(value)}</span>;
}
