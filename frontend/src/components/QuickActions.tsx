"use client";

import Link from "next/link";
import { useMutation } from "@tanstack/react-query";
import { api, ApiError, errorMessage } from "@/lib/api";
import type { Coin } from "@/lib/types";

/** Add to the watchlist or to a portfolio from a price row. */
export function WatchButton({ coin }: { coin: Coin }) {
  const add = useMutation({
    mutationFn: () => api<unknown>("/api/watchlist", { method: "POST", body: { coin_id: coin.coin_id } }),
  });
  const already = add.error instanceof ApiError && add.error.status === 409;
  const done = add.isSuccess || already;
  return (
    <span className="inline-flex items-center gap-2">
      {add.isError && !already && (
        <span role="alert" className="text-xs text-down">
          {errorMessage(add.error)}
        </span>
      )}
      <button
        type="button"
        onClick={() => add.mutate()}
        disabled={add.isPending || done}
        aria-label={done ? `${coin.name} is on your watchlist` : `Add ${coin.name} to watchlist`}
        title={done ? "On your watchlist" : "Add to watchlist"}
        className="rounded-md border border-line px-2 py-0.5 text-xs hover:bg-panel-2 disabled:opacity-60 focus-visible:outline-2 focus-visible:outline-accent"
      >
        {done ? "★ Watching" : "☆ Watch"}
      </button>
    </span>
  );
}

/** Opens the portfolio page's add-transaction form for this coin. */
export function PortfolioLink({ coin }: { coin: Coin }) {
  return (
    <Link
      href={`/portfolio/?add=${encodeURIComponent(coin.coin_id)}`}
      aria-label={`Add ${coin.name} to a portfolio`}
      className="rounded-md border border-line px-2 py-0.5 text-xs hover:bg-panel-2 focus-visible:outline-2 focus-visible:outline-accent"
    >
      + Portfolio
    </Link>
  );
}
