"use client";

import { useEffect, useRef, useState } from "react";

/** "up" or "down" for a moment after `value` changes; null otherwise (and on first render). */
export function useFlash(value: number | null | undefined, durationMs = 800): "up" | "down" | null {
  const previous = useRef(value);
  const [flash, setFlash] = useState<{ dir: "up" | "down"; n: number } | null>(null);

  useEffect(() => {
    const before = previous.current;
    previous.current = value;
    if (before === null || before === undefined || value === null || value === undefined || before === value) return;
    setFlash((old) => ({ dir: value > before ? "up" : "down", n: (old?.n ?? 0) + 1 }));
    const timer = setTimeout(() => setFlash(null), durationMs);
    return () => clearTimeout(timer);
  }, [value, durationMs]);

  return flash?.dir ?? null;
}
