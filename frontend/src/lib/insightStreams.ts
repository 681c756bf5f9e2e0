// Live analytics and sentiment for their pages: /ws/analytics and /ws/sentiment through the one
// WebSocket hook (reconnect with backoff, resubscribe on every connect), opened only when the
// server says it has the stream (/api/meta) and only while the page is mounted. Frames are
// batched (one React update per `flushMs`), latest per coin and interval.
"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import { useWebSocket, type SocketStatus } from "@/hooks/useWebSocket";
import type { AnalyticsUpdate, SentimentUpdate } from "./insightTypes";
import { isAnalyticsUpdate, liveKey } from "./insights";
import { useMeta } from "./queries";
import { isSentimentUpdate } from "./sentiment";

function useBatched<T>(flushMs: number) {
  const [latest, setLatest] = useState<Record<string, T>>({});
  const pending = useRef<Record<string, T>>({});
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const push = useCallback(
    (key: string, value: T) => {
      pending.current[key] = value;
      timer.current ??= setTimeout(() => {
        timer.current = null;
        const batch = pending.current;
        pending.current = {};
        setLatest((old) => ({ ...old, ...batch }));
      }, flushMs);
    },
    [flushMs],
  );
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  return [latest, push] as const;
}

/** Every coin's latest `analytics_update`, keyed `coin:interval`. */
export function useAnalyticsStream(flushMs = 500): { updates: Record<string, AnalyticsUpdate>; status: SocketStatus } {
  const meta = useMeta();
  const [updates, push] = useBatched<AnalyticsUpdate>(flushMs);
  const hasStream = meta.data?.streams.includes("analytics") ?? false;
  const status = useWebSocket(hasStream ? "/ws/analytics" : null, {
    onOpen: (socket) => socket.send(JSON.stringify({ action: "subscribe", coins: ["*"] })),
    onMessage: (data) => {
      if (isAnalyticsUpdate(data)) push(liveKey(data.coin_id, data.interval), data);
    },
  });
  return { updates, status };
}

/** Every coin's latest `sentiment_update`, keyed by coin. */
export function useSentimentStream(flushMs = 500): { updates: Record<string, SentimentUpdate>; status: SocketStatus } {
  const meta = useMeta();
  const [updates, push] = useBatched<SentimentUpdate>(flushMs);
  const hasStream = meta.data?.streams.includes("sentiment") ?? false;
  const status = useWebSocket(hasStream ? "/ws/sentiment" : null, {
    onOpen: (socket) => socket.send(JSON.stringify({ action: "subscribe", coins: ["*"] })),
    onMessage: (data) => {
      if (isSentimentUpdate(data)) push(data.coin_id, data);
    },
  });
  return { updates, status };
}
