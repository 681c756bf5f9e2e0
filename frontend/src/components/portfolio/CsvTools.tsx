"use client";

// CSV import (all rows or none; every bad row listed by its line) and export (a download).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useId, useRef, useState, type FormEvent } from "react";
import { errorMessage } from "@/lib/api";
import { csvRowErrors } from "@/lib/portfolioErrors";
import { exportTransactions, importTransactions, invalidatePortfolio } from "@/lib/portfolioQueries";
import { Button } from "./ui";

export function CsvTools({ portfolioId }: { portfolioId: number }) {
  const client = useQueryClient();
  const fileId = useId();
  const fileRef = useRef<HTMLInputElement>(null);
  const [chosen, setChosen] = useState<string | null>(null);
  const [missing, setMissing] = useState(false);
  const upload = useMutation({
    mutationFn: async (file: File) => importTransactions(portfolioId, await file.text()),
    onSuccess: async () => {
      if (fileRef.current) fileRef.current.value = "";
      setChosen(null);
      await invalidatePortfolio(client, portfolioId);
    },
  });
  const download = useMutation({ mutationFn: () => exportTransactions(portfolioId) });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const file = fileRef.current?.files?.[0];
    setMissing(!file);
    if (file) upload.mutate(file);
  };

  const rows = upload.isError ? csvRowErrors(upload.error) : [];
  return (
    <div className="space-y-3 text-sm">
      <form onSubmit={submit} noValidate aria-label="Import transactions" className="space-y-2">
        <label htmlFor={fileId} className="block font-medium">
          CSV file to import
        </label>
        <input
          id={fileId}
          ref={fileRef}
          type="file"
          accept=".csv,text/csv"
          aria-describedby={`${fileId}-hint`}
          onChange={(event) => {
            setChosen(event.target.files?.[0]?.name ?? null);
            setMissing(false);
            upload.reset();
          }}
          className="block w-full text-sm file:mr-3 file:rounded-md file:border file:border-line file:bg-panel-2 file:px-3 file:py-1.5 file:text-fg focus-visible:outline-2 focus-visible:outline-accent"
        />
        <p id={`${fileId}-hint`} className="text-xs text-muted">
          Header <code>executed_at,coin_id,side,quantity,price,fee</code>; one trade per line; all rows are imported or none.
        </p>
        {missing && <p className="text-xs text-down">Choose a file first.</p>}
        <div className="flex flex-wrap gap-2">
          <Button type="submit" tone="primary" disabled={upload.isPending}>
            {upload.isPending ? "Importing…" : "Import CSV"}
          </Button>
          <Button onClick={() => download.mutate()} disabled={download.isPending}>
            {download.isPending ? "Exporting…" : "Export CSV"}
          </Button>
        </div>
      </form>
      {upload.isSuccess && (
        <p role="status" className="text-up" data-testid="import-result">
          Imported {upload.data.imported} transaction{upload.data.imported === 1 ? "" : "s"}
          {chosen ? ` from ${chosen}` : ""}.
        </p>
      )}
      {rows.length > 0 && (
        <div role="alert" className="rounded-lg border border-down/40 bg-down/10 p-3" data-testid="import-errors">
          <p className="mb-2 font-medium text-down">Nothing was imported: fix these rows and try again.</p>
          <ul className="space-y-1">
            {rows.map((row, index) => (
              <li key={index} data-testid={row.line === null ? "import-error" : `import-error-line-${row.line}`}>
                <strong>{row.line === null ? "File" : `Line ${row.line}`}</strong>
                {row.field && <span className="text-muted"> · {row.field}</span>}: {row.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      {download.isError && (
        <p role="alert" className="text-down">
          Export failed: {errorMessage(download.error)}
        </p>
      )}
    </div>
  );
}
