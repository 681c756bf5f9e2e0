// The performance figures: value, cost basis, gains, ROI and the 24 h change, as the API (or the
// live socket) gives them — decimal strings, formatted without floats.
import { decimalTone, formatPct, formatUsd } from "@/lib/portfolioDecimal";
import type { Performance } from "@/lib/portfolioTypes";
import { Tone } from "./ui";

function Figure({ label, testId, children }: { label: string; testId: string; children: React.ReactNode }) {
  return (
    <div className="rounded-lg border border-line bg-bg/40 p-3">
      <dt className="text-xs uppercase tracking-wide text-muted">{label}</dt>
      <dd className="mt-1 text-lg font-semibold tabular-nums" data-testid={testId}>
        {children}
      </dd>
    </div>
  );
}

export function Figures({ performance }: { performance: Performance }) {
  const p = performance;
  const gain = (value: string | null, testId: string) => (
    <Tone tone={decimalTone(value)} testId={testId}>
      {formatUsd(value, { signed: true, places: 2 })}
    </Tone>
  );
  return (
    <dl className="grid grid-cols-2 gap-3 sm:grid-cols-3 xl:grid-cols-6">
      <Figure label="Value" testId="figure-value">
        {formatUsd(p.total_value, { places: 2 })}
      </Figure>
      <Figure label="Cost basis" testId="figure-cost-basis">
        {formatUsd(p.cost_basis, { places: 2 })}
      </Figure>
      <Figure label="Unrealized gain" testId="figure-unrealized">
        {gain(p.unrealized_gain, "figure-unrealized-value")}
      </Figure>
      <Figure label="Realized gain" testId="figure-realized">
        {gain(p.realized_gain, "figure-realized-value")}
      </Figure>
      <Figure label="ROI" testId="figure-roi">
        <Tone tone={decimalTone(p.roi_percentage)}>{formatPct(p.roi_percentage)}</Tone>
      </Figure>
      <Figure label="24 h change" testId="figure-change">
        {gain(p.change_24h, "figure-change-value")}
      </Figure>
    </dl>
  );
}
