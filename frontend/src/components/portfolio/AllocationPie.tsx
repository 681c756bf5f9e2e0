"use client";

// Where the value sits: a Recharts pie of each holding's share, with the same figures as a list
// (the list is what screen readers and the keyboard get).
import { Pie, PieChart, Tooltip } from "recharts";
import { decimalToNumber, formatDecimal, formatQuantity, formatUsd } from "@/lib/portfolioDecimal";
import type { AssetPerformance } from "@/lib/portfolioTypes";

export const SLICE_COLORS = ["#6f95ff", "#2bd19a", "#f3c969", "#e879f9", "#38bdf8", "#ff6b7a", "#a3e635", "#fb923c", "#94a3b8"];

export interface Slice {
  coin_id: string;
  name: string;
  value: number;
  fill: string;
}

/** Holdings with a value, largest first; a share below 0.5 % still gets its slice. */
export function slices(assets: AssetPerformance[], names: (coinId: string) => string): Slice[] {
  return assets
    .filter((asset) => decimalToNumber(asset.value) > 0)
    .map((asset, index) => ({
      coin_id: asset.coin_id,
      name: names(asset.coin_id),
      value: decimalToNumber(asset.value),
      fill: SLICE_COLORS[index % SLICE_COLORS.length] ?? "#94a3b8",
    }));
}

export function AllocationPie({ assets, names }: { assets: AssetPerformance[]; names: (coinId: string) => string }) {
  const data = slices(assets, names);
  const colors = new Map(data.map((slice) => [slice.coin_id, slice.fill]));
  return (
    <div className="flex flex-col items-center gap-4 sm:flex-row sm:items-start">
      <div data-testid="allocation-pie" aria-hidden className="shrink-0">
        <PieChart width={200} height={200}>
          <Pie data={data} dataKey="value" nameKey="name" innerRadius={55} outerRadius={95} paddingAngle={data.length > 1 ? 1 : 0} isAnimationActive={false} stroke="none" />
          <Tooltip formatter={(value) => formatUsd(String(value), { places: 2 })} />
        </PieChart>
      </div>
      <ul className="w-full space-y-1.5 text-sm" aria-label="Allocation">
        {assets.map((asset) => (
          <li key={asset.coin_id} className="flex items-center gap-2" data-testid={`allocation-${asset.coin_id}`}>
            <span aria-hidden className="h-3 w-3 shrink-0 rounded-sm" style={{ background: colors.get(asset.coin_id) ?? "transparent" }} />
            <span className="min-w-0 flex-1 truncate">
              {names(asset.coin_id)} <span className="text-muted">{formatQuantity(asset.quantity)}</span>
              {asset.stale && <span className="ml-1 text-xs text-warn" title="No live price: the last known one is used">(last price)</span>}
            </span>
            <span className="tabular-nums text-muted">{formatUsd(asset.value, { places: 2 })}</span>
            <span className="w-16 text-right font-medium tabular-nums">{formatDecimal(asset.allocation_pct, 1)}%</span>
          </li>
        ))}
      </ul>
    </div>
  );
}
