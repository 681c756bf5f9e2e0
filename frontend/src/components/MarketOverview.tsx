// Top movers and market figures, computed from the live coin list so they move with it.
import Link from "next/link";
import { formatCompact, formatPrice } from "@/lib/format";
import { marketFigures, movers } from "@/lib/market";
import type { Coin } from "@/lib/types";
import { Change } from "./ChangeBadge";
import { EmptyState, Panel } from "./states";

function MoverList({ title, coins, testId }: { title: string; coins: Coin[]; testId: string }) {
  return (
    <Panel title={title}>
      {coins.length === 0 ? (
        <EmptyState>None right now.</EmptyState>
      ) : (
        <ol className="space-y-1.5 text-sm" data-testid={testId}>
          {coins.map((coin) => (
            <li key={coin.coin_id} className="flex items-center justify-between gap-2">
              <Link href={`/coin/?id=${encodeURIComponent(coin.coin_id)}`} prefetch={false} className="truncate rounded hover:underline focus-visible:outline-2 focus-visible:outline-accent">
                {coin.name} <span className="text-xs uppercase text-muted">{coin.symbol}</span>
              </Link>
              <span className="flex items-baseline gap-3">
                <span className="hidden font-mono tabular text-muted sm:inline">{formatPrice(coin.price)}</span>
                <Change value={coin.change_24h_pct} />
              </span>
            </li>
          ))}
        </ol>
      )}
    </Panel>
  );
}

export function Movers({ coins }: { coins: Coin[] }) {
  const { gainers, losers } = movers(coins);
  return (
    <>
      <MoverList title="Top gainers" coins={gainers} testId="gainers" />
      <MoverList title="Top losers" coins={losers} testId="losers" />
    </>
  );
}

export function MarketStats({ coins }: { coins: Coin[] }) {
  const figures = marketFigures(coins);
  const items: { label: string; value: React.ReactNode }[] = [
    { label: "Coins tracked", value: figures.tracked },
    {
      label: "Up / down (24h)",
      value: (
        <>
          <span className="text-up">{figures.up}</span> / <span className="text-down">{figures.down}</span>
        </>
      ),
    },
    { label: "Volume 24h (USD)", value: formatCompact(figures.volume) },
    { label: "Average change", value: <Change value={figures.averageChange} /> },
  ];
  return (
    <Panel title="Market">
      <dl className="grid grid-cols-2 gap-3 text-sm">
        {items.map((item) => (
          <div key={item.label}>
            <dt className="text-xs text-muted">{item.label}</dt>
            <dd className="mt-0.5 text-lg font-semibold tabular">{item.value}</dd>
          </div>
        ))}
      </dl>
    </Panel>
  );
}
