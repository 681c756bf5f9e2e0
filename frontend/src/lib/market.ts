// Pure figures derived from the live coin list (movers, market totals), so they move with it.
import type { Coin } from "./types";

/** The 24 h volume in USD: the server's figure, else base units at the current price. */
export function volumeUsd(coin: Coin): number | null {
  if (coin.volume_24h_usd !== undefined && coin.volume_24h_usd !== null) return coin.volume_24h_usd;
  return coin.volume_24h === null || coin.price === null ? null : coin.volume_24h * coin.price;
}

export function movers(coins: Coin[], limit = 5): { gainers: Coin[]; losers: Coin[] } {
  const ranked = coins.filter((coin) => coin.change_24h_pct !== null && Number.isFinite(coin.change_24h_pct));
  const sorted = [...ranked].sort((a, b) => (b.change_24h_pct ?? 0) - (a.change_24h_pct ?? 0));
  return {
    gainers: sorted.filter((coin) => (coin.change_24h_pct ?? 0) > 0).slice(0, limit),
    losers: sorted.filter((coin) => (coin.change_24h_pct ?? 0) < 0).reverse().slice(0, limit),
  };
}

export interface MarketFigures {
  tracked: number;
  up: number;
  down: number;
  volume: number;
  averageChange: number | null;
}

export function marketFigures(coins: Coin[]): MarketFigures {
  const changes = coins.map((coin) => coin.change_24h_pct).filter((value): value is number => value !== null);
  return {
    tracked: coins.length,
    up: changes.filter((value) => value > 0).length,
    down: changes.filter((value) => value < 0).length,
    volume: coins.reduce((sum, coin) => sum + (volumeUsd(coin) ?? 0), 0),
    averageChange: changes.length ? changes.reduce((a, b) => a + b, 0) / changes.length : null,
  };
}

