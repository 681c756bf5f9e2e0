"use client";

import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { useEffect, useMemo } from "react";
import { CandleChart } from "@/components/CandleChart";
import { PALETTE } from "@/components/CandleChart";
import { Change } from "@/components/ChangeBadge";
import { ExchangePrices, KeyFigures } from "@/components/CoinDetails";
import { EmptyState, ErrorState, Loading, Panel } from "@/components/states";
import { useFlash } from "@/hooks/useFlash";
import { errorMessage } from "@/lib/api";
import { buildIndicators, indicatorParams, INDICATORS, INTERVAL_SECONDS, useChartPrefs } from "@/lib/chart";
import { formatPrice } from "@/lib/format";
import { useCandles, useCoins, useIndicators, useMeta } from "@/lib/queries";
import { useTheme } from "@/lib/theme";
import { INTERVALS, type Coin } from "@/lib/types";

function Toolbar() {
  const { interval, indicators, setInterval, toggle } = useChartPrefs();
  return (
    <div className="mb-3 flex flex-wrap items-center gap-x-6 gap-y-2">
      <div role="group" aria-label="Timeframe" className="inline-flex overflow-hidden rounded-md border border-line text-xs">
        {INTERVALS.map((value) => (
          <button
            key={value}
            type="button"
            aria-pressed={interval === value}
            onClick={() => setInterval(value)}
            className="px-2.5 py-1 hover:bg-panel-2 aria-pressed:bg-accent aria-pressed:text-accent-fg focus-visible:outline-2 focus-visible:-outline-offset-2 focus-visible:outline-accent"
          >
            {value}
          </button>
        ))}
      </div>
      <fieldset className="flex flex-wrap items-center gap-x-3 gap-y-1 text-xs">
        <legend className="sr-only">Indicators</legend>
        {INDICATORS.map((item) => (
          <label key={item.id} className="inline-flex cursor-pointer items-center gap-1.5">
            <input
              type="checkbox"
              checked={indicators.includes(item.id)}
              onChange={() => toggle(item.id)}
              className="accent-[var(--accent)]"
            />
            {item.label}
          </label>
        ))}
      </fieldset>
    </div>
  );
}

function ChartPanel({ coin }: { coin: Coin }) {
  const { interval, indicators } = useChartPrefs();
  const theme = useTheme((state) => state.theme);
  const meta = useMeta();
  const candles = useCandles(coin.coin_id, interval);
  const analyticsDeployed = meta.data?.services.includes("analytics") ?? false;
  const params = useMemo(() => indicatorParams(indicators), [indicators]);
  const indicatorData = useIndicators(coin.coin_id, interval, params, analyticsDeployed && indicators.length > 0);
  const built = useMemo(
    () =>
      indicatorData.data && indicators.length > 0
        ? buildIndicators(indicatorData.data, indicators, PALETTE[theme])
        : { overlays: [], panes: [] },
    [indicatorData.data, indicators, theme],
  );
  const live = useMemo(
    () => (coin.price === null || coin.updated_at === null ? undefined : { price: coin.price, at: Date.parse(coin.updated_at) / 1000 }),
    [coin.price, coin.updated_at],
  );

  let note: string | null = null;
  if (indicators.length > 0) {
    if (meta.isSuccess && !analyticsDeployed) note = "Indicators are unavailable: the analytics service is not running on this server.";
    else if (indicatorData.isError) note = `Indicators are unavailable: ${errorMessage(indicatorData.error)}`;
  }

  return (
    <Panel className="min-w-0">
      <Toolbar />
      {note && (
        <p role="status" className="mb-2 text-xs text-warn" data-testid="indicator-note">
          {note}
        </p>
      )}
      {candles.isPending ? (
        <Loading label="Loading chart" rows={8} />
      ) : candles.isError ? (
        <ErrorState message={`The chart is unavailable: ${errorMessage(candles.error)}`} onRetry={() => void candles.refetch()} />
      ) : candles.data.candles.length === 0 ? (
        <EmptyState>No {interval} candles yet for {coin.name}.</EmptyState>
      ) : (
        <>
          <CandleChart
            candles={candles.data.candles}
            overlays={built.overlays}
            panes={built.panes}
            theme={theme}
            intervalSeconds={INTERVAL_SECONDS[interval]}
            live={live}
          />
          <p className="mt-2 text-xs text-muted">
            {interval} candles from {candles.data.source} ({candles.data.quote}); volume below.
            {built.overlays.length > 0 && (
              <span className="ml-2 inline-flex flex-wrap gap-x-3">
                {built.overlays
                  .filter((line) => !line.id.startsWith("bb_") || line.id === "bb_middle")
                  .map((line) => (
                    <span key={line.id} className="inline-flex items-center gap-1">
                      <span aria-hidden className="inline-block h-0.5 w-3" style={{ background: line.color }} />
                      {line.id === "bb_middle" ? "Bollinger 20, 2" : line.label}
                    </span>
                  ))}
              </span>
            )}
          </p>
        </>
      )}
    </Panel>
  );
}

function CoinHeader({ coin }: { coin: Coin }) {
  const flash = useFlash(coin.price);
  return (
    <div className="flex flex-wrap items-end justify-between gap-3">
      <div>
        <p className="text-sm text-muted">
          <Link href="/" className="hover:underline">Market</Link> / {coin.symbol.toUpperCase()}
        </p>
        <h1 className="text-2xl font-semibold tracking-tight">
          {coin.name} <span className="text-base font-normal uppercase text-muted">{coin.symbol}</span>
        </h1>
      </div>
      <div className="text-right">
        <p
          className={`rounded px-1 font-mono text-3xl font-semibold tabular ${flash === "up" ? "flash-up" : flash === "down" ? "flash-down" : ""}`}
          data-testid="coin-price"
          aria-live="off"
        >
          {formatPrice(coin.price)}
        </p>
        <Change value={coin.change_24h_pct} className="text-sm" />
      </div>
    </div>
  );
}

export function CoinView() {
  const id = useSearchParams().get("id") ?? "";
  const coins = useCoins();
  const coin = coins.data?.coins.find((entry) => entry.coin_id === id);

  useEffect(() => {
    if (coin) document.title = `${coin.name} ${formatPrice(coin.price)} · cryptodash`;
  }, [coin]);

  if (!id) {
    return <EmptyState>Pick a coin on the <Link href="/" className="text-accent hover:underline">dashboard</Link>.</EmptyState>;
  }
  if (coins.isPending) return <Loading label="Loading coin" rows={6} />;
  if (coins.isError && !coin) {
    return <ErrorState message={`Prices are unavailable: ${errorMessage(coins.error)}`} onRetry={() => void coins.refetch()} />;
  }
  if (!coin) {
    return (
      <div className="space-y-2">
        <h1 className="text-2xl font-semibold">Unknown coin</h1>
        <p className="text-muted">
          “{id}” is not one of the coins this server tracks. Back to the{" "}
          <Link href="/" className="text-accent hover:underline">dashboard</Link>.
        </p>
      </div>
    );
  }
  return (
    <div className="space-y-6">
      <CoinHeader coin={coin} />
      <div className="grid gap-4 lg:grid-cols-[minmax(0,1fr)_20rem]">
        <ChartPanel coin={coin} />
        <div className="space-y-4">
          <KeyFigures coin={coin} />
          <ExchangePrices coin={coin} />
        </div>
      </div>
    </div>
  );
}
