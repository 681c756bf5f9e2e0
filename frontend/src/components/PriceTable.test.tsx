import { act, fireEvent, screen, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { coin } from "@/test/fixtures";
import { renderWithQuery } from "@/test/render";
import { PriceTable, sortCoins } from "./PriceTable";

beforeEach(() => {
  // Sparklines fetch candles; an empty answer keeps them blank.
  vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ candles: [] }), { status: 200 })));
});

const coins = [coin("bitcoin", 65000, -1.5, 100), coin("ethereum", 3200, 2.5, 1000), coin("dogecoin", 0.12, 9, 1e9)];

function names(): string[] {
  return screen.getAllByRole("rowheader").map((cell) => within(cell).getByRole("link").textContent ?? "");
}

describe("PriceTable", () => {
  it("lists coins with price, change and a link to the coin page", () => {
    renderWithQuery(<PriceTable coins={coins} />);
    expect(names()).toEqual(["Bitcoinbit", "Ethereumeth", "Dogecoindog"]);
    expect(screen.getByTestId("price-bitcoin").textContent).toBe("$65,000.00");
    expect(screen.getByText("+2.50%")).toBeTruthy();
    expect(screen.getAllByRole("link")[0]?.getAttribute("href")).toMatch(/^\/coin\/?\?id=bitcoin$/);
  });

  it("sorts by a column and flips on a second click", () => {
    renderWithQuery(<PriceTable coins={coins} />);
    fireEvent.click(screen.getByRole("button", { name: /Price/ }));
    expect(names()[0]).toBe("Bitcoinbit");
    expect(screen.getByRole("columnheader", { name: /Price/ }).getAttribute("aria-sort")).toBe("descending");
    fireEvent.click(screen.getByRole("button", { name: /Price/ }));
    expect(names()[0]).toBe("Dogecoindog");
    fireEvent.click(screen.getByRole("button", { name: /^24h/ }));
    expect(names()[0]).toBe("Dogecoindog");
  });

  it("searches by name or symbol and says when nothing matches", () => {
    renderWithQuery(<PriceTable coins={coins} />);
    fireEvent.change(screen.getByLabelText("Search coins"), { target: { value: "eth" } });
    expect(names()).toEqual(["Ethereumeth"]);
    fireEvent.change(screen.getByLabelText("Search coins"), { target: { value: "zzz" } });
    expect(screen.getByText("No coin matches “zzz”.")).toBeTruthy();
  });

  it("flashes a price that changes", () => {
    vi.useFakeTimers();
    const { rerender } = renderWithQuery(<PriceTable coins={coins} />);
    const moved = [{ ...coins[0]!, price: 66000 }, coins[1]!, coins[2]!];
    rerender(<PriceTable coins={moved} />);
    expect(screen.getByTestId("price-bitcoin").className).toContain("flash-up");
    act(() => vi.advanceTimersByTime(1000));
    expect(screen.getByTestId("price-bitcoin").className).not.toContain("flash");
    vi.useRealTimers();
  });

  it("shows an unpriced coin as a dash, marked stale, sorted last by price", () => {
    const unpriced = { ...coin("newcoin", 1, null, null), price: null, stale: true, updated_at: null };
    renderWithQuery(<PriceTable coins={[unpriced, ...coins]} />);
    expect(screen.getByTestId("price-newcoin").textContent).toBe("—stale");
    fireEvent.click(screen.getByRole("button", { name: /Price/ }));
    expect(names().at(-1)).toBe("Newcoinnew");
  });

  it("sorting keeps volume-less coins last", () => {
    const sorted = sortCoins([coin("a", 1, 1, null), coin("b", 1, 1, 5)], "volume", "desc");
    expect(sorted.map((c) => c.coin_id)).toEqual(["b", "a"]);
  });
});
