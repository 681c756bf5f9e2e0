import { describe, expect, it } from "vitest";
import {
  decimalSign,
  decimalTone,
  formatDecimal,
  formatPct,
  formatQuantity,
  formatUsd,
  fromLocalInput,
  parseDecimalInput,
  pricePlaces,
  toLocalInput,
} from "./portfolioDecimal";

describe("parseDecimalInput", () => {
  it.each([
    ["0.5", "0.5"],
    ["  42000.10 ", "42000.1"],
    ["0012.500", "12.5"],
    [".5", "0.5"],
    ["5.", "5"],
    ["+3", "3"],
    ["1,234,567.89", "1234567.89"],
    ["1 234.5", "1234.5"],
    // more digits than a float holds: kept exactly
    ["0.123456789012345678", "0.123456789012345678"],
    ["99999999999999999999.999999999999999999", "99999999999999999999.999999999999999999"],
  ])("accepts %j as %j", (input, value) => {
    expect(parseDecimalInput(input)).toEqual({ ok: true, value });
  });

  it.each([
    ["", "Required."],
    ["   ", "Required."],
    ["0", "Must be greater than 0."],
    ["0.000", "Must be greater than 0."],
    ["-1", "Must be greater than 0."],
    ["1e3", "Write the number out in full, like 0.00012 (no exponent)."],
    ["12,5", "Use a point for decimals, like 1234.56."],
    ["abc", "Enter a number, like 1234.56."],
    ["1.2.3", "Enter a number, like 1234.56."],
    ["0.1234567890123456789", "At most 18 decimal places."],
    ["123456789012345678901", "At most 20 digits before the point."],
  ])("refuses %j: %s", (input, message) => {
    expect(parseDecimalInput(input)).toEqual({ ok: false, message });
  });

  it("allows zero (a fee) but not a negative one", () => {
    expect(parseDecimalInput("0", { allowZero: true })).toEqual({ ok: true, value: "0" });
    expect(parseDecimalInput("-0.1", { allowZero: true })).toEqual({ ok: false, message: "Must not be negative." });
  });

  it("counts trailing zeros as no places", () => {
    expect(parseDecimalInput("1.500000000000000000000")).toEqual({ ok: true, value: "1.5" });
  });
});

describe("formatting decimal strings", () => {
  it("rounds half away from zero without floats", () => {
    expect(formatDecimal("26.525", 2)).toBe("26.53");
    expect(formatDecimal("-26.525", 2)).toBe("−26.53");
    expect(formatDecimal("1.005", 2)).toBe("1.01"); // 1.005 as a float rounds to 1.00
    expect(formatDecimal("0.004", 2)).toBe("0.00");
    expect(formatDecimal("-0.004", 2)).toBe("0.00");
    expect(formatDecimal("99999999999999999999.995", 2)).toBe("100,000,000,000,000,000,000.00");
  });

  it("groups thousands and trims to minPlaces", () => {
    expect(formatDecimal("1234567.5", 2)).toBe("1,234,567.50");
    expect(formatDecimal("1200", 8, 0)).toBe("1,200");
    expect(formatDecimal("0.123456789", 8, 0)).toBe("0.12345679");
    expect(formatDecimal("bad", 2)).toBe("—");
    expect(formatDecimal(null)).toBe("—");
  });

  it("formats money, quantities and percentages", () => {
    expect(formatUsd("42000.1")).toBe("$42,000.10");
    expect(formatUsd("0.5")).toBe("$0.50");
    expect(formatUsd("0.00001234")).toBe("$0.00001234");
    expect(formatUsd("-12.3", { places: 2 })).toBe("−$12.30");
    expect(formatUsd("12.3", { signed: true, places: 2 })).toBe("+$12.30");
    expect(formatUsd("0", { signed: true, places: 2 })).toBe("$0.00");
    expect(formatUsd(undefined)).toBe("—");
    expect(formatQuantity("0.50000000")).toBe("0.5");
    expect(formatPct("12.3456")).toBe("+12.35%");
    expect(formatPct("-3.1")).toBe("−3.10%");
    expect(formatPct(null)).toBe("—");
  });

  it("shows enough places for sub-dollar prices", () => {
    expect(pricePlaces("42000")).toBe(2);
    expect(pricePlaces("0.5")).toBe(4);
    expect(pricePlaces("0.000012")).toBe(8);
  });

  it("reads the sign as text", () => {
    expect(decimalSign("-0.000000000000000001")).toBe(-1);
    expect(decimalSign("0.000")).toBe(0);
    expect(decimalTone("3")).toBe("up");
    expect(decimalTone(null)).toBe("flat");
  });
});

describe("datetime-local", () => {
  it("round-trips a local time through UTC", () => {
    const local = toLocalInput(new Date(2024, 0, 5, 10, 30));
    expect(local).toBe("2024-01-05T10:30");
    expect(fromLocalInput(local)).toBe(new Date(2024, 0, 5, 10, 30).toISOString());
  });

  it("refuses what is not a date", () => {
    expect(fromLocalInput("")).toBeNull();
    expect(fromLocalInput("yesterday")).toBeNull();
    expect(fromLocalInput("2024-13-45T99:99")).toBeNull();
  });
});
