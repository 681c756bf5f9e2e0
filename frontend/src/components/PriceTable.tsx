"use client";

import Link from "next/link";
import { memo, useEffect, useMemo, useState } from "react";
import { useFlash } from "@/hooks/useFlash";
import { useMediaQuery } from "@/hooks/useMediaQuery";
import { formatCompact, formatPrice } from "@/lib/format";
import { volumeUsd } from "@/lib/market";
import type { Coin } from "@/lib/types";
import { Change } from "./ChangeBadge";
import { EmptyState } from "./states";
import { Sparkline } from "./Sparkline";

export type SortKey = "rank" | "name" | "price" | "change" | "volume";
export type SortDir = "asc" | "desc";

export function sortCoins(coins: Coin[], key: SortKey, dir: SortDir): Coin[] {
  if (key === "rank") return dir === "asc" ? coins : [...coins].reverse();
  const value = (coin: Coin): number | string => {
    switch (key) {
      case "name":
        return coin.name.toLowerCase();
      case "price":
        return coin.price ?? -Infinity;
      case "change":
        return coin.change_24h_pct ?? -Infinity;
      case "volume":
        return volumeUsd(coin) ?? -Infinity;
    }
  };
  const sign = dir === "asc" ? 1 : -1;
  return [...coins].sort((a, b) => {
    const x = value(a);
    const y = value(b);
    return x < y ? -sign : x > y ? sign : 0;
  });
}

export function filterCoins(coins: Coin[], query: string): Coin[] {
  const q = query.trim().toLowerCase();
  if (!q) return coins;
  return coins.filter(
    (coin) => coin.name.toLowerCase().includes(q) || coin.symbol.toLowerCase().includes(q) || coin.coin_id.includes(q),
  );
}

let firstPriceMarked = false;

/** performance mark read by bench/frontend.py: navigation start → first price on screen. */
function markFirstPrice(): void {
  if (firstPriceMarked || typeof performance === "undefined") return;
  firstPriceMarked = true;
  performance.mark("cryptodash:first-price");
}

const PriceRow = memo(function PriceRow({ coin, rank, actions, sparkline }: { coin: Coin; rank: number; actions?: (coin: Coin) => React.ReactNode; sparkline: boolean }) {
  const flash = useFlash(coin.price);
  return (
    <tr className="border-t border-line hover:bg-panel-2/60" data-testid={`row-${coin.coin_id}`}>
      <td className="hidden py-2 pr-2 text-right text-muted tabular sm:table-cell">{rank}</td>
      <th scope="row" className="py-2 pr-3 text-left font-normal">
        <Link
          href={`/coin/?id=${encodeURIComponent(coin.coin_id)}`}
          prefetch={false}
          className="group inline-flex items-baseline gap-2 rounded focus-visible:outline-2 focus-visible:outline-accent"
        >
          <span className="font-medium group-hover:underline">{coin.name}</span>
          <span className="text-xs uppercase text-muted">{coin.symbol}</span>
        </Link>
      </th>
      <td
        className={`py-2 pr-3 text-right font-mono tabular ${flash === "up" ? "flash-up" : flash === "down" ? "flash-down" : ""}`}
        data-testid={`price-${coin.coin_id}`}
        title={coin.stale ? "No exchange has priced this coin recently" : undefined}
      >
        {formatPrice(coin.price)}
        {coin.stale && <span className="ml-1 text-xs text-warn">stale</span>}
      </td>
      <td className="py-2 pr-3 text-right">
        <Change value={coin.change_24h_pct} />
      </td>
      <td className="hidden py-2 pr-3 text-right tabular text-muted sm:table-cell">{formatCompact(volumeUsd(coin))}</td>
      <td className="hidden py-1 pr-3 md:table-cell">
        {sparkline && <Sparkline coinId={coin.coin_id} price={coin.price} />}
      </td>
      {actions && <td className="py-2 text-right">{actions(coin)}</td>}
    </tr>
  );
});

const COLUMNS: { key: SortKey; label: string; className: string; firstDir: SortDir }[] = [
  { key: "rank", label: "#", className: "hidden w-8 text-right sm:table-cell", firstDir: "asc" },
  { key: "name", label: "Coin", className: "text-left", firstDir: "asc" },
  { key: "price", label: "Price", className: "text-right", firstDir: "desc" },
  { key: "change", label: "24h", className: "text-right", firstDir: "desc" },
  { key: "volume", label: "Volume 24h", className: "hidden text-right sm:table-cell", firstDir: "desc" },
];

export function PriceTable({ coins, actions }: { coins: Coin[]; actions?: (coin: Coin) => React.ReactNode }) {
  const [query, setQuery] = useState("");
  // Sparklines cost a request each: only where their column is shown, and only after the
  // first prices are on screen (they must not delay them).
  const wide = useMediaQuery("(min-width: 768px)");
  const [pricesShown, setPricesShown] = useState(false);
  const sparklines = wide && pricesShown;
  const [sort, setSort] = useState<{ key: SortKey; dir: SortDir }>({ key: "rank", dir: "asc" });
  const ranks = useMemo(() => new Map(coins.map((coin, i) => [coin.coin_id, i + 1])), [coins]);
  const rows = useMemo(() => sortCoins(filterCoins(coins, query), sort.key, sort.dir), [coins, query, sort]);

  useEffect(() => {
    if (coins.length === 0) return;
    markFirstPrice();
    const timer = setTimeout(() => setPricesShown(true), 50);
    return () => clearTimeout(timer);
  }, [coins.length]);

  const toggle = (key: SortKey, firstDir: SortDir) =>
    setSort((old) =>
      old.key === key ? { key, dir: old.dir === "asc" ? "desc" : "asc" } : { key, dir: firstDir },
    );

  return (
    <div>
      <div className="mb-3 flex items-center gap-3">
        <label htmlFor="coin-search" className="sr-only">
          Search coins
        </label>
        <input
          id="coin-search"
          type="search"
          value={query}
          onChange={(event) => setQuery(event.target.value)}
          placeholder="Search by name or symbol"
          className="w-full max-w-xs rounded-md border border-line bg-bg px-3 py-1.5 text-sm placeholder:text-muted focus-visible:outline-2 focus-visible:outline-accent"
        />
        <span className="text-xs text-muted" aria-live="polite">
          {rows.length} of {coins.length} coins
        </span>
      </div>
      <div className="-mx-4 overflow-x-auto px-4">
        <table className="w-full text-sm">
          <caption className="sr-only">Live prices; column headers sort the table</caption>
          <thead>
            <tr className="text-xs text-muted">
              {COLUMNS.map((column) => (
                <th
                  key={column.key}
                  scope="col"
                  className={`pb-2 pr-3 font-medium ${column.className}`}
                  aria-sort={sort.key === column.key ? (sort.dir === "asc" ? "ascending" : "descending") : "none"}
                >
                  <button
                    type="button"
                    onClick={() => toggle(column.key, column.firstDir)}
                    className="inline-flex items-center gap-1 rounded hover:text-fg focus-visible:outline-2 focus-visible:outline-accent"
                  >
                    {column.label}
                    <span aria-hidden className="w-2">
                      {sort.key === column.key ? (sort.dir === "asc" ? "▲" : "▼") : ""}
                    </span>
                  </button>
                </th>
              ))}
              <th scope="col" className="hidden pb-2 pr-3 text-left font-medium md:table-cell">
                Last 24h
              </th>
              {actions && (
                <th scope="col" className="pb-2 text-right font-medium">
                  <span className="sr-only">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {rows.map((coin) => (
              <PriceRow key={coin.coin_id} coin={coin} rank={ranks.get(coin.coin_id) ?? 0} actions={actions} sparkline={sparklines} />
            ))}
          </tbody>
        </table>
      </div>
      {rows.length === 0 && <EmptyState>{coins.length === 0 ? "No coins are tracked yet." : `No coin matches “${query}”.`}</EmptyState>}
    </div>
  );
}
