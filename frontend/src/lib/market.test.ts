import { describe, expect, it } from "vitest";
import { marketFigures, movers, volumeUsd } from "./market";
import { coin } from "@/test/fixtures";

describe("movers", () => {
  it("ranks gainers and losers and leaves out flat coins", () => {
    const list = [coin("a", 1, 5), coin("b", 1, -3), coin("c", 1, 0), coin("d", 1, 9), coin("e", 1, -7), coin("f", 1, null)];
    const { gainers, losers } = movers(list, 5);
    expect(gainers.map((c) => c.coin_id)).toEqual(["d", "a"]);
    expect(losers.map((c) => c.coin_id)).toEqual(["e", "b"]);
  });
});

describe("marketFigures", () => {
  it("sums volume in USD and counts up/down", () => {
    const figures = marketFigures([coin("a", 2, 1, 10), coin("b", 3, -1, 100), coin("c", 1, null, null)]);
    expect(figures).toEqual({ tracked: 3, up: 1, down: 1, volume: 320, averageChange: 0 });
    expect(volumeUsd(coin("x", 2, 0, null))).toBeNull();
  });
});

describe("volumeUsd", () => {
  it("prefers the server's USD volume", () => {
    expect(volumeUsd({ ...coin("a", 2, 0, 10), volume_24h_usd: 25 })).toBe(25);
    expect(volumeUsd(coin("a", 2, 0, 10))).toBe(20);
  });
});
