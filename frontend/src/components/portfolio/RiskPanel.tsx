"use client";

// Risk of the current mix (README "Portfolio": volatility, drawdown, beta, correlations),
// measured on daily or hourly closes.
import { useState } from "react";
import { EmptyState, ErrorState, Loading } from "@/components/states";
import { errorMessage } from "@/lib/api";
import { formatRatio, formatShare } from "@/lib/portfolioRisk";
import { useRisk } from "@/lib/portfolioQueries";
import type { HistoryInterval } from "@/lib/portfolioTypes";

const BASES: { value: HistoryInterval; label: string; window: string }[] = [
  { value: "1d", label: "Daily", window: "90 days" },
  { value: "1h", label: "Hourly", window: "168 hours" },
];

export function RiskBasis({ value, onChange }: { value: HistoryInterval; onChange: (value: HistoryInterval) => void }) {
  return (
    <div role="group" aria-label="Risk measured on" className="flex gap-1">
      {BASES.map((basis) => (
        <button
          key={basis.value}
          type="button"
          aria-pressed={value === basis.value}
          title={`Returns of the last ${basis.window}`}
          onClick={() => onChange(basis.value)}
          className="rounded-md border border-line px-2 py-0.5 text-xs aria-[pressed=true]:bg-accent aria-[pressed=true]:text-accent-fg focus-visible:outline-2 focus-visible:outline-accent"
        >
          {basis.label}
        </button>
      ))}
    </div>
  );
}

export function RiskPanel({ portfolioId, names, hasHoldings }: { portfolioId: number; names: (coinId: string) => string; hasHoldings: boolean }) {
  const [interval, setBasis] = useState<HistoryInterval>("1d");
  const risk = useRisk(hasHoldings ? portfolioId : null, interval);
  const basis = <RiskBasis value={interval} onChange={setBasis} />;
  if (!hasHoldings) return <EmptyState>Risk figures appear once the portfolio holds coins.</EmptyState>;
  if (risk.isPending) return <Loading label="Loading risk figures" rows={3} />;
  if (risk.isError) return <ErrorState message={`Risk figures are unavailable: ${errorMessage(risk.error)}`} onRetry={() => void risk.refetch()} />;
  const r = risk.data;
  const { coins, matrix } = r.correlation;
  return (
    <div className="space-y-4 text-sm">
      {basis}
      <dl className="grid grid-cols-3 gap-3">
        <div>
          <dt className="text-xs uppercase tracking-wide text-muted">Volatility (annual)</dt>
          <dd className="mt-1 text-base font-semibold tabular-nums" data-testid="risk-volatility">{formatShare(r.volatility)}</dd>
        </div>
        <div>
          <dt className="text-xs uppercase tracking-wide text-muted">Max drawdown</dt>
          <dd className="mt-1 text-base font-semibold tabular-nums" data-testid="risk-drawdown">{formatShare(r.max_drawdown)}</dd>
        </div>
        <div>
          <dt className="text-xs uppercase tracking-wide text-muted">Beta to bitcoin</dt>
          <dd className="mt-1 text-base font-semibold tabular-nums" data-testid="risk-beta">{formatRatio(r.beta_to_bitcoin)}</dd>
        </div>
      </dl>
      {r.volatility === null && (
        <p className="text-xs text-muted">
          Not enough {interval === "1d" ? "daily" : "hourly"} prices yet to measure (at least 2 closed {interval === "1d" ? "days" : "hours"} of every holding).
        </p>
      )}
      {r.assets.length > 0 && (
        <table className="w-full text-sm" aria-label="Risk by holding">
          <thead>
            <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
              <th scope="col" className="py-1.5 font-medium">Coin</th>
              <th scope="col" className="py-1.5 text-right font-medium">Weight</th>
              <th scope="col" className="py-1.5 text-right font-medium">Volatility</th>
            </tr>
          </thead>
          <tbody>
            {r.assets.map((asset) => (
              <tr key={asset.coin_id} className="border-b border-line/60">
                <td className="py-1.5">{names(asset.coin_id)}</td>
                <td className="py-1.5 text-right tabular-nums">{formatShare(asset.weight)}</td>
                <td className="py-1.5 text-right tabular-nums">{formatShare(asset.volatility)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {coins.length > 1 && (
        <div className="overflow-x-auto">
          <table className="text-xs" aria-label="Correlation of holdings">
            <thead>
              <tr>
                <td />
                {coins.map((coin) => (
                  <th key={coin} scope="col" className="px-2 py-1 font-medium text-muted">{names(coin)}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {coins.map((coin, i) => (
                <tr key={coin}>
                  <th scope="row" className="px-2 py-1 text-left font-medium text-muted">{names(coin)}</th>
                  {coins.map((other, j) => (
                    <td key={other} className="px-2 py-1 text-right tabular-nums">{formatRatio(matrix[i]?.[j] ?? null)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
