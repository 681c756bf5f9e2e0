// Live prices: /ws/prices when the backend has it (it says so in /api/meta), patched into the
// coins query in batches; while the socket is not open, the coins query polls every 2 s.
"use client";

import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useRef } from "react";
import { useLive } from "@/lib/live";
import { coinsKey, useMeta } from "@/lib/queries";
import type { CoinsResponse, PriceUpdate } from "@/lib/types";
import { useWebSocket } from "./useWebSocket";

const FLUSH_MS = 250;

export function applyUpdates(data: CoinsResponse | undefined, updates: Map<string, PriceUpdate>): CoinsResponse | undefined {
  if (!data || updates.size === 0) return data;
  return {
    coins: data.coins.map((coin) => {
      const update = updates.get(coin.coin_id);
      if (!update || (coin.updated_at !== null && Date.parse(update.timestamp) < Date.parse(coin.updated_at))) return coin;
      return {
        ...coin,
        price: update.price,
        change_24h_pct: update.change_24h ?? coin.change_24h_pct,
        high_24h: coin.high_24h === null ? update.price : Math.max(coin.high_24h, update.price),
        low_24h: coin.low_24h === null ? update.price : Math.min(coin.low_24h, update.price),
        stale: false,
        updated_at: update.timestamp,
      };
    }),
  };
}

function isPriceUpdate(data: unknown): data is PriceUpdate {
  if (typeof data !== "object" || data === null) return false;
  const frame = data as Record<string, unknown>;
  return (
    frame.type === "price_update" &&
    typeof frame.coin_id === "string" &&
    typeof frame.price === "number" &&
    typeof frame.timestamp === "string"
  );
}

export function usePriceStream(): void {
  const queryClient = useQueryClient();
  const meta = useMeta();
  const setStatus = useLive((state) => state.setStatus);
  const pending = useRef(new Map<string, PriceUpdate>());
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const flush = useCallback(() => {
    timer.current = null;
    const updates = pending.current;
    pending.current = new Map();
    queryClient.setQueryData<CoinsResponse>(coinsKey, (old) => applyUpdates(old, updates));
  }, [queryClient]);

  const hasStream = meta.data?.streams.includes("prices") ?? false;
  const status = useWebSocket(hasStream ? "/ws/prices" : null, {
    onOpen: (socket) => socket.send(JSON.stringify({ action: "subscribe", coins: ["*"] })),
    onMessage: (data) => {
      if (!isPriceUpdate(data)) return;
      pending.current.set(data.coin_id, data);
      timer.current ??= setTimeout(flush, FLUSH_MS);
    },
  });

  useEffect(() => {
    if (status === "open") setStatus("live");
    else if (status === "connecting" && meta.isPending) setStatus("connecting");
    else setStatus("polling");
  }, [status, meta.isPending, setStatus]);

  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
}
