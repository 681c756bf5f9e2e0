import { fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { useSession } from "@/lib/session";
import { renderWithQuery } from "@/test/render";
import { CsvTools } from "./CsvTools";
import { TransactionForm } from "./TransactionForm";

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

const fetchMock = vi.fn<typeof fetch>();
beforeEach(() => {
  vi.stubGlobal("fetch", fetchMock);
  useSession.setState({ token: "t", user: { id: 1, username: "alice", email: "a@example.com", role: "user" }, ready: true });
});
afterEach(() => {
  fetchMock.mockReset();
  vi.unstubAllGlobals();
});

const coins = [
  { coin_id: "bitcoin", name: "Bitcoin", symbol: "btc" },
  { coin_id: "ethereum", name: "Ethereum", symbol: "eth" },
];

function fill(label: string, value: string) {
  fireEvent.input(screen.getByLabelText(label), { target: { value } });
}

describe("TransactionForm", () => {
  it("sends decimal strings exactly as typed (normalized, never through a float)", async () => {
    const onDone = vi.fn();
    fetchMock.mockResolvedValueOnce(json(201, { id: 1 }));
    renderWithQuery(<TransactionForm portfolioId={4} coins={coins} initial={{ coin_id: "ethereum" }} onDone={onDone} />);
    expect((screen.getByLabelText("Coin") as HTMLSelectElement).value).toBe("ethereum");
    fill("Quantity", "0.123456789012345678");
    fill("Price per coin (USD)", "1,999.990");
    fireEvent.click(screen.getByRole("button", { name: "Add transaction" }));
    await waitFor(() => expect(onDone).toHaveBeenCalled());
    const [url, init] = fetchMock.mock.calls[0] ?? [];
    expect(url).toBe("/api/portfolio/4/transactions");
    const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
    expect(body).toMatchObject({ coin_id: "ethereum", side: "buy", quantity: "0.123456789012345678", price: "1999.99", fee: "0" });
    expect(typeof body.executed_at).toBe("string");
  });

  it("shows the server's refusal next to the field it names", async () => {
    fetchMock.mockResolvedValueOnce(
      json(422, {
        error: {
          code: "validation_error",
          message: "Invalid request",
          details: [{ loc: ["body", "quantity"], msg: "Value error, sell of 1 bitcoin at 2024-01-05: only 0 held; a holding cannot go negative", type: "negative_holding" }],
        },
      }),
    );
    renderWithQuery(<TransactionForm portfolioId={4} coins={coins} onDone={vi.fn()} />);
    fireEvent.change(screen.getByLabelText("Side"), { target: { value: "sell" } });
    fill("Quantity", "1");
    fill("Price per coin (USD)", "100");
    fireEvent.click(screen.getByRole("button", { name: "Add transaction" }));
    const quantity = screen.getByLabelText("Quantity");
    await waitFor(() => expect(quantity.getAttribute("aria-invalid")).toBe("true"));
    const message = document.getElementById(quantity.getAttribute("aria-describedby") ?? "");
    expect(message?.textContent).toMatch(/^Sell of 1 bitcoin .* cannot go negative\.$/);
  });

  it("checks inputs before asking the server", async () => {
    renderWithQuery(<TransactionForm portfolioId={4} coins={coins} onDone={vi.fn()} />);
    fill("Quantity", "-1");
    fill("Price per coin (USD)", "12,5");
    fireEvent.click(screen.getByRole("button", { name: "Add transaction" }));
    expect(await screen.findByText("Must be greater than 0.")).toBeTruthy();
    expect(screen.getByText("Use a point for decimals, like 1234.56.")).toBeTruthy();
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("sends only the changed fields of an edit", async () => {
    const tx = {
      id: 9, portfolio_id: 4, coin_id: "bitcoin", side: "buy" as const, quantity: "0.5", price: "100.1", fee: "1.5",
      executed_at: "2024-01-05T10:00:42Z", created_at: "2024-01-05T10:00:42Z", realized_gain: null,
    };
    fetchMock.mockResolvedValueOnce(json(200, { ...tx, quantity: "0.25" }));
    const onDone = vi.fn();
    renderWithQuery(<TransactionForm portfolioId={4} coins={coins} editing={tx} onDone={onDone} />);
    fill("Quantity", "0.25");
    fireEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(onDone).toHaveBeenCalled());
    const [url, init] = fetchMock.mock.calls[0] ?? [];
    expect(url).toBe("/api/portfolio/4/transactions/9");
    expect(init?.method).toBe("PATCH");
    expect(JSON.parse(String(init?.body))).toEqual({ quantity: "0.25" });
  });
});

describe("CsvTools", () => {
  it("lists every bad row by its line and sends the file as text/csv", async () => {
    fetchMock.mockResolvedValueOnce(
      json(422, {
        error: {
          code: "validation_error",
          message: "2 rows are invalid",
          details: [
            { loc: ["body", "line 3", "quantity"], msg: "Value error, must be greater than 0", type: "value_error" },
            { loc: ["body", "line 2", "coin_id"], msg: "unknown coin dogecoin", type: "value_error" },
          ],
        },
      }),
    );
    renderWithQuery(<CsvTools portfolioId={4} />);
    const csv = "executed_at,coin_id,side,quantity,price\n2024-01-05T10:00:00Z,dogecoin,buy,1,1\n2024-01-05T10:00:00Z,bitcoin,buy,-1,1\n";
    fireEvent.change(screen.getByLabelText("CSV file to import"), { target: { files: [new File([csv], "t.csv", { type: "text/csv" })] } });
    fireEvent.click(screen.getByRole("button", { name: "Import CSV" }));
    const alert = await screen.findByTestId("import-errors");
    expect(alert.textContent).toContain("Nothing was imported");
    expect(screen.getByTestId("import-error-line-2").textContent).toBe("Line 2 · coin_id: Unknown coin dogecoin.");
    expect(screen.getByTestId("import-error-line-3").textContent).toBe("Line 3 · quantity: Must be greater than 0.");
    const [url, init] = fetchMock.mock.calls[0] ?? [];
    expect(url).toBe("/api/portfolio/4/transactions/import");
    expect(init?.body).toBe(csv);
    expect((init?.headers as Record<string, string>)["Content-Type"]).toBe("text/csv");
  });

  it("asks for a file first", async () => {
    renderWithQuery(<CsvTools portfolioId={4} />);
    fireEvent.click(screen.getByRole("button", { name: "Import CSV" }));
    expect(await screen.findByText("Choose a file first.")).toBeTruthy();
    expect(fetchMock).not.toHaveBeenCalled();
  });
});
