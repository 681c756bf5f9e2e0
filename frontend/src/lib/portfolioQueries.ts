// Server state of the portfolio and watchlist pages: one TanStack Query hook per read, the
// writes as plain functions the pages wrap in mutations (each write invalidates the reads it
// changes).
import { keepPreviousData, useQuery, type QueryClient } from "@tanstack/react-query";
import { api, apiResponse } from "./api";
import type {
  History,
  HistoryInterval,
  HistoryRange,
  Performance,
  Portfolio,
  Risk,
  Transaction,
  TransactionInput,
  TransactionPage,
  WatchlistItem,
} from "./portfolioTypes";
import { useSession } from "./session";

export const portfolioKeys = {
  all: ["portfolio"] as const,
  list: ["portfolio", "list"] as const,
  one: (id: number) => ["portfolio", id] as const,
  performance: (id: number) => ["portfolio", id, "performance"] as const,
  history: (id: number, range: HistoryRange) => ["portfolio", id, "history", range] as const,
  risk: (id: number, interval: HistoryInterval) => ["portfolio", id, "risk", interval] as const,
  transactions: (id: number, offset: number) => ["portfolio", id, "transactions", offset] as const,
  watchlist: ["watchlist"] as const,
};

const base = (id: number) => `/api/portfolio/${id}`;

/** The history interval a range is drawn at: hourly up to a week, daily beyond. */
export function historyInterval(range: HistoryRange): HistoryInterval {
  return range === "7d" ? "1h" : "1d";
}

export const TRANSACTIONS_PAGE = 50;

function useSignedIn(): boolean {
  return useSession((state) => state.user !== null);
}

export function usePortfolios() {
  return useQuery({
    queryKey: portfolioKeys.list,
    queryFn: ({ signal }) => api<Portfolio[]>("/api/portfolio", { signal }),
    enabled: useSignedIn(),
  });
}

/** `live`: the socket pushes this body, so polling only backs it up. */
export function usePerformance(id: number | null, live: boolean) {
  return useQuery({
    queryKey: portfolioKeys.performance(id ?? 0),
    queryFn: ({ signal }) => api<Performance>(`${base(id ?? 0)}/performance`, { signal }),
    enabled: useSignedIn() && id !== null,
    refetchInterval: live ? 60_000 : 10_000,
  });
}

export function useHistory(id: number | null, range: HistoryRange) {
  return useQuery({
    queryKey: portfolioKeys.history(id ?? 0, range),
    queryFn: ({ signal }) =>
      api<History>(`${base(id ?? 0)}/history?interval=${historyInterval(range)}&range=${range}`, { signal }),
    enabled: useSignedIn() && id !== null,
    placeholderData: keepPreviousData,
    staleTime: 30_000,
  });
}

export function useRisk(id: number | null, interval: HistoryInterval) {
  return useQuery({
    queryKey: portfolioKeys.risk(id ?? 0, interval),
    queryFn: ({ signal }) => api<Risk>(`${base(id ?? 0)}/risk?interval=${interval}`, { signal }),
    placeholderData: keepPreviousData,
    enabled: useSignedIn() && id !== null,
    staleTime: 60_000,
  });
}

export function useTransactions(id: number | null, offset: number) {
  return useQuery({
    queryKey: portfolioKeys.transactions(id ?? 0, offset),
    queryFn: ({ signal }) =>
      api<TransactionPage>(`${base(id ?? 0)}/transactions?limit=${TRANSACTIONS_PAGE}&offset=${offset}`, { signal }),
    enabled: useSignedIn() && id !== null,
    placeholderData: keepPreviousData,
  });
}

export function useWatchlist() {
  return useQuery({
    queryKey: portfolioKeys.watchlist,
    queryFn: ({ signal }) => api<WatchlistItem[]>("/api/watchlist", { signal }),
    enabled: useSignedIn(),
  });
}

// ------------------------------------------------------------------------------ writes

export const createPortfolio = (name: string) =>
  api<Portfolio>("/api/portfolio", { method: "POST", body: { name } });

export const renamePortfolio = (id: number, name: string) =>
  api<Portfolio>(base(id), { method: "PATCH", body: { name } });

export const deletePortfolio = (id: number) => api<void>(base(id), { method: "DELETE" });

export const addTransaction = (id: number, input: TransactionInput) =>
  api<Transaction>(`${base(id)}/transactions`, { method: "POST", body: input });

export const updateTransaction = (id: number, txId: number, input: Partial<TransactionInput>) =>
  api<Transaction>(`${base(id)}/transactions/${txId}`, { method: "PATCH", body: input });

export const deleteTransaction = (id: number, txId: number) =>
  api<void>(`${base(id)}/transactions/${txId}`, { method: "DELETE" });

export const importTransactions = (id: number, csv: string) =>
  api<{ imported: number }>(`${base(id)}/transactions/import`, {
    method: "POST",
    body: csv,
    contentType: "text/csv",
  });

/** The file name a Content-Disposition header gives, else `fallback`. */
export function attachmentName(disposition: string | null, fallback: string): string {
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition ?? "");
  return match?.[1] ? decodeURIComponent(match[1]) : fallback;
}

/** Download the transactions CSV (the API needs the bearer token, so no plain link). */
export async function exportTransactions(id: number): Promise<void> {
  const response = await apiResponse(`${base(id)}/transactions/export`, {
    method: "GET",
  });
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = attachmentName(
    response.headers.get("Content-Disposition"),
    `portfolio-${id}-transactions.csv`,
  );
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export const addToWatchlist = (coinId: string) =>
  api<WatchlistItem>("/api/watchlist", { method: "POST", body: { coin_id: coinId } });

export const removeFromWatchlist = (coinId: string) =>
  api<void>(`/api/watchlist/${encodeURIComponent(coinId)}`, { method: "DELETE" });

/** After a write: read again what it changed. A read still in flight was asked before the write;
 * invalidating alone would let a first load (no data yet) finish with that old answer, so it is
 * cancelled first. */
export async function refetchAfterWrite(client: QueryClient, queryKey: readonly unknown[]): Promise<void> {
  await client.cancelQueries({ queryKey });
  await client.invalidateQueries({ queryKey });
}

/** After any transaction write: every figure of that portfolio may have changed. */
export function invalidatePortfolio(client: QueryClient, id: number): Promise<void> {
  return refetchAfterWrite(client, portfolioKeys.one(id));
}
