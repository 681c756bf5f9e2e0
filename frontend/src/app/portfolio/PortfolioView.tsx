"use client";

// /portfolio/: the signed-in user's portfolios. `?add=<coin_id>` (the dashboard's "+ Portfolio")
// opens the add-transaction form for that coin.
import { useQueryClient } from "@tanstack/react-query";
import dynamic from "next/dynamic";
import { useRouter, useSearchParams } from "next/navigation";
import { useCallback, useMemo, useState } from "react";
import { CsvTools } from "@/components/portfolio/CsvTools";
import { Figures } from "@/components/portfolio/Figures";
import { NameForm, PortfolioBar } from "@/components/portfolio/PortfolioBar";
import { RiskPanel } from "@/components/portfolio/RiskPanel";
import { SignInPrompt } from "@/components/portfolio/SignInPrompt";
import { Transactions } from "@/components/portfolio/Transactions";
import type { CoinOption } from "@/components/portfolio/TransactionForm";
import { EmptyState, ErrorState, Loading, Panel } from "@/components/states";
import { errorMessage } from "@/lib/api";
import { formatAgo } from "@/lib/format";
import { priceText } from "@/lib/portfolioForm";
import { usePortfolioStream } from "@/lib/portfolioLive";
import { pickPortfolio, usePortfolioPrefs } from "@/lib/portfolioPrefs";
import { createPortfolio, portfolioKeys, refetchAfterWrite, useHistory, usePerformance, usePortfolios } from "@/lib/portfolioQueries";
import type { HistoryRange, Portfolio } from "@/lib/portfolioTypes";
import { useCoins, useMeta } from "@/lib/queries";
import { useSession } from "@/lib/session";
import { useTheme } from "@/lib/theme";

// The two charts (Recharts, lightweight-charts: ~170 KiB gzipped together) load after the
// figures, which need neither.
const AllocationPie = dynamic(() => import("@/components/portfolio/AllocationPie").then((m) => m.AllocationPie), {
  ssr: false,
  loading: () => <Loading label="Loading the chart" rows={4} />,
});
const HistoryChart = dynamic(() => import("@/components/portfolio/HistoryChart").then((m) => m.HistoryChart), {
  ssr: false,
  loading: () => <Loading label="Loading the chart" rows={6} />,
});

const RANGES: { value: HistoryRange; label: string }[] = [
  { value: "7d", label: "7D" },
  { value: "30d", label: "30D" },
  { value: "90d", label: "90D" },
  { value: "1y", label: "1Y" },
  { value: "all", label: "All" },
];

function useCoinNames() {
  const coins = useCoins();
  return useMemo(() => {
    const list = coins.data?.coins ?? [];
    const byId = new Map(list.map((coin) => [coin.coin_id, coin]));
    const options: CoinOption[] = list.map(({ coin_id, name, symbol }) => ({ coin_id, name, symbol }));
    const name = (coinId: string) => byId.get(coinId)?.name ?? coinId;
    const price = (coinId: string) => priceText(byId.get(coinId)?.price);
    // settled: the add form can open with the coin's live price (or without, if prices failed)
    return { options, name, price, settled: !coins.isPending };
  }, [coins.data, coins.isPending]);
}

function HistoryPanel({ portfolioId }: { portfolioId: number }) {
  const range = usePortfolioPrefs((state) => state.range);
  const setRange = usePortfolioPrefs((state) => state.setRange);
  const theme = useTheme((state) => state.theme);
  const history = useHistory(portfolioId, range);
  const points = history.data?.points ?? [];
  return (
    <Panel
      title="Value history"
      action={
        <div role="group" aria-label="History range" className="flex gap-1">
          {RANGES.map((item) => (
            <button
              key={item.value}
              type="button"
              aria-pressed={range === item.value}
              onClick={() => setRange(item.value)}
              className="rounded-md border border-line px-2 py-0.5 text-xs aria-[pressed=true]:bg-accent aria-[pressed=true]:text-accent-fg focus-visible:outline-2 focus-visible:outline-accent"
            >
              {item.label}
            </button>
          ))}
        </div>
      }
    >
      {history.isPending ? (
        <Loading label="Loading history" rows={6} />
      ) : history.isError ? (
        <ErrorState message={`History is unavailable: ${errorMessage(history.error)}`} onRetry={() => void history.refetch()} />
      ) : points.length === 0 ? (
        <EmptyState>No history yet: it starts with the first transaction.</EmptyState>
      ) : (
        <>
          <HistoryChart points={points} theme={theme} />
          <p className="mt-2 text-xs text-muted">Solid: value · dashed: cost basis · {points.length} points</p>
        </>
      )}
    </Panel>
  );
}

function PortfolioDetail({ portfolios, selected, addCoin, onAddHandled }: { portfolios: Portfolio[]; selected: Portfolio; addCoin: string | null; onAddHandled: () => void }) {
  const select = usePortfolioPrefs((state) => state.select);
  const coins = useCoinNames();
  const live = usePortfolioStream(selected.id);
  const performance = usePerformance(selected.id, live);
  const assets = performance.data?.assets ?? [];

  return (
    <div className="space-y-4">
      <PortfolioBar portfolios={portfolios} selected={selected} onSelect={select} />
      <Panel
        title="Performance"
        action={
          <span className="text-xs text-muted" data-testid="portfolio-live" data-live={live ? "true" : "false"}>
            {live ? (
              <>
                <span aria-hidden className="text-up">●</span> Live
              </>
            ) : (
              "Refreshing every 10 s"
            )}
            {performance.data && ` · ${formatAgo(performance.data.as_of)}`}
          </span>
        }
      >
        {performance.isPending ? (
          <Loading label="Loading figures" rows={2} />
        ) : performance.isError ? (
          <ErrorState message={`Figures are unavailable: ${errorMessage(performance.error)}`} onRetry={() => void performance.refetch()} />
        ) : (
          <Figures performance={performance.data} />
        )}
      </Panel>
      <div className="grid gap-4 lg:grid-cols-2">
        <Panel title="Allocation">
          {performance.isPending ? (
            <Loading label="Loading allocation" />
          ) : assets.length === 0 ? (
            <EmptyState>Nothing held yet. Add a buy to see the allocation.</EmptyState>
          ) : (
            <AllocationPie assets={assets} names={coins.name} />
          )}
        </Panel>
        <HistoryPanel portfolioId={selected.id} />
      </div>
      <Panel title="Transactions">
        <Transactions
          key={`${selected.id}-${addCoin && coins.settled ? addCoin : ""}`}
          portfolioId={selected.id}
          coins={coins.options}
          names={coins.name}
          addRequest={addCoin && coins.settled ? { coin_id: addCoin, price: coins.price(addCoin) } : null}
          onAddHandled={onAddHandled}
        />
      </Panel>
      <div className="grid gap-4 lg:grid-cols-2">
        <Panel title="Import and export">
          <CsvTools portfolioId={selected.id} />
        </Panel>
        <Panel title="Risk">
          <RiskPanel portfolioId={selected.id} names={coins.name} hasHoldings={assets.length > 0} />
        </Panel>
      </div>
    </div>
  );
}

export function PortfolioView() {
  const params = useSearchParams();
  const router = useRouter();
  const client = useQueryClient();
  const user = useSession((state) => state.user);
  const ready = useSession((state) => state.ready);
  const meta = useMeta();
  const portfolios = usePortfolios();
  const remembered = usePortfolioPrefs((state) => state.selected);
  const select = usePortfolioPrefs((state) => state.select);
  const [addCoin, setAddCoin] = useState(() => params.get("add"));
  const coins = useCoinNames();

  const onAddHandled = useCallback(() => {
    setAddCoin(null);
    if (params.get("add")) router.replace("/portfolio/");
  }, [params, router]);

  const heading = <h1 className="text-2xl font-semibold tracking-tight">Portfolio</h1>;
  if (!ready) return <div className="space-y-4">{heading}<Loading label="Loading your account" /></div>;
  if (!user) {
    const query = params.toString();
    return (
      <div className="space-y-4">
        {heading}
        <SignInPrompt what="your portfolios" next={`/portfolio/${query ? `?${query}` : ""}`} />
      </div>
    );
  }
  if (meta.data && !meta.data.services.includes("portfolio")) {
    return <div className="space-y-4">{heading}<ErrorState message="Portfolios are not available: the portfolio service is not running on this server." /></div>;
  }

  let body: React.ReactNode;
  if (portfolios.isPending) body = <Loading label="Loading portfolios" rows={4} />;
  else if (portfolios.isError) body = <ErrorState message={`Your portfolios could not be loaded: ${errorMessage(portfolios.error)}`} onRetry={() => void portfolios.refetch()} />;
  else if (portfolios.data.length === 0) {
    body = (
      <Panel title="Your first portfolio">
        <p className="mb-3 text-sm text-muted">
          A portfolio holds your trades and values them at live prices.
          {addCoin && ` Create one, then add your ${coins.name(addCoin)} trade.`}
        </p>
        <NameForm
          label="Portfolio name"
          submitLabel="Create portfolio"
          initial="My portfolio"
          onSubmit={async (name) => {
            const created = await createPortfolio(name);
            select(created.id);
            await refetchAfterWrite(client, portfolioKeys.list);
          }}
        />
      </Panel>
    );
  } else {
    const id = pickPortfolio(portfolios.data.map((p) => p.id), remembered);
    const selected = portfolios.data.find((p) => p.id === id) ?? (portfolios.data[0] as Portfolio);
    body = <PortfolioDetail portfolios={portfolios.data} selected={selected} addCoin={addCoin} onAddHandled={onAddHandled} />;
  }
  return (
    <div className="space-y-4">
      {heading}
      {body}
    </div>
  );
}
