"use client";

// The transactions table, newest first, with add/edit/delete and paging.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { EmptyState, ErrorState, Loading } from "@/components/states";
import { errorMessage } from "@/lib/api";
import { decimalTone, formatQuantity, formatUsd } from "@/lib/portfolioDecimal";
import { serverFieldErrors } from "@/lib/portfolioErrors";
import { deleteTransaction, invalidatePortfolio, TRANSACTIONS_PAGE, useTransactions } from "@/lib/portfolioQueries";
import type { Transaction } from "@/lib/portfolioTypes";
import { TransactionForm, type CoinOption } from "./TransactionForm";
import { Button, Tone } from "./ui";

const when = (iso: string) =>
  new Date(iso).toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

type Editing = { kind: "none" } | { kind: "add"; coin_id?: string; price?: string } | { kind: "edit"; tx: Transaction };

interface Props {
  portfolioId: number;
  coins: CoinOption[];
  names: (coinId: string) => string;
  /** open the add form for this coin (the dashboard's "+ Portfolio") */
  addRequest?: { coin_id: string; price?: string } | null;
  onAddHandled?: () => void;
}

export function Transactions({ portfolioId, coins, names, addRequest, onAddHandled }: Props) {
  const client = useQueryClient();
  const [offset, setOffset] = useState(0);
  const [editing, setEditing] = useState<Editing>(addRequest ? { kind: "add", ...addRequest } : { kind: "none" });
  const [confirming, setConfirming] = useState<number | null>(null);
  const page = useTransactions(portfolioId, offset);
  const remove = useMutation({
    mutationFn: (txId: number) => deleteTransaction(portfolioId, txId),
    onSuccess: async () => {
      setConfirming(null);
      await invalidatePortfolio(client, portfolioId);
    },
  });

  const close = () => {
    setEditing({ kind: "none" });
    onAddHandled?.();
  };

  const items = page.data?.items ?? [];
  const total = page.data?.total ?? 0;
  return (
    <div className="space-y-3">
      {editing.kind === "none" ? (
        <Button tone="primary" onClick={() => setEditing({ kind: "add" })} disabled={coins.length === 0}>
          + Add transaction
        </Button>
      ) : (
        <TransactionForm
          key={editing.kind === "edit" ? `edit-${editing.tx.id}` : `add-${editing.coin_id ?? ""}`}
          portfolioId={portfolioId}
          coins={coins}
          editing={editing.kind === "edit" ? editing.tx : undefined}
          initial={editing.kind === "add" && editing.coin_id ? { coin_id: editing.coin_id, price: editing.price } : undefined}
          onDone={close}
        />
      )}
      {page.isPending ? (
        <Loading label="Loading transactions" />
      ) : page.isError ? (
        <ErrorState message={`Transactions are unavailable: ${errorMessage(page.error)}`} onRetry={() => void page.refetch()} />
      ) : items.length === 0 ? (
        <EmptyState>No transactions yet. Add your first buy, or import a CSV file.</EmptyState>
      ) : (
        <div className="-mx-4 overflow-x-auto px-4">
          <table className="w-full min-w-[640px] text-sm" aria-label="Transactions">
            <thead>
              <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
                <th scope="col" className="py-2 pr-3 font-medium">Date</th>
                <th scope="col" className="py-2 pr-3 font-medium">Coin</th>
                <th scope="col" className="py-2 pr-3 font-medium">Side</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Quantity</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Price</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Fee</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Realized</th>
                <th scope="col" className="py-2 text-right font-medium"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {items.map((tx) => (
                <tr key={tx.id} className="border-b border-line/60 align-top" data-testid={`tx-${tx.id}`}>
                  <td className="py-2 pr-3 whitespace-nowrap">{when(tx.executed_at)}</td>
                  <td className="py-2 pr-3">{names(tx.coin_id)}</td>
                  <td className={`py-2 pr-3 capitalize ${tx.side === "buy" ? "text-up" : "text-down"}`}>{tx.side}</td>
                  <td className="py-2 pr-3 text-right tabular-nums">{formatQuantity(tx.quantity)}</td>
                  <td className="py-2 pr-3 text-right tabular-nums">{formatUsd(tx.price)}</td>
                  <td className="py-2 pr-3 text-right tabular-nums">{formatUsd(tx.fee, { places: 2 })}</td>
                  <td className="py-2 pr-3 text-right tabular-nums">
                    {tx.realized_gain === null ? "—" : <Tone tone={decimalTone(tx.realized_gain)}>{formatUsd(tx.realized_gain, { signed: true, places: 2 })}</Tone>}
                  </td>
                  <td className="py-2 text-right">
                    {confirming === tx.id ? (
                      <span className="inline-flex flex-col items-end gap-1">
                        <span className="inline-flex gap-1.5">
                          <Button tone="danger" className="px-2 py-0.5 text-xs" onClick={() => remove.mutate(tx.id)} disabled={remove.isPending}>
                            Confirm delete
                          </Button>
                          <Button className="px-2 py-0.5 text-xs" onClick={() => { setConfirming(null); remove.reset(); }}>
                            Keep
                          </Button>
                        </span>
                        {remove.isError && (
                          <span role="alert" className="max-w-64 text-xs text-down">
                            {serverFieldErrors(remove.error, [] as const).general}
                          </span>
                        )}
                      </span>
                    ) : (
                      <span className="inline-flex gap-1.5">
                        <Button className="px-2 py-0.5 text-xs" aria-label={`Edit ${tx.side} of ${names(tx.coin_id)} on ${when(tx.executed_at)}`} onClick={() => setEditing({ kind: "edit", tx })}>
                          Edit
                        </Button>
                        <Button className="px-2 py-0.5 text-xs" tone="danger" aria-label={`Delete ${tx.side} of ${names(tx.coin_id)} on ${when(tx.executed_at)}`} onClick={() => { remove.reset(); setConfirming(tx.id); }}>
                          Delete
                        </Button>
                      </span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {total > TRANSACTIONS_PAGE && (
        <nav aria-label="Transaction pages" className="flex items-center gap-2 text-sm">
          <Button onClick={() => setOffset(Math.max(0, offset - TRANSACTIONS_PAGE))} disabled={offset === 0}>
            Newer
          </Button>
          <span className="text-muted">
            {offset + 1}–{Math.min(total, offset + TRANSACTIONS_PAGE)} of {total}
          </span>
          <Button onClick={() => setOffset(offset + TRANSACTIONS_PAGE)} disabled={offset + TRANSACTIONS_PAGE >= total}>
            Older
          </Button>
        </nav>
      )}
    </div>
  );
}
