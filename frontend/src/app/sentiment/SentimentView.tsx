"use client";

// The sentiment page: every coin's score (news, social or both, over 1 h / 24 h / 7 d), the
// selected coin's trend next to its price, the labelled news and social feed with filters, and
// the model in use. Scores update live from /ws/sentiment.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { Segmented, Select, LiveBadge } from "@/components/analytics/Controls";
import { ArticleItem, ModelInfo, ScoreTable } from "@/components/sentiment/Parts";
import { TrendChart } from "@/components/sentiment/TrendChart";
import { EmptyState, ErrorState, Loading, Panel } from "@/components/states";
import { errorMessage } from "@/lib/api";
import type { SentimentKind, SentimentOverview, SentimentWindow } from "@/lib/insightTypes";
import { sentimentOverviewKey, useArticles, useSentimentModel, useSentimentOverview, useSentimentTrend } from "@/lib/insightQueries";
import { useSentimentStream } from "@/lib/insightStreams";
import { useCandles, useCoins, useMeta } from "@/lib/queries";
import {
  applySentimentUpdate,
  filterArticles,
  RANGE_SECONDS,
  TREND_INTERVAL,
  TREND_RANGES,
  trendPoints,
  type FeedFilters,
  type TrendRange,
} from "@/lib/sentiment";
import { useTheme } from "@/lib/theme";

const WINDOWS: readonly SentimentWindow[] = ["1h", "24h", "7d"];
const KINDS: readonly SentimentKind[] = ["all", "news", "social"];
const KIND_LABEL: Record<SentimentKind, string> = { all: "Both", news: "News", social: "Social" };
const LABELS = ["all", "positive", "neutral", "negative"] as const;

function Trend({ coinId, name, kind }: { coinId: string; name: string; kind: SentimentKind }) {
  const theme = useTheme((state) => state.theme);
  const [range, setRange] = useState<TrendRange>("7d");
  const interval = TREND_INTERVAL[range];
  const trend = useSentimentTrend(coinId, range, kind, true);
  const limit = Math.min(1000, Math.ceil(RANGE_SECONDS[range] / { "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400 }[interval]));
  const candles = useCandles(coinId, interval, limit);
  const scores = useMemo(() => trendPoints(trend.data), [trend.data]);
  const price = useMemo(() => {
    // The price over the trend's own span (its first bucket on), so both share one time axis.
    const first = trend.data?.points[0]?.timestamp;
    const since = first ? Date.parse(first) / 1000 : 0;
    return (candles.data?.candles ?? []).filter((c) => c.time >= since).map((c) => ({ time: c.time, value: c.close }));
  }, [candles.data, trend.data]);
  const articles = trend.data?.points.reduce((sum, point) => sum + point.article_count, 0) ?? 0;

  return (
    <Panel title={`${name}: sentiment and price`} action={<Segmented label="Trend range" options={TREND_RANGES} value={range} onChange={setRange} />} className="min-w-0">
      {trend.isPending ? (
        <Loading label="Loading trend" rows={6} />
      ) : trend.isError && !trend.data ? (
        <ErrorState message={`The trend is unavailable: ${errorMessage(trend.error)}`} onRetry={() => void trend.refetch()} />
      ) : (
        <>
          <TrendChart
            price={price}
            scores={scores}
            theme={theme}
            label={`${name}: price and ${KIND_LABEL[kind].toLowerCase()} sentiment over ${range}, ${scores.length} scored ${interval} buckets`}
          />
          <p className="mt-2 text-xs text-muted" aria-live="polite">
            {scores.length === 0
              ? `No ${kind === "all" ? "" : `${kind} `}items mention ${name} in the last ${range}: the bars stay empty.`
              : `Mean score per ${interval} (−1 to +1, ${articles} items) under the price${candles.isError ? " (the price is unavailable right now)" : ""}.`}
          </p>
        </>
      )}
    </Panel>
  );
}

function Feed({ coins, names }: { coins: { coin_id: string; name: string }[]; names: Record<string, string> }) {
  const [filters, setFilters] = useState<FeedFilters>({ coin: "", kind: "all", label: "all" });
  const feed = useArticles(filters, true);
  const all = useMemo(() => feed.data?.pages.flatMap((page) => page.articles) ?? [], [feed.data]);
  const shown = filterArticles(all, filters.label);
  return (
    <Panel title="News and social feed" className="min-w-0">
      <div className="mb-2 flex flex-wrap gap-3">
        <Select id="feed-coin" label="Coin" value={filters.coin} onChange={(coin) => setFilters((old) => ({ ...old, coin }))}>
          <option value="">All coins</option>
          {coins.map((coin) => (
            <option key={coin.coin_id} value={coin.coin_id}>
              {coin.name}
            </option>
          ))}
        </Select>
        <Select id="feed-kind" label="Type" value={filters.kind} onChange={(kind) => setFilters((old) => ({ ...old, kind: kind as SentimentKind }))}>
          {KINDS.map((kind) => (
            <option key={kind} value={kind}>
              {kind === "all" ? "News and social" : KIND_LABEL[kind]}
            </option>
          ))}
        </Select>
        <Select id="feed-label" label="Label" value={filters.label} onChange={(label) => setFilters((old) => ({ ...old, label: label as FeedFilters["label"] }))}>
          {LABELS.map((label) => (
            <option key={label} value={label}>
              {label === "all" ? "Any label" : label[0]!.toUpperCase() + label.slice(1)}
            </option>
          ))}
        </Select>
      </div>
      {feed.isPending ? (
        <Loading label="Loading articles" rows={6} />
      ) : feed.isError && all.length === 0 ? (
        <ErrorState message={`The feed is unavailable: ${errorMessage(feed.error)}`} onRetry={() => void feed.refetch()} />
      ) : shown.length === 0 ? (
        <EmptyState>
          {all.length === 0 ? "No articles or posts yet for these filters." : `None of the ${all.length} latest items is ${filters.label}.`}
        </EmptyState>
      ) : (
        <ul data-testid="article-list">
          {shown.map((article) => (
            <ArticleItem key={article.id} article={article} names={names} />
          ))}
        </ul>
      )}
      {feed.hasNextPage && all.length > 0 && (
        <button
          type="button"
          onClick={() => void feed.fetchNextPage()}
          disabled={feed.isFetchingNextPage}
          className="mt-2 rounded-md border border-line px-3 py-1.5 text-sm hover:bg-panel-2 disabled:opacity-60 focus-visible:outline-2 focus-visible:outline-accent"
        >
          {feed.isFetchingNextPage ? "Loading…" : "Older items"}
        </button>
      )}
      {feed.isError && all.length > 0 && <p role="alert" className="mt-2 text-xs text-down">{errorMessage(feed.error)}</p>}
    </Panel>
  );
}

export function SentimentView() {
  const meta = useMeta();
  const coins = useCoins();
  const queryClient = useQueryClient();
  const [window, setWindow] = useState<SentimentWindow>("24h");
  const [kind, setKind] = useState<SentimentKind>("all");
  const [selected, setSelected] = useState("");
  const deployed = meta.data?.services.includes("sentiment") ?? false;
  const overview = useSentimentOverview(window, kind, deployed);
  const model = useSentimentModel(deployed);
  const stream = useSentimentStream();

  // Live: fold each update into the overview on screen, and look for new articles.
  useEffect(() => {
    const updates = Object.values(stream.updates);
    if (updates.length === 0) return;
    queryClient.setQueryData<SentimentOverview>(sentimentOverviewKey(window, kind), (old) =>
      updates.reduce((acc, update) => applySentimentUpdate(acc, update), old),
    );
  }, [stream.updates, queryClient, window, kind]);
  useEffect(() => {
    if (Object.keys(stream.updates).length > 0) void queryClient.invalidateQueries({ queryKey: ["sentiment", "news"] });
  }, [stream.updates, queryClient]);

  const list = useMemo(() => overview.data?.coins ?? [], [overview.data]);
  const names = useMemo(
    () => Object.fromEntries((coins.data?.coins ?? list).map((coin) => [coin.coin_id, coin.name])),
    [coins.data, list],
  );
  const coin = list.find((entry) => entry.coin_id === selected) ?? list[0];

  let content;
  if (meta.isPending) content = <Loading label="Loading sentiment" rows={8} />;
  else if (meta.isError) content = <ErrorState message={`The server is unreachable: ${errorMessage(meta.error)}`} onRetry={() => void meta.refetch()} />;
  else if (!deployed) content = <EmptyState>Sentiment is not running on this server, so there are no scores or articles to show.</EmptyState>;
  else {
    content = (
      <div className="space-y-4">
        <Panel>
          {model.isPending ? (
            <Loading label="Loading model" rows={1} />
          ) : model.isError ? (
            <ErrorState message={`The model status is unavailable: ${errorMessage(model.error)}`} onRetry={() => void model.refetch()} />
          ) : (
            <ModelInfo model={model.data} />
          )}
        </Panel>
        <div className="grid grid-cols-1 gap-4 lg:grid-cols-[24rem_minmax(0,1fr)]">
          <Panel
            title="Score by coin"
            action={<LiveBadge testId="scores-live" on={stream.status === "open"} title={stream.status === "open" ? "Scores stream over /ws/sentiment" : "Scores refresh every minute"} />}
            className="min-w-0"
          >
            <div className="mb-3 flex flex-wrap gap-2">
              <Segmented label="Window" options={WINDOWS} value={window} onChange={setWindow} />
              <Segmented label="Sources" options={KINDS} value={kind} onChange={setKind} format={(value) => KIND_LABEL[value]} />
            </div>
            {overview.isPending ? (
              <Loading label="Loading scores" rows={6} />
            ) : overview.isError && !overview.data ? (
              <ErrorState message={`Scores are unavailable: ${errorMessage(overview.error)}`} onRetry={() => void overview.refetch()} />
            ) : (
              <>
                <ScoreTable data={overview.data} selected={coin?.coin_id ?? ""} onSelect={setSelected} />
                <p className="mt-2 text-xs text-muted">Score = mean of the items&apos; scores, from −1 (negative) to +1 (positive). Pick a coin for its trend.</p>
              </>
            )}
          </Panel>
          {coin ? <Trend coinId={coin.coin_id} name={coin.name} kind={kind} /> : overview.data ? <Panel><EmptyState>No coins are tracked yet.</EmptyState></Panel> : null}
        </div>
        <Feed coins={list} names={names} />
      </div>
    );
  }

  return (
    <div className="space-y-4">
      <div>
        <h1 className="text-2xl font-semibold tracking-tight">Sentiment</h1>
        <p className="text-sm text-muted">What the news and social posts say about each coin, scored by a language model.</p>
      </div>
      {content}
    </div>
  );
}
