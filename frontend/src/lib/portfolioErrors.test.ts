import { describe, expect, it } from "vitest";
import { ApiError } from "./api";
import { cleanMessage, csvRowErrors, serverFieldErrors } from "./portfolioErrors";

const invalid = (details: { loc: (string | number)[]; msg: string; type: string }[], message = "Invalid request") =>
  new ApiError(422, "validation_error", message, "req-1", details);

describe("serverFieldErrors", () => {
  it("puts each message next to its field", () => {
    const error = invalid([
      { loc: ["body", "quantity"], msg: "Value error, must be greater than 0", type: "value_error" },
      { loc: ["body", "quantity"], msg: "second message is dropped", type: "value_error" },
      { loc: ["body", "executed_at"], msg: "Value error, must not be in the future", type: "value_error" },
    ]);
    expect(serverFieldErrors(error, ["quantity", "price", "executed_at"] as const)).toEqual({
      fields: { quantity: "Must be greater than 0.", executed_at: "Must not be in the future." },
      general: null,
    });
  });

  it("keeps what belongs to no field of the form", () => {
    const error = invalid([
      { loc: ["path", "tx_id"], msg: "transaction 7 would no longer be covered: sell of 1 bitcoin; a holding cannot go negative", type: "negative_holding" },
    ]);
    const mapped = serverFieldErrors(error, ["quantity"] as const);
    expect(mapped.fields).toEqual({});
    expect(mapped.general).toBe("Transaction 7 would no longer be covered: sell of 1 bitcoin; a holding cannot go negative.");
  });

  it("falls back to the error's message without details", () => {
    expect(serverFieldErrors(new ApiError(404, "not_found", "Portfolio not found"), ["name"] as const)).toEqual({
      fields: {},
      general: "Portfolio not found",
    });
  });
});

describe("csvRowErrors", () => {
  it("lists bad rows by line and field, in order", () => {
    const error = invalid([
      { loc: ["body", "line 5", "quantity"], msg: "Value error, must be greater than 0", type: "value_error" },
      { loc: ["body", "line 3", "executed_at"], msg: "Input should be a valid datetime", type: "datetime_parsing" },
      { loc: ["body", "line 4"], msg: "line 4: sell of 2 bitcoin; a holding cannot go negative", type: "negative_holding" },
    ]);
    expect(csvRowErrors(error)).toEqual([
      { line: 3, field: "executed_at", message: "Input should be a valid datetime." },
      { line: 4, field: null, message: "Sell of 2 bitcoin; a holding cannot go negative." },
      { line: 5, field: "quantity", message: "Must be greater than 0." },
    ]);
  });

  it("reports a problem with the whole file first", () => {
    const error = invalid([
      { loc: ["body", "line 9", "fee"], msg: "must not be negative", type: "value_error" },
      { loc: ["body"], msg: "the file must be UTF-8 text", type: "csv_error" },
    ]);
    expect(csvRowErrors(error)[0]).toEqual({ line: null, field: null, message: "The file must be UTF-8 text." });
  });

  it("shows a failure without details as one message", () => {
    expect(csvRowErrors(new ApiError(0, "network", "Cannot reach the server."))).toEqual([
      { line: null, field: null, message: "Cannot reach the server." },
    ]);
    expect(csvRowErrors(null)).toEqual([]);
  });

  it("keeps only the sentence of pydantic's messages", () => {
    expect(cleanMessage("Assertion failed, x")).toBe("X.");
    expect(cleanMessage("")).toBe("Invalid value.");
  });
});
