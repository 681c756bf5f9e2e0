// The coin page's side panels: key figures and the price on each exchange.
import { formatAgo, formatCompact, formatPercent, formatPrice } from "@/lib/format";
import { volumeUsd } from "@/lib/market";
import type { Coin } from "@/lib/types";
import { Change } from "./ChangeBadge";
import { EmptyState, Panel } from "./states";

export function KeyFigures({ coin }: { coin: Coin }) {
  const range = coin.high_24h !== null && coin.low_24h !== null ? coin.high_24h - coin.low_24h : null;
  const position = range && coin.low_24h !== null && coin.price !== null ? ((coin.price - coin.low_24h) / range) * 100 : null;
  const items: [string, React.ReactNode][] = [
    ["24h change", <Change key="c" value={coin.change_24h_pct} />],
    ["24h high", formatPrice(coin.high_24h)],
    ["24h low", formatPrice(coin.low_24h)],
    ["24h volume", `${formatCompact(coin.volume_24h, "")} ${coin.symbol.toUpperCase()}`],
    ["24h volume (USD)", formatCompact(volumeUsd(coin))],
    ["Position in 24h range", position === null ? "—" : formatPercent(position).replace(/^\+/, "")],
    ["Sources", Object.keys(coin.sources).length],
    ["Updated", formatAgo(coin.updated_at)],
  ];
  return (
    <Panel title="Key figures">
      <dl className="grid grid-cols-2 gap-x-4 gap-y-3 text-sm">
        {items.map(([label, value]) => (
          <div key={label}>
            <dt className="text-xs text-muted">{label}</dt>
            <dd className="mt-0.5 font-medium tabular">{value}</dd>
          </div>
        ))}
      </dl>
    </Panel>
  );
}

export function ExchangePrices({ coin }: { coin: Coin }) {
  const rows = Object.entries(coin.sources).sort(([a], [b]) => a.localeCompare(b));
  return (
    <Panel title="Price by exchange">
      {rows.length === 0 ? (
        <EmptyState>No exchange is reporting this coin right now.</EmptyState>
      ) : (
        <table className="w-full text-sm" data-testid="exchange-prices">
          <thead>
            <tr className="text-xs text-muted">
              <th scope="col" className="pb-1.5 text-left font-medium">Exchange</th>
              <th scope="col" className="pb-1.5 text-right font-medium">Price</th>
              <th scope="col" className="pb-1.5 text-right font-medium">Spread</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(([name, source]) => {
              const spread = coin.price ? ((source.price - coin.price) / coin.price) * 100 : null;
              return (
                <tr key={name} className="border-t border-line">
                  <th scope="row" className="py-1.5 text-left font-normal">
                    <span className="capitalize">{name}</span>
                    <span className="block text-xs text-muted">
                      {formatAgo(source.updated_at)}
                      {source.fresh === false && <span className="ml-1 text-warn">stale</span>}
                    </span>
                  </th>
                  <td className="py-1.5 text-right font-mono tabular">
                    {formatPrice(source.price).replace("$", "")} <span className="text-xs text-muted">{source.quote}</span>
                  </td>
                  <td className="py-1.5 text-right tabular text-muted" title="Difference from the consolidated USD price">
                    {formatPercent(spread)}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Panel>
  );
}
