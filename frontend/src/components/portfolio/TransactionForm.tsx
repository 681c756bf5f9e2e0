"use client";

// Add or edit a transaction. Figures stay strings from the keyboard to the request; the
// server's 422 messages land next to the field they name.
import { zodResolver } from "@hookform/resolvers/zod";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useForm } from "react-hook-form";
import { FormError } from "@/components/AuthCard";
import { serverFieldErrors } from "@/lib/portfolioErrors";
import { TRANSACTION_FIELDS, toTransactionInput, transactionDefaults, transactionSchema, type TransactionValues } from "@/lib/portfolioForm";
import { addTransaction, invalidatePortfolio, updateTransaction } from "@/lib/portfolioQueries";
import type { Transaction, TransactionInput } from "@/lib/portfolioTypes";
import { Button, SelectField, TextField } from "./ui";

export interface CoinOption {
  coin_id: string;
  name: string;
  symbol: string;
}

interface Props {
  portfolioId: number;
  coins: CoinOption[];
  editing?: Transaction;
  /** a new transaction's coin and suggested price */
  initial?: { coin_id: string; price?: string };
  onDone: (saved: Transaction | null) => void;
}

export function TransactionForm({ portfolioId, coins, editing, initial, onDone }: Props) {
  const client = useQueryClient();
  const [general, setGeneral] = useState<string | null>(null);
  const {
    register,
    handleSubmit,
    setError,
    formState: { errors, isSubmitting, dirtyFields },
  } = useForm<TransactionValues>({
    resolver: zodResolver(transactionSchema),
    defaultValues: transactionDefaults(editing ?? { coin_id: initial?.coin_id ?? coins[0]?.coin_id ?? "", price: initial?.price }),
  });

  const onSubmit = handleSubmit(async (values) => {
    setGeneral(null);
    const input = toTransactionInput(values);
    try {
      let saved: Transaction;
      if (editing) {
        // Only what changed: an untouched time keeps its seconds.
        const changes: Partial<TransactionInput> = {};
        for (const field of TRANSACTION_FIELDS) {
          if (dirtyFields[field]) Object.assign(changes, { [field]: input[field] });
        }
        saved = Object.keys(changes).length ? await updateTransaction(portfolioId, editing.id, changes) : editing;
      } else {
        saved = await addTransaction(portfolioId, input);
      }
      await invalidatePortfolio(client, portfolioId);
      onDone(saved);
    } catch (error) {
      const mapped = serverFieldErrors(error, TRANSACTION_FIELDS);
      for (const field of TRANSACTION_FIELDS) {
        const message = mapped.fields[field];
        if (message) setError(field, { type: "server", message });
      }
      setGeneral(mapped.general);
    }
  });

  const title = editing ? "Edit transaction" : "Add transaction";
  return (
    <form onSubmit={onSubmit} noValidate aria-label={title} className="space-y-3 rounded-lg border border-line bg-bg/40 p-3">
      <h3 className="text-sm font-semibold">{title}</h3>
      <FormError message={general} />
      <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3">
        <SelectField label="Coin" error={errors.coin_id?.message} {...register("coin_id")}>
          {coins.map((coin) => (
            <option key={coin.coin_id} value={coin.coin_id}>
              {coin.name} ({coin.symbol})
            </option>
          ))}
        </SelectField>
        <SelectField label="Side" error={errors.side?.message} {...register("side")}>
          <option value="buy">Buy</option>
          <option value="sell">Sell</option>
        </SelectField>
        <TextField label="Date and time" type="datetime-local" error={errors.executed_at?.message} {...register("executed_at")} />
        <TextField label="Quantity" inputMode="decimal" autoComplete="off" placeholder="0.5" error={errors.quantity?.message} {...register("quantity")} />
        <TextField label="Price per coin (USD)" inputMode="decimal" autoComplete="off" placeholder="42000.10" error={errors.price?.message} {...register("price")} />
        <TextField label="Fee (USD)" inputMode="decimal" autoComplete="off" placeholder="0" hint="Optional" error={errors.fee?.message} {...register("fee")} />
      </div>
      <div className="flex gap-2">
        <Button type="submit" tone="primary" disabled={isSubmitting}>
          {isSubmitting ? "Saving…" : editing ? "Save changes" : "Add transaction"}
        </Button>
        <Button onClick={() => onDone(null)}>Cancel</Button>
      </div>
    </form>
  );
}
