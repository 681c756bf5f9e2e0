import { describe, expect, it } from "vitest";
import { coin } from "@/test/fixtures";
import type { PriceUpdate } from "@/lib/types";
import { applyUpdates } from "./usePriceStream";

const update = (coin_id: string, price: number, timestamp: string, change_24h?: number): PriceUpdate => ({
  type: "price_update",
  coin_id,
  price,
  timestamp,
  change_24h,
  source: "simulator",
});

describe("applyUpdates", () => {
  const data = { coins: [coin("bitcoin", 100, 1), coin("ethereum", 10, 2)] };

  it("patches price, change, 24h range and time of the coins that moved", () => {
    const next = applyUpdates(data, new Map([["bitcoin", update("bitcoin", 120, "2025-01-01T00:00:05Z", 3)]]));
    expect(next?.coins[0]).toMatchObject({ price: 120, change_24h_pct: 3, high_24h: 120, updated_at: "2025-01-01T00:00:05Z" });
    expect(next?.coins[1]).toBe(data.coins[1]);
  });

  it("ignores frames older than what the list already shows", () => {
    const next = applyUpdates(data, new Map([["bitcoin", update("bitcoin", 50, "2024-12-31T23:59:00Z")]]));
    expect(next?.coins[0]?.price).toBe(100);
  });

  it("keeps the change when the frame has none", () => {
    const next = applyUpdates(data, new Map([["ethereum", update("ethereum", 11, "2025-01-01T00:00:01Z")]]));
    expect(next?.coins[1]).toMatchObject({ price: 11, change_24h_pct: 2 });
  });
});
