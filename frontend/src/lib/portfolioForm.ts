// The add/edit transaction form's rules, matching the portfolio API's (which stays the
// authority: its 422s are shown next to the same fields). Pure.
import { z } from "zod";
import { fromLocalInput, parseDecimalInput, toLocalInput } from "./portfolioDecimal";
import type { Transaction, TransactionInput } from "./portfolioTypes";

export const TRANSACTION_FIELDS = ["coin_id", "side", "quantity", "price", "fee", "executed_at"] as const;
export type TransactionField = (typeof TRANSACTION_FIELDS)[number];

const decimal = (allowZero: boolean) =>
  z.string().superRefine((value, ctx) => {
    const parsed = parseDecimalInput(value, { allowZero });
    if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.message });
  });

/** The API's earliest trade time: bitcoin's genesis block. */
const EARLIEST = Date.UTC(2009, 0, 3);
const SKEW_MS = 5_000;

export const transactionSchema = z.object({
  coin_id: z.string().min(1, "Pick a coin."),
  side: z.enum(["buy", "sell"]),
  quantity: decimal(false),
  price: decimal(false),
  fee: z.string().superRefine((value, ctx) => {
    if (value.trim() === "") return; // empty = no fee
    const parsed = parseDecimalInput(value, { allowZero: true });
    if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.message });
  }),
  executed_at: z.string().superRefine((value, ctx) => {
    const iso = fromLocalInput(value);
    if (iso === null) {
      ctx.addIssue({ code: "custom", message: "Enter a date and time." });
      return;
    }
    const time = Date.parse(iso);
    if (time > Date.now() + SKEW_MS) ctx.addIssue({ code: "custom", message: "Must not be in the future." });
    else if (time < EARLIEST) ctx.addIssue({ code: "custom", message: "Must not be before 2009-01-03 (the first bitcoin block)." });
  }),
});
export type TransactionValues = z.infer<typeof transactionSchema>;

/** The request body: canonical decimal strings and a UTC instant. Only after validation. */
export function toTransactionInput(values: TransactionValues): TransactionInput {
  const decimal = (text: string, allowZero = false) => {
    const parsed = parseDecimalInput(text, { allowZero });
    if (!parsed.ok) throw new Error(parsed.message);
    return parsed.value;
  };
  return {
    coin_id: values.coin_id,
    side: values.side,
    quantity: decimal(values.quantity),
    price: decimal(values.price),
    fee: values.fee.trim() === "" ? "0" : decimal(values.fee, true),
    executed_at: fromLocalInput(values.executed_at) ?? values.executed_at,
  };
}

/** The form's starting values: a new trade of `coinId` now, or the transaction being edited. */
export function transactionDefaults(from: Transaction | { coin_id: string; price?: string | null }, now: Date = new Date()): TransactionValues {
  if ("id" in from) {
    return {
      coin_id: from.coin_id,
      side: from.side,
      quantity: from.quantity,
      price: from.price,
      fee: from.fee === "0" ? "" : from.fee,
      executed_at: toLocalInput(from.executed_at),
    };
  }
  return { coin_id: from.coin_id, side: "buy", quantity: "", price: from.price ?? "", fee: "", executed_at: toLocalInput(now) };
}

/** A live JSON price as a decimal string to prefill the price field (display precision). */
export function priceText(price: number | null | undefined): string {
  if (price === null || price === undefined || !Number.isFinite(price) || price <= 0) return "";
  const places = price >= 1 ? 2 : Math.min(18, 3 - Math.floor(Math.log10(price)) + 1);
  return price.toFixed(places).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
}
