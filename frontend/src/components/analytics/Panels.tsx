// The analytics page's side panels: plain-language signals, live indicator values and the
// volatility ranking.
import Link from "next/link";
import { EmptyState, ErrorState, Loading, Panel } from "@/components/states";
import { errorMessage } from "@/lib/api";
import { formatPrice } from "@/lib/format";
import type { AnalyticsSummary } from "@/lib/insightTypes";
import { formatIndicator, formatVolatility, nested, scalar, type VolatilityRow } from "@/lib/insights";
import { describeSignal, overallReading, type Tone } from "@/lib/signals";
import { LiveBadge } from "./Controls";

const TONE_CLASS: Record<Tone, string> = {
  bullish: "text-up",
  bearish: "text-down",
  neutral: "text-fg",
  unknown: "text-muted",
};
const TONE_WORD: Record<Tone, string> = { bullish: "Bullish", bearish: "Bearish", neutral: "Neutral", unknown: "Waiting" };

interface QueryLike<T> {
  data: T | undefined;
  isPending: boolean;
  isError: boolean;
  error: unknown;
  refetch: () => unknown;
}

export function SignalsPanel({ summary, coinName }: { summary: QueryLike<AnalyticsSummary>; coinName: string }) {
  let body;
  if (summary.isPending) body = <Loading label="Loading signals" rows={5} />;
  else if (summary.isError || !summary.data) {
    body = <ErrorState message={`Signals are unavailable: ${errorMessage(summary.error)}`} onRetry={() => void summary.refetch()} />;
  } else if (summary.data.signals.length === 0) {
    body = <EmptyState>No signals for {coinName} yet.</EmptyState>;
  } else {
    const views = summary.data.signals.map((signal) => describeSignal(signal, summary.data));
    const reading = overallReading(views);
    body = (
      <>
        <p className={`mb-3 text-base font-semibold ${TONE_CLASS[reading.tone]}`} data-testid="signals-reading">
          {reading.text}
        </p>
        <ul className="space-y-2.5 text-sm" data-testid="signals">
          {views.map((view) => (
            <li key={view.indicator} className="flex gap-2">
              <span
                className={`mt-0.5 inline-block w-16 shrink-0 self-start rounded border border-line px-1 text-center text-[11px] font-medium ${TONE_CLASS[view.tone]}`}
              >
                {TONE_WORD[view.tone]}
              </span>
              <span>
                <span className="block text-xs text-muted">{view.title}</span>
                {view.detail}
              </span>
            </li>
          ))}
        </ul>
        <p className="mt-3 text-xs text-muted">Signals describe the indicators; they are not advice.</p>
      </>
    );
  }
  return <Panel title="Signals">{body}</Panel>;
}

export function LiveFigures({
  figures,
  fromStream,
  streaming,
}: {
  figures: { values: AnalyticsSummary["values"]; close: number | null; time: string | null; live: boolean } | null;
  fromStream: boolean;
  streaming: boolean;
}) {
  const items: [string, string][] = figures
    ? [
        ["Close", formatPrice(figures.close)],
        ["RSI 14", formatIndicator(scalar(figures.values, "rsi_14"), 1)],
        ["SMA 20", formatIndicator(scalar(figures.values, "sma_20"))],
        ["SMA 50", formatIndicator(scalar(figures.values, "sma_50"))],
        ["SMA 200", formatIndicator(scalar(figures.values, "sma_200"))],
        ["EMA 12", formatIndicator(scalar(figures.values, "ema_12"))],
        ["EMA 26", formatIndicator(scalar(figures.values, "ema_26"))],
        ["MACD", formatIndicator(nested(figures.values, "macd_12_26_9", "macd"), 4)],
        ["MACD signal", formatIndicator(nested(figures.values, "macd_12_26_9", "signal"), 4)],
        ["MACD histogram", formatIndicator(nested(figures.values, "macd_12_26_9", "histogram"), 4)],
        ["Bollinger upper", formatIndicator(nested(figures.values, "bb_20_2", "upper"))],
        ["Bollinger lower", formatIndicator(nested(figures.values, "bb_20_2", "lower"))],
        ["Volatility 30 (yearly)", formatVolatility(scalar(figures.values, "volatility_30"))],
      ]
    : [];
  return (
    <Panel
      title="Latest values"
      action={<LiveBadge testId="live-values-badge" on={streaming && fromStream} title={streaming ? "Values stream over /ws/analytics" : "Values refresh every 30 s"} />}
    >
      {!figures ? (
        <Loading label="Loading values" rows={4} />
      ) : (
        <>
          <dl className="grid grid-cols-2 gap-x-4 gap-y-2 text-sm" data-testid="live-values">
            {items.map(([label, value]) => (
              <div key={label}>
                <dt className="text-xs text-muted">{label}</dt>
                <dd className="font-medium tabular">{value}</dd>
              </div>
            ))}
          </dl>
          <p className="mt-2 text-xs text-muted">
            {figures.live ? "Over the candle still forming" : "At the last closed candle"}
            {figures.time ? `, ${new Date(figures.time).toLocaleString()}` : ""}.
          </p>
        </>
      )}
    </Panel>
  );
}

export function VolatilityTable({ rows, max }: { rows: VolatilityRow[]; max: number }) {
  if (rows.length === 0) return <EmptyState>No coins to rank yet.</EmptyState>;
  return (
    <table className="w-full text-sm" data-testid="volatility-ranking">
      <thead>
        <tr className="text-left text-xs text-muted">
          <th scope="col" className="w-10 py-1 font-medium">#</th>
          <th scope="col" className="py-1 font-medium">Coin</th>
          <th scope="col" className="py-1 text-right font-medium">Annualized</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.coin_id} className="border-t border-line">
            <td className="py-1.5 text-muted tabular">{row.rank ?? "–"}</td>
            <td className="py-1.5">
              <Link href={`/coin/?id=${encodeURIComponent(row.coin_id)}`} className="hover:underline focus-visible:outline-2 focus-visible:outline-accent">
                {row.name}
              </Link>{" "}
              <span className="text-xs uppercase text-muted">{row.symbol}</span>
            </td>
            <td className="py-1.5 text-right">
              <span className="flex items-center justify-end gap-2">
                <span aria-hidden className="hidden h-1.5 w-20 overflow-hidden rounded bg-panel-2 sm:block">
                  <span
                    className="block h-full rounded bg-accent"
                    style={{ width: `${row.volatility === null || max <= 0 ? 0 : Math.max(2, (row.volatility / max) * 100)}%` }}
                  />
                </span>
                <span className="w-16 tabular">{formatVolatility(row.volatility)}</span>
              </span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
