// Live figures: `/ws/portfolio` (an auth frame with the access token, then one portfolio's
// `portfolio_update` frames written into its performance query) and, for the watchlist,
// `/ws/prices` subscribed to exactly the watched coins.
"use client";

import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { useWebSocket } from "@/hooks/useWebSocket";
import { refreshSession } from "./api";
import { portfolioKeys } from "./portfolioQueries";
import type { Performance, WatchlistItem } from "./portfolioTypes";
import { useMeta } from "./queries";
import { useSession } from "./session";
import type { PriceUpdate } from "./types";

/** Errors after which the token must be renewed before the next connection. */
const TOKEN_ERRORS = new Set(["unauthorized", "token_expired"]);

export function isPortfolioUpdate(data: unknown): data is Performance & { type: "portfolio_update" } {
  if (typeof data !== "object" || data === null) return false;
  const frame = data as Record<string, unknown>;
  return frame.type === "portfolio_update" && typeof frame.portfolio_id === "number" && typeof frame.total_value === "string";
}

export function performanceOf(frame: Performance & { type?: string }): Performance {
  const { type: _type, ...body } = frame;
  void _type;
  return body;
}

/** Whether the portfolio's figures arrive over the socket right now. */
export function usePortfolioStream(portfolioId: number | null): boolean {
  const client = useQueryClient();
  const meta = useMeta();
  const token = useSession((state) => state.token);
  const hasStream = meta.data?.streams.includes("portfolio") ?? false;
  const socketRef = useRef<WebSocket | null>(null);
  const subscribed = useRef<number | null>(null);
  const wanted = useRef(portfolioId);
  const [live, setLive] = useState(false);

  const subscribe = (socket: WebSocket) => {
    const id = wanted.current;
    if (subscribed.current !== null && subscribed.current !== id) {
      socket.send(JSON.stringify({ action: "unsubscribe", portfolio_id: subscribed.current }));
    }
    subscribed.current = id;
    if (id !== null) socket.send(JSON.stringify({ action: "subscribe", portfolio_id: id }));
  };

  const status = useWebSocket(hasStream && token !== null ? "/ws/portfolio" : null, {
    onOpen: (socket) => {
      socketRef.current = socket;
      subscribed.current = null;
      setLive(false);
      socket.send(JSON.stringify({ action: "auth", token: useSession.getState().token }));
    },
    onMessage: (data) => {
      if (typeof data !== "object" || data === null) return;
      const frame = data as Record<string, unknown>;
      if (frame.type === "authenticated" && socketRef.current && subscribed.current === null) {
        subscribe(socketRef.current);
      } else if (frame.type === "subscribed") {
        setLive(true);
      } else if (isPortfolioUpdate(data)) {
        if (data.portfolio_id === wanted.current) {
          client.setQueryData(portfolioKeys.performance(data.portfolio_id), performanceOf(data));
        }
      } else if (frame.type === "error" && typeof frame.code === "string" && TOKEN_ERRORS.has(frame.code)) {
        // The server closes next (4401); the reconnection then carries a fresh token.
        void refreshSession();
      }
    },
  });

  // Another portfolio picked: move the subscription.
  useEffect(() => {
    wanted.current = portfolioId;
    const socket = socketRef.current;
    if (socket && socket.readyState === WebSocket.OPEN && subscribed.current !== null && subscribed.current !== portfolioId) {
      subscribe(socket);
    }
  });

  // A refreshed access token: tell the socket before the old one expires.
  const lastToken = useRef(token);
  useEffect(() => {
    const socket = socketRef.current;
    if (token !== null && token !== lastToken.current && socket?.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ action: "auth", token }));
    }
    lastToken.current = token;
  }, [token]);

  return status === "open" && live;
}

export function isPriceUpdate(data: unknown): data is PriceUpdate {
  if (typeof data !== "object" || data === null) return false;
  const frame = data as Record<string, unknown>;
  return frame.type === "price_update" && typeof frame.coin_id === "string" && typeof frame.price === "number";
}

/** A price frame applied to the watchlist (older frames than what is shown are ignored). */
export function applyWatchPrice(items: WatchlistItem[] | undefined, update: PriceUpdate): WatchlistItem[] | undefined {
  if (!items) return items;
  return items.map((item) => {
    if (item.coin_id !== update.coin_id) return item;
    if (item.updated_at && Date.parse(update.timestamp) < Date.parse(item.updated_at)) return item;
    return {
      ...item,
      price: update.price,
      change_24h_pct: update.change_24h ?? item.change_24h_pct,
      updated_at: update.timestamp,
      stale: false,
    };
  });
}

/** What to send so that the socket's subscription becomes exactly `want`. */
export function subscriptionDiff(have: ReadonlySet<string>, want: readonly string[]): { subscribe: string[]; unsubscribe: string[] } {
  const wanted = new Set(want);
  return {
    subscribe: [...wanted].filter((coin) => !have.has(coin)).sort(),
    unsubscribe: [...have].filter((coin) => !wanted.has(coin)).sort(),
  };
}

/** Live prices of exactly the watched coins; whether the socket is open. */
export function useWatchlistStream(coins: readonly string[]): boolean {
  const client = useQueryClient();
  const meta = useMeta();
  const hasStream = meta.data?.streams.includes("prices") ?? false;
  const socketRef = useRef<WebSocket | null>(null);
  const have = useRef(new Set<string>());
  const want = useRef(coins);

  const sync = (socket: WebSocket) => {
    const diff = subscriptionDiff(have.current, want.current);
    if (diff.unsubscribe.length) socket.send(JSON.stringify({ action: "unsubscribe", coins: diff.unsubscribe }));
    if (diff.subscribe.length) socket.send(JSON.stringify({ action: "subscribe", coins: diff.subscribe }));
    have.current = new Set(want.current);
  };

  const status = useWebSocket(hasStream && coins.length > 0 ? "/ws/prices" : null, {
    onOpen: (socket) => {
      socketRef.current = socket;
      have.current = new Set();
      sync(socket);
    },
    onMessage: (data) => {
      if (!isPriceUpdate(data)) return;
      client.setQueryData<WatchlistItem[]>(portfolioKeys.watchlist, (items) => applyWatchPrice(items, data));
    },
  });

  const key = [...coins].sort().join(",");
  useEffect(() => {
    want.current = coins;
    const socket = socketRef.current;
    if (socket && socket.readyState === WebSocket.OPEN) sync(socket);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `key` stands for `coins`
  }, [key]);

  return status === "open";
}
