"use client";

// The user's portfolios: pick one, create, rename, delete (with an inline confirmation).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { FormError } from "@/components/AuthCard";
import { serverFieldErrors } from "@/lib/portfolioErrors";
import { createPortfolio, deletePortfolio, portfolioKeys, refetchAfterWrite, renamePortfolio } from "@/lib/portfolioQueries";
import type { Portfolio } from "@/lib/portfolioTypes";
import { Button, SelectField, TextField } from "./ui";

type Mode = "idle" | "create" | "rename" | "delete";

function nameError(name: string): string | null {
  const trimmed = name.trim();
  if (!trimmed) return "Enter a name.";
  if (trimmed.length > 100) return "At most 100 characters.";
  return null;
}

/** Create (or rename): one labelled name field, server errors next to it. */
export function NameForm({
  label,
  submitLabel,
  initial = "",
  onSubmit,
  onCancel,
}: {
  label: string;
  submitLabel: string;
  initial?: string;
  onSubmit: (name: string) => Promise<unknown>;
  onCancel?: () => void;
}) {
  const [name, setName] = useState(initial);
  const [error, setError] = useState<string | null>(null);
  const [general, setGeneral] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const problem = nameError(name);
    setError(problem);
    setGeneral(null);
    if (problem) return;
    setPending(true);
    try {
      await onSubmit(name.trim());
    } catch (failure) {
      const mapped = serverFieldErrors(failure, ["name"] as const);
      setError(mapped.fields.name ?? null);
      setGeneral(mapped.general);
    } finally {
      setPending(false);
    }
  };
  return (
    <form onSubmit={submit} noValidate className="flex flex-wrap items-end gap-2">
      <TextField label={label} value={name} onChange={(event) => setName(event.target.value)} error={error ?? undefined} maxLength={100} autoFocus className="min-w-48 flex-1" />
      <div className="flex gap-2 pb-0.5">
        <Button type="submit" tone="primary" disabled={pending}>
          {pending ? "Saving…" : submitLabel}
        </Button>
        {onCancel && <Button onClick={onCancel}>Cancel</Button>}
      </div>
      {general && (
        <div className="w-full">
          <FormError message={general} />
        </div>
      )}
    </form>
  );
}

export function PortfolioBar({ portfolios, selected, onSelect }: { portfolios: Portfolio[]; selected: Portfolio; onSelect: (id: number | null) => void }) {
  const client = useQueryClient();
  const [mode, setMode] = useState<Mode>("idle");
  const remove = useMutation({
    mutationFn: () => deletePortfolio(selected.id),
    onSuccess: async () => {
      setMode("idle");
      onSelect(portfolios.find((p) => p.id !== selected.id)?.id ?? null);
      // Gone from the list at once, so nothing asks for the deleted portfolio's figures (404s);
      // its cached reads expire unobserved.
      client.setQueryData<Portfolio[]>(portfolioKeys.list, (old) => old?.filter((p) => p.id !== selected.id));
      await client.cancelQueries({ queryKey: portfolioKeys.one(selected.id) });
      await refetchAfterWrite(client, portfolioKeys.list);
    },
  });

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-end gap-2">
        <SelectField label="Portfolio" value={selected.id} onChange={(event) => onSelect(Number(event.target.value))} className="min-w-48">
          {portfolios.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </SelectField>
        <div className="flex flex-wrap gap-2 pb-0.5">
          <Button onClick={() => setMode(mode === "create" ? "idle" : "create")} aria-expanded={mode === "create"}>
            New portfolio
          </Button>
          <Button onClick={() => setMode(mode === "rename" ? "idle" : "rename")} aria-expanded={mode === "rename"}>
            Rename
          </Button>
          <Button tone="danger" onClick={() => setMode(mode === "delete" ? "idle" : "delete")} aria-expanded={mode === "delete"}>
            Delete
          </Button>
        </div>
      </div>
      {mode === "create" && (
        <NameForm
          label="New portfolio name"
          submitLabel="Create"
          onCancel={() => setMode("idle")}
          onSubmit={async (name) => {
            const created = await createPortfolio(name);
            await refetchAfterWrite(client, portfolioKeys.list);
            onSelect(created.id);
            setMode("idle");
          }}
        />
      )}
      {mode === "rename" && (
        <NameForm
          key={selected.id}
          label="Portfolio name"
          submitLabel="Save name"
          initial={selected.name}
          onCancel={() => setMode("idle")}
          onSubmit={async (name) => {
            await renamePortfolio(selected.id, name);
            await refetchAfterWrite(client, portfolioKeys.list);
            setMode("idle");
          }}
        />
      )}
      {mode === "delete" && (
        <div role="group" aria-label="Confirm delete" className="rounded-lg border border-down/40 bg-down/10 p-3 text-sm">
          <p className="mb-2">
            Delete <strong>{selected.name}</strong> with all its transactions? This cannot be undone.
          </p>
          <FormError message={remove.isError ? remove.error.message : null} />
          <div className="mt-2 flex gap-2">
            <Button tone="danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
              {remove.isPending ? "Deleting…" : `Delete ${selected.name}`}
            </Button>
            <Button onClick={() => setMode("idle")}>Cancel</Button>
          </div>
        </div>
      )}
    </div>
  );
}
