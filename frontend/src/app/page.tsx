"use client";

import Link from "next/link";
import { useCallback } from "react";
import { Movers, MarketStats } from "@/components/MarketOverview";
import { PriceTable } from "@/components/PriceTable";
import { PortfolioLink, WatchButton } from "@/components/QuickActions";
import { ErrorState, Loading, Panel } from "@/components/states";
import { errorMessage } from "@/lib/api";
import { useCoins, useMeta } from "@/lib/queries";
import { useSession } from "@/lib/session";
import type { Coin } from "@/lib/types";

export default function DashboardPage() {
  const coins = useCoins();
  const meta = useMeta();
  const user = useSession((state) => state.user);
  const services = meta.data?.services ?? [];
  const canAct = user !== null && services.includes("portfolio");

  const actions = useCallback(
    (coin: Coin) => (
      <span className="inline-flex gap-1.5">
        <WatchButton coin={coin} />
        <PortfolioLink coin={coin} />
      </span>
    ),
    [],
  );

  const list = coins.data?.coins ?? [];

  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-end justify-between gap-2">
        <h1 className="text-2xl font-semibold tracking-tight">Market</h1>
        {!user && (
          <p className="text-sm text-muted">
            <Link href="/login/?next=/" className="text-accent underline-offset-2 hover:underline">
              Sign in
            </Link>{" "}
            to add coins to your watchlist and portfolios.
          </p>
        )}
      </div>
      <div className="grid gap-4 md:grid-cols-2 xl:grid-cols-3">
        {coins.isPending ? (
          <>
            <Panel title="Market"><Loading rows={2} /></Panel>
            <Panel title="Top gainers"><Loading /></Panel>
            <Panel title="Top losers" className="md:col-span-2 xl:col-span-1"><Loading /></Panel>
          </>
        ) : (
          list.length > 0 && (
            <>
              <MarketStats coins={list} />
              <Movers coins={list} />
            </>
          )
        )}
      </div>
      <Panel title="Prices">
        {coins.isPending ? (
          <Loading label="Loading prices" rows={8} />
        ) : coins.isError && list.length === 0 ? (
          <ErrorState
            message={
              meta.data && !services.includes("market")
                ? "Market data is not available: the market service is not running on this server."
                : `Prices are unavailable: ${errorMessage(coins.error)}`
            }
            onRetry={() => void coins.refetch()}
          />
        ) : (
          <>
            {coins.isError && (
              <p role="status" className="mb-2 text-xs text-warn">
                Showing the last prices received; the server is not answering ({errorMessage(coins.error)}).
              </p>
            )}
            <PriceTable coins={list} actions={canAct ? actions : undefined} />
          </>
        )}
      </Panel>
    </div>
  );
}
