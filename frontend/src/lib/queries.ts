// Server state: one TanStack Query hook per backend read.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api } from "./api";
import { takeEarlyCoins } from "./early";
import { coinsRefetchInterval, useLive } from "./live";
import type {
  CandlesResponse,
  CoinsResponse,
  IndicatorsResponse,
  Interval,
  Meta,
} from "./types";

export const coinsKey = ["market", "coins"] as const;

export function useMeta() {
  return useQuery({
    queryKey: ["meta"],
    queryFn: ({ signal }) => api<Meta>("/api/meta", { signal }),
    staleTime: 10_000,
    refetchInterval: 15_000,
    retry: 1,
  });
}

export function useCoins() {
  const status = useLive((state) => state.status);
  return useQuery({
    queryKey: coinsKey,
    queryFn: async ({ signal }) =>
      (await takeEarlyCoins()) ?? api<CoinsResponse>("/api/market/coins", { signal }),
    refetchInterval: coinsRefetchInterval(status),
    staleTime: 1_000,
  });
}

export function useCandles(coinId: string, interval: Interval, limit = 500, enabled = true) {
  return useQuery({
    queryKey: ["market", "candles", coinId, interval, limit],
    queryFn: ({ signal }) =>
      api<CandlesResponse>(
        `/api/market/${encodeURIComponent(coinId)}/candles?interval=${interval}&limit=${limit}`,
        { signal },
      ),
    enabled: enabled && coinId !== "",
    placeholderData: keepPreviousData,
    staleTime: 30_000,
    refetchInterval: 60_000,
  });
}

export function useSparkline(coinId: string) {
  return useQuery({
    queryKey: ["market", "candles", coinId, "1h", 24],
    queryFn: ({ signal }) =>
      api<CandlesResponse>(
        `/api/market/${encodeURIComponent(coinId)}/candles?interval=1h&limit=24`,
        { signal },
      ),
    staleTime: 5 * 60_000,
    retry: false,
  });
}

export interface IndicatorParams {
  sma: number[];
  ema: number[];
  bb: boolean;
  rsi: boolean;
  macd: boolean;
}

export function indicatorQuery(coinId: string, interval: Interval, params: IndicatorParams): string {
  const query = new URLSearchParams({ interval, limit: "500" });
  if (params.sma.length) query.set("sma", params.sma.join(","));
  if (params.ema.length) query.set("ema", params.ema.join(","));
  if (params.bb) query.set("bb", "20,2");
  if (params.rsi) query.set("rsi", "14");
  if (params.macd) query.set("macd", "12,26,9");
  return `/api/analytics/${encodeURIComponent(coinId)}/indicators?${query.toString()}`;
}

export function useIndicators(
  coinId: string,
  interval: Interval,
  params: IndicatorParams,
  enabled: boolean,
) {
  const path = indicatorQuery(coinId, interval, params);
  return useQuery({
    queryKey: ["analytics", "indicators", path],
    queryFn: ({ signal }) => api<IndicatorsResponse>(path, { signal }),
    enabled,
    placeholderData: keepPreviousData,
    staleTime: 30_000,
    refetchInterval: 60_000,
    retry: false,
  });
}
