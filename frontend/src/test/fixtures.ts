// Test data shaped like the market API.
import type { Coin } from "@/lib/types";

export function coin(id: string, price: number, change: number | null, volume: number | null = 10): Coin {
  return {
    coin_id: id,
    symbol: id.slice(0, 3),
    name: id[0]?.toUpperCase() + id.slice(1),
    price,
    change_24h_pct: change,
    volume_24h: volume,
    high_24h: price * 1.1,
    low_24h: price * 0.9,
    updated_at: "2025-01-01T00:00:00Z",
    sources: {},
  };
}

