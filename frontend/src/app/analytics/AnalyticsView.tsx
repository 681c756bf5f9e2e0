"use client";

// The analytics page: an indicator explorer (coin, timeframe, indicators; candles with
// overlays and RSI/MACD panes), plain-language signals and live values, the volatility
// ranking and the correlation heatmap with its own timeframe and window.
import { useMemo, useState } from "react";
import { Segmented, Select } from "@/components/analytics/Controls";
import { CorrelationHeatmap } from "@/components/analytics/CorrelationHeatmap";
import { LiveFigures, SignalsPanel, VolatilityTable } from "@/components/analytics/Panels";
import { PALETTE, CandleChart } from "@/components/CandleChart";
import { EmptyState, ErrorState, Loading, Panel } from "@/components/states";
import { errorMessage } from "@/lib/api";
import { buildIndicators, indicatorParams, INDICATORS, INTERVAL_SECONDS, useChartPrefs, type IndicatorId } from "@/lib/chart";
import { useAnalyticsSummary, useCorrelation, useVolatility } from "@/lib/insightQueries";
import { liveKey, liveValues, liveVolatility, rankVolatility } from "@/lib/insights";
import { useAnalyticsStream } from "@/lib/insightStreams";
import { useCoins, useIndicators, useMeta } from "@/lib/queries";
import { useTheme } from "@/lib/theme";
import { INTERVALS, type Candle, type Coin, type Interval } from "@/lib/types";

const DEFAULT_PICKS: IndicatorId[] = ["sma_20", "sma_50", "bb_20_2", "rsi_14", "macd"];
const VOLATILITY_WINDOWS = [14, 30, 90] as const;
const CORRELATION_WINDOWS = [30, 60, 90, 180, 365] as const;

function Explorer({
  coin,
  interval,
  picks,
  onToggle,
}: {
  coin: Coin;
  interval: Interval;
  picks: IndicatorId[];
  onToggle: (id: IndicatorId) => void;
}) {
  const theme = useTheme((state) => state.theme);
  const params = useMemo(() => indicatorParams(picks), [picks]);
  const data = useIndicators(coin.coin_id, interval, params, true);
  const candles = useMemo<Candle[]>(() => data.data?.candles ?? [], [data.data]);
  const built = useMemo(
    () => (data.data ? buildIndicators(data.data, picks, PALETTE[theme]) : { overlays: [], panes: [] }),
    [data.data, picks, theme],
  );
  const live = useMemo(
    () => (coin.price === null || coin.updated_at === null ? undefined : { price: coin.price, at: Date.parse(coin.updated_at) / 1000 }),
    [coin.price, coin.updated_at],
  );
  const stale = data.isPlaceholderData || data.isFetching;

  return (
    <Panel title={`${coin.name} · ${interval}`} className="min-w-0">
      <fieldset className="mb-3 flex flex-wrap items-center gap-x-3 gap-y-1 text-xs">
        <legend className="sr-only">Indicators</legend>
        {INDICATORS.map((item) => (
          <label key={item.id} className="inline-flex cursor-pointer items-center gap-1.5">
            <input type="checkbox" checked={picks.includes(item.id)} onChange={() => onToggle(item.id)} className="accent-[var(--accent)]" />
            {item.label}
          </label>
        ))}
      </fieldset>
      {data.isPending ? (
        <Loading label="Loading chart" rows={8} />
      ) : data.isError && !data.data ? (
        <ErrorState message={`The chart is unavailable: ${errorMessage(data.error)}`} onRetry={() => void data.refetch()} />
      ) : candles.length === 0 ? (
        <EmptyState>No closed {interval} candles yet for {coin.name}.</EmptyState>
      ) : (
        <div aria-busy={stale} data-interval={data.data?.interval}>
          <CandleChart
            candles={candles}
            overlays={built.overlays}
            panes={built.panes}
            theme={theme}
            intervalSeconds={INTERVAL_SECONDS[interval]}
            live={data.data?.interval === interval ? live : undefined}
            height={360}
          />
          <p className="mt-2 text-xs text-muted">
            {candles.length} {data.data?.interval} candles from {data.data?.source} ({data.data?.quote}); the last one follows the live price.
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
        </div>
      )}
    </Panel>
  );
}

function Volatility({ interval, coins, live }: { interval: Interval; coins: Coin[]; live: ReturnType<typeof useAnalyticsStream>["updates"] }) {
  const [window, setWindow] = useState<number>(30);
  const data = useVolatility(interval, window, true);
  const rows = useMemo(
    () => (data.data ? rankVolatility(data.data, coins, liveVolatility(live, interval, window)) : []),
    [data.data, coins, live, interval, window],
  );
  const max = Math.max(0, ...rows.map((row) => row.volatility ?? 0));
  return (
    <Panel
      className="min-w-0"
      title="Volatility ranking"
      action={
        <Select id="volatility-window" label="Window" value={String(window)} onChange={(value) => setWindow(Number(value))}>
          {VOLATILITY_WINDOWS.map((value) => (
            <option key={value} value={value}>
              {value} candles
            </option>
          ))}
        </Select>
      }
    >
      {data.isPending ? (
        <Loading label="Loading volatility" rows={5} />
      ) : data.isError && !data.data ? (
        <ErrorState message={`Volatility is unavailable: ${errorMessage(data.error)}`} onRetry={() => void data.refetch()} />
      ) : (
        <>
          {rows.length > 0 && rows.every((row) => row.volatility === null) && (
            <p className="mb-2 text-xs text-warn" role="status">
              No values yet: these coins lack {window + 1} {interval} candles of history here.
            </p>
          )}
          <VolatilityTable rows={rows} max={max} />
          <p className="mt-2 text-xs text-muted">
            Standard deviation of {interval} log returns over the last {window} candles, annualized (365 days).
          </p>
        </>
      )}
    </Panel>
  );
}

function Correlation({ initialInterval, symbols }: { initialInterval: Interval; symbols: Record<string, string> }) {
  const theme = useTheme((state) => state.theme);
  const [interval, setInterval] = useState<Interval>(initialInterval);
  const [window, setWindow] = useState<number | null>(null);
  const data = useCorrelation(interval, window, true);
  const hasValues = data.data?.matrix.some((row, i) => row.some((value, j) => i !== j && value !== null)) ?? false;
  return (
    <Panel title="Correlation" className="min-w-0">
      <div className="mb-3 flex flex-wrap gap-3">
        <Select id="correlation-interval" label="Heatmap timeframe" value={interval} onChange={(value) => setInterval(value as Interval)}>
          {INTERVALS.map((value) => (
            <option key={value} value={value}>
              {value}
            </option>
          ))}
        </Select>
        <Select
          id="correlation-window"
          label="Window"
          value={window === null ? "" : String(window)}
          onChange={(value) => setWindow(value === "" ? null : Number(value))}
        >
          <option value="">Default for {interval}</option>
          {CORRELATION_WINDOWS.map((value) => (
            <option key={value} value={value}>
              {value} candles
            </option>
          ))}
        </Select>
      </div>
      {data.isPending ? (
        <Loading label="Loading correlation" rows={6} />
      ) : data.isError && !data.data ? (
        <ErrorState message={`Correlation is unavailable: ${errorMessage(data.error)}`} onRetry={() => void data.refetch()} />
      ) : data.data.coins.length === 0 ? (
        <EmptyState>No coins are tracked yet.</EmptyState>
      ) : (
        <>
          <CorrelationHeatmap data={data.data} symbols={symbols} theme={theme} />
          <p className="mt-2 text-xs text-muted" aria-live="polite">
            {hasValues
              ? `Log returns of ${data.data.interval} candles over the last ${data.data.window}${data.data.as_of ? `, up to ${new Date(data.data.as_of).toLocaleString()}` : ""}.`
              : `Not enough ${data.data.interval} history for a ${data.data.window}-candle window yet: try a shorter window or timeframe.`}
          </p>
        </>
      )}
    </Panel>
  );
}

export function AnalyticsView() {
  const meta = useMeta();
  const coins = useCoins();
  const interval = useChartPrefs((state) => state.interval);
  const setInterval = useChartPrefs((state) => state.setInterval);
  const [coinId, setCoinId] = useState("");
  const [picks, setPicks] = useState<IndicatorId[]>(DEFAULT_PICKS);
  const stream = useAnalyticsStream();
  const list = useMemo(() => coins.data?.coins ?? [], [coins.data]);
  const coin = list.find((entry) => entry.coin_id === coinId) ?? list[0];
  const deployed = meta.data?.services.includes("analytics") ?? false;
  const summary = useAnalyticsSummary(coin?.coin_id ?? "", interval, deployed);
  const update = coin ? stream.updates[liveKey(coin.coin_id, interval)] : undefined;
  const figures = liveValues(summary.data?.interval === interval ? summary.data : undefined, update);
  const symbols = useMemo(() => Object.fromEntries(list.map((entry) => [entry.coin_id, entry.symbol])), [list]);
  const toggle = (id: IndicatorId) =>
    setPicks((old) => (old.includes(id) ? old.filter((x) => x !== id) : [...old, id]));

  let content;
  if (meta.isPending || coins.isPending) content = <Loading label="Loading analytics" rows={8} />;
  else if (meta.isError) content = <ErrorState message={`The server is unreachable: ${errorMessage(meta.error)}`} onRetry={() => void meta.refetch()} />;
  else if (!deployed) content = <EmptyState>Analytics is not running on this server, so there are no indicators to show.</EmptyState>;
  else if (coins.isError && list.length === 0) content = <ErrorState message={`Coins are unavailable: ${errorMessage(coins.error)}`} onRetry={() => void coins.refetch()} />;
  else if (!coin) content = <EmptyState>No coins are tracked yet.</EmptyState>;
  else {
    content = (
      <div className="space-y-4">
        <div className="flex flex-wrap items-center gap-x-6 gap-y-2">
          <Select id="analytics-coin" label="Coin" value={coin.coin_id} onChange={setCoinId}>
            {list.map((entry) => (
              <option key={entry.coin_id} value={entry.coin_id}>
                {entry.name} ({entry.symbol.toUpperCase()})
              </option>
            ))}
          </Select>
          <Segmented label="Timeframe" options={INTERVALS} value={interval} onChange={setInterval} />
        </div>
        <div className="grid grid-cols-1 gap-4 lg:grid-cols-[minmax(0,1fr)_22rem]">
          <Explorer coin={coin} interval={interval} picks={picks} onToggle={toggle} />
          <div className="min-w-0 space-y-4">
            <SignalsPanel summary={summary} coinName={coin.name} />
            <LiveFigures figures={figures} fromStream={figures?.fromStream ?? false} streaming={stream.status === "open"} />
          </div>
        </div>
        <div className="grid grid-cols-1 gap-4 lg:grid-cols-[22rem_minmax(0,1fr)]">
          <Volatility interval={interval} coins={list} live={stream.updates} />
          <Correlation key={interval} initialInterval={interval} symbols={symbols} />
        </div>
      </div>
    );
  }

  return (
    <div className="space-y-4">
      <div>
        <h1 className="text-2xl font-semibold tracking-tight">Analytics</h1>
        <p className="text-sm text-muted">Indicators, signals, volatility and correlation, computed from the stored candles and updated live.</p>
      </div>
      {content}
    </div>
  );
}
