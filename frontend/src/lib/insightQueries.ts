// Server state of the analytics, sentiment and settings pages: one TanStack Query hook per
// backend read (the same conventions as queries.ts).
import { keepPreviousData, useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { api } from "./api";
import type {
  AnalyticsSummary,
  ArticleList,
  CorrelationResponse,
  SentimentKind,
  SentimentModel,
  SentimentOverview,
  SentimentTrend,
  SentimentWindow,
  VolatilityResponse,
} from "./insightTypes";
import { toPreferences } from "./preferences";
import { newsQuery, TREND_INTERVAL, type FeedFilters, type TrendRange } from "./sentiment";
import type { Interval } from "./types";


export function useAnalyticsSummary(coinId: string, interval: Interval, enabled: boolean) {
  return useQuery({
    queryKey: ["analytics", "summary", coinId, interval],
    queryFn: ({ signal }) =>
      api<AnalyticsSummary>(`/api/analytics/${encodeURIComponent(coinId)}/summary?interval=${interval}`, { signal }),
    enabled: enabled && coinId !== "",
    placeholderData: keepPreviousData,
    staleTime: 10_000,
    refetchInterval: 30_000,
  });
}

export function useVolatility(interval: Interval, window: number, enabled: boolean) {
  return useQuery({
    queryKey: ["analytics", "volatility", interval, window],
    queryFn: ({ signal }) =>
      api<VolatilityResponse>(`/api/analytics/volatility?interval=${interval}&window=${window}`, { signal }),
    enabled,
    placeholderData: keepPreviousData,
    staleTime: 30_000,
    refetchInterval: 60_000,
  });
}

/** `window` null = the server's default for the interval. */
export function useCorrelation(interval: Interval, window: number | null, enabled: boolean) {
  const path = `/api/analytics/correlation?interval=${interval}${window === null ? "" : `&window=${window}`}`;
  return useQuery({
    queryKey: ["analytics", "correlation", interval, window],
    queryFn: ({ signal }) => api<CorrelationResponse>(path, { signal }),
    enabled,
    placeholderData: keepPreviousData,
    staleTime: 30_000,
    refetchInterval: 60_000,
  });
}

export const sentimentOverviewKey = (window: SentimentWindow, kind: SentimentKind) =>
  ["sentiment", "overview", window, kind] as const;

export function useSentimentOverview(window: SentimentWindow, kind: SentimentKind, enabled: boolean) {
  return useQuery({
    queryKey: sentimentOverviewKey(window, kind),
    queryFn: ({ signal }) => api<SentimentOverview>(`/api/sentiment/overview?window=${window}&kind=${kind}`, { signal }),
    enabled,
    placeholderData: keepPreviousData,
    staleTime: 15_000,
    refetchInterval: 60_000,
  });
}

export function useSentimentTrend(coinId: string, range: TrendRange, kind: SentimentKind, enabled: boolean) {
  const interval = TREND_INTERVAL[range];
  return useQuery({
    queryKey: ["sentiment", "trend", coinId, range, kind],
    queryFn: ({ signal }) =>
      api<SentimentTrend>(
        `/api/sentiment/${encodeURIComponent(coinId)}/trend?interval=${interval}&range=${range}&kind=${kind}`,
        { signal },
      ),
    enabled: enabled && coinId !== "",
    placeholderData: keepPreviousData,
    staleTime: 30_000,
    refetchInterval: 60_000,
  });
}

export function useArticles(filters: Pick<FeedFilters, "coin" | "kind">, enabled: boolean, pageSize = 20) {
  return useInfiniteQuery({
    queryKey: ["sentiment", "news", filters.coin, filters.kind, pageSize],
    queryFn: ({ signal, pageParam }) => api<ArticleList>(newsQuery(filters, pageSize, pageParam), { signal }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_before,
    enabled,
    staleTime: 15_000,
    refetchInterval: 60_000,
  });
}

export function useSentimentModel(enabled: boolean) {
  return useQuery({
    queryKey: ["sentiment", "model"],
    queryFn: ({ signal }) => api<SentimentModel>("/api/sentiment/model", { signal }),
    enabled,
    staleTime: 30_000,
    refetchInterval: 60_000,
  });
}

/** Per user: another account signing in on this tab never sees the previous one's. */
export const preferencesKey = (userId: string | number | null) => ["users", userId, "preferences"] as const;

export function usePreferences(userId: string | number | null) {
  return useQuery({
    queryKey: preferencesKey(userId),
    queryFn: async ({ signal }) => toPreferences(await api<unknown>("/api/users/me/preferences", { signal })),
    enabled: userId !== null,
    staleTime: 60_000,
  });
}
