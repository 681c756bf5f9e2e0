// The one WebSocket hook: connects to a same-origin path, reconnects with exponential backoff
// and jitter, and calls onOpen on every (re)connection so the caller can resubscribe.
"use client";

import { useEffect, useRef, useState } from "react";

export type SocketStatus = "idle" | "connecting" | "open" | "closed";

export interface SocketHandlers {
  onOpen?: (socket: WebSocket) => void;
  onMessage?: (data: unknown) => void;
}

export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
}

/** Delay before reconnect attempt `attempt` (0-based): base·2^attempt capped, then 50–100 %. */
export function backoffDelay(attempt: number, { baseMs = 500, maxMs = 30_000 }: BackoffOptions = {}, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(ceiling * (0.5 + random() / 2));
}

export function socketUrl(path: string): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss:" : "ws:"}//${host}${path}`;
}

/** `path` null keeps the socket closed (status "idle"). */
export function useWebSocket(
  path: string | null,
  handlers: SocketHandlers,
  backoff: BackoffOptions = {},
): SocketStatus {
  const [status, setStatus] = useState<SocketStatus>("idle");
  const handlersRef = useRef(handlers);
  const backoffRef = useRef(backoff);
  useEffect(() => {
    handlersRef.current = handlers;
    backoffRef.current = backoff;
  });

  useEffect(() => {
    if (path === null) return;
    let socket: WebSocket | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    let stopped = false;

    const connect = () => {
      if (stopped) return;
      setStatus("connecting");
      socket = new WebSocket(socketUrl(path));
      socket.onopen = () => {
        attempt = 0;
        setStatus("open");
        if (socket) handlersRef.current.onOpen?.(socket);
      };
      socket.onmessage = (event: MessageEvent) => {
        if (typeof event.data !== "string") return;
        let data: unknown;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        handlersRef.current.onMessage?.(data);
      };
      socket.onclose = () => {
        socket = null;
        if (stopped) return;
        setStatus("closed");
        timer = setTimeout(connect, backoffDelay(attempt++, backoffRef.current));
      };
    };

    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      if (socket) {
        socket.onclose = null;
        socket.close(1000, "unmount");
      }
    };
  }, [path]);

  return path === null ? "idle" : status;
}
