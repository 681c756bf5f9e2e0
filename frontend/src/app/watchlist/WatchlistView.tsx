"use client";

// /watchlist/: the user's watched coins with live prices (`/ws/prices`, subscribed to exactly
// these coins), add and remove.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useMemo, useState, type FormEvent } from "react";
import { FormError } from "@/components/AuthCard";
import { Change } from "@/components/ChangeBadge";
import { SignInPrompt } from "@/components/portfolio/SignInPrompt";
import { Button, SelectField } from "@/components/portfolio/ui";
import { EmptyState, ErrorState, Loading, Panel } from "@/components/states";
import { useFlash } from "@/hooks/useFlash";
import { ApiError, errorMessage } from "@/lib/api";
import { formatAgo, formatCompact, formatPrice } from "@/lib/format";
import { useWatchlistStream } from "@/lib/portfolioLive";
import { addToWatchlist, portfolioKeys, refetchAfterWrite, removeFromWatchlist, useWatchlist } from "@/lib/portfolioQueries";
import type { WatchlistItem } from "@/lib/portfolioTypes";
import { useCoins, useMeta } from "@/lib/queries";
import { useSession } from "@/lib/session";

function Row({ item, onRemove, removing }: { item: WatchlistItem; onRemove: () => void; removing: boolean }) {
  const flash = useFlash(item.price);
  const name = item.name ?? item.coin_id;
  return (
    <tr className="border-b border-line/60" data-testid={`watch-${item.coin_id}`}>
      <td className="py-2 pr-3">
        <Link href={`/coin/?id=${encodeURIComponent(item.coin_id)}`} className="font-medium hover:underline focus-visible:outline-2 focus-visible:outline-accent">
          {name}
        </Link>{" "}
        <span className="text-xs uppercase text-muted">{item.symbol}</span>
      </td>
      <td
        className={`py-2 pr-3 text-right font-mono tabular ${flash === "up" ? "flash-up" : flash === "down" ? "flash-down" : ""}`}
        data-testid={`watch-price-${item.coin_id}`}
      >
        {formatPrice(item.price)}
      </td>
      <td className="py-2 pr-3 text-right">
        <Change value={item.change_24h_pct} />
      </td>
      <td className="hidden py-2 pr-3 text-right tabular sm:table-cell">{formatCompact(item.volume_24h_usd)}</td>
      <td className="hidden py-2 pr-3 text-right text-xs text-muted md:table-cell">
        {item.stale ? <span className="text-warn">stale</span> : formatAgo(item.updated_at)}
      </td>
      <td className="py-2 text-right">
        <Button className="px-2 py-0.5 text-xs" onClick={onRemove} disabled={removing} aria-label={`Remove ${name} from watchlist`}>
          Remove
        </Button>
      </td>
    </tr>
  );
}

function AddCoin({ watched }: { watched: ReadonlySet<string> }) {
  const client = useQueryClient();
  const coins = useCoins();
  const choices = useMemo(() => (coins.data?.coins ?? []).filter((coin) => !watched.has(coin.coin_id)), [coins.data, watched]);
  const [coinId, setCoinId] = useState("");
  const add = useMutation({
    mutationFn: (id: string) => addToWatchlist(id),
    onSuccess: async () => {
      setCoinId("");
      await refetchAfterWrite(client, portfolioKeys.watchlist);
    },
  });
  const chosen = choices.some((coin) => coin.coin_id === coinId) ? coinId : (choices[0]?.coin_id ?? "");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (chosen) add.mutate(chosen);
  };
  if (coins.isPending) return <Loading label="Loading coins" rows={1} />;
  if (choices.length === 0) return <p className="text-sm text-muted">{coins.isError ? "The coin list is unavailable." : "You watch every tracked coin."}</p>;
  const message = add.isError ? (add.error instanceof ApiError && add.error.status === 409 ? "Already on your watchlist." : errorMessage(add.error)) : null;
  return (
    <form onSubmit={submit} aria-label="Add to watchlist" className="space-y-2">
      <div className="flex flex-wrap items-end gap-2">
        <SelectField label="Coin to watch" value={chosen} onChange={(event) => setCoinId(event.target.value)} className="min-w-48">
          {choices.map((coin) => (
            <option key={coin.coin_id} value={coin.coin_id}>
              {coin.name} ({coin.symbol.toUpperCase()})
            </option>
          ))}
        </SelectField>
        <Button type="submit" tone="primary" disabled={add.isPending} className="mb-0.5">
          {add.isPending ? "Adding…" : "Add to watchlist"}
        </Button>
      </div>
      <FormError message={message} />
    </form>
  );
}

export function WatchlistView() {
  const client = useQueryClient();
  const user = useSession((state) => state.user);
  const ready = useSession((state) => state.ready);
  const meta = useMeta();
  const watchlist = useWatchlist();
  const items = useMemo(() => watchlist.data ?? [], [watchlist.data]);
  const coinIds = useMemo(() => items.map((item) => item.coin_id), [items]);
  const live = useWatchlistStream(user ? coinIds : []);
  const remove = useMutation({
    mutationFn: (coinId: string) => removeFromWatchlist(coinId),
    onSuccess: (_, coinId) => {
      client.setQueryData<WatchlistItem[]>(portfolioKeys.watchlist, (old) => old?.filter((item) => item.coin_id !== coinId));
      void refetchAfterWrite(client, portfolioKeys.watchlist);
    },
  });

  const heading = <h1 className="text-2xl font-semibold tracking-tight">Watchlist</h1>;
  if (!ready) return <div className="space-y-4">{heading}<Loading label="Loading your account" /></div>;
  if (!user) return <div className="space-y-4">{heading}<SignInPrompt what="your watchlist" next="/watchlist/" /></div>;
  if (meta.data && !meta.data.services.includes("portfolio")) {
    return <div className="space-y-4">{heading}<ErrorState message="The watchlist is not available: the portfolio service is not running on this server." /></div>;
  }

  return (
    <div className="space-y-4">
      {heading}
      <Panel title="Add a coin">
        <AddCoin watched={new Set(coinIds)} />
      </Panel>
      <Panel
        title="Watched coins"
        action={
          items.length > 0 && <span className="text-xs text-muted" data-testid="watchlist-live" data-live={live ? "true" : "false"}>
            {live ? (
              <>
                <span aria-hidden className="text-up">●</span> Live
              </>
            ) : (
              "Not live"
            )}
          </span>
        }
      >
        {watchlist.isPending ? (
          <Loading label="Loading your watchlist" rows={4} />
        ) : watchlist.isError ? (
          <ErrorState message={`Your watchlist could not be loaded: ${errorMessage(watchlist.error)}`} onRetry={() => void watchlist.refetch()} />
        ) : items.length === 0 ? (
          <EmptyState>No coins watched yet. Add one above, or with ☆ Watch on the dashboard.</EmptyState>
        ) : (
          <>
            {remove.isError && <FormError message={`Could not remove: ${errorMessage(remove.error)}`} />}
            <div className="-mx-4 overflow-x-auto px-4">
              <table className="w-full text-sm" aria-label="Watched coins">
                <thead>
                  <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
                    <th scope="col" className="py-2 pr-3 font-medium">Coin</th>
                    <th scope="col" className="py-2 pr-3 text-right font-medium">Price</th>
                    <th scope="col" className="py-2 pr-3 text-right font-medium">24 h</th>
                    <th scope="col" className="hidden py-2 pr-3 text-right font-medium sm:table-cell">Volume 24 h</th>
                    <th scope="col" className="hidden py-2 pr-3 text-right font-medium md:table-cell">Updated</th>
                    <th scope="col" className="py-2 text-right font-medium"><span className="sr-only">Actions</span></th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((item) => (
                    <Row key={item.coin_id} item={item} onRemove={() => remove.mutate(item.coin_id)} removing={remove.isPending && remove.variables === item.coin_id} />
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
      </Panel>
    </div>
  );
}
