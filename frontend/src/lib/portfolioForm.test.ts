import { describe, expect, it } from "vitest";
import { fromLocalInput } from "./portfolioDecimal";
import { priceText, toTransactionInput, transactionDefaults, transactionSchema } from "./portfolioForm";
import type { Transaction } from "./portfolioTypes";

const now = new Date(2024, 5, 1, 12, 0);
const base = { coin_id: "bitcoin", side: "buy" as const, quantity: "0.5", price: "42,000.10", fee: "", executed_at: "2024-01-05T10:00" };

describe("transaction form", () => {
  it("sends canonical decimal strings and a UTC instant", () => {
    const values = transactionSchema.parse(base);
    expect(toTransactionInput(values)).toEqual({
      coin_id: "bitcoin",
      side: "buy",
      quantity: "0.5",
      price: "42000.1",
      fee: "0",
      executed_at: fromLocalInput("2024-01-05T10:00"),
    });
  });

  it("names each bad field", () => {
    const result = transactionSchema.safeParse({ ...base, quantity: "0", price: "1e5", fee: "-2", executed_at: "2999-01-01T00:00" });
    expect(result.success).toBe(false);
    const issues = Object.fromEntries((result.error?.issues ?? []).map((issue) => [issue.path.join("."), issue.message]));
    expect(issues).toEqual({
      quantity: "Must be greater than 0.",
      price: "Write the number out in full, like 0.00012 (no exponent).",
      fee: "Must not be negative.",
      executed_at: "Must not be in the future.",
    });
  });

  it("refuses trades before bitcoin", () => {
    const result = transactionSchema.safeParse({ ...base, executed_at: "2008-12-31T00:00" });
    expect(result.error?.issues[0]?.message).toMatch(/2009-01-03/);
  });

  it("starts a new trade now, or from the transaction being edited", () => {
    expect(transactionDefaults({ coin_id: "ethereum", price: "3000" }, now)).toEqual({
      coin_id: "ethereum",
      side: "buy",
      quantity: "",
      price: "3000",
      fee: "",
      executed_at: "2024-06-01T12:00",
    });
    const tx: Transaction = {
      id: 7, portfolio_id: 1, coin_id: "bitcoin", side: "sell", quantity: "0.25", price: "50000", fee: "0",
      executed_at: new Date(2024, 0, 5, 10, 0, 42).toISOString(), created_at: "2024-01-05T10:00:00Z", realized_gain: "10",
    };
    expect(transactionDefaults(tx)).toEqual({ coin_id: "bitcoin", side: "sell", quantity: "0.25", price: "50000", fee: "", executed_at: "2024-01-05T10:00" });
  });

  it("prefills a live price at display precision", () => {
    expect(priceText(42000.123456)).toBe("42000.12");
    expect(priceText(0.0000123456)).toBe("0.000012346");
    expect(priceText(3)).toBe("3");
    expect(priceText(null)).toBe("");
    expect(priceText(0)).toBe("");
  });
});
