import { describe, expect, it } from "vitest";
import { changeTone, formatAgo, formatCompact, formatPercent, formatPrice } from "./format";

describe("formatPrice", () => {
  it("formats large, mid and micro prices", () => {
    expect(formatPrice(65432.1)).toBe("$65,432.10");
    expect(formatPrice(3.14159)).toBe("$3.1416");
    expect(formatPrice(0.52)).toBe("$0.52");
    expect(formatPrice(0.0000012)).toBe("$0.0000012");
  });
  it("shows a dash for missing values", () => {
    expect(formatPrice(null)).toBe("—");
    expect(formatPrice(Number.NaN)).toBe("—");
  });
});

describe("formatPercent", () => {
  it("signs the change", () => {
    expect(formatPercent(1.234)).toBe("+1.23%");
    expect(formatPercent(-0.5)).toBe("−0.50%");
    expect(formatPercent(0)).toBe("0.00%");
    expect(formatPercent(undefined)).toBe("—");
  });
});

describe("formatCompact and formatAgo", () => {
  it("compacts", () => {
    expect(formatCompact(1_234_567_890)).toBe("$1.23B");
    expect(formatCompact(1500, "")).toBe("1.5K");
  });
  it("says how long ago", () => {
    const now = Date.parse("2025-01-01T00:10:00Z");
    expect(formatAgo("2025-01-01T00:09:55Z", now)).toBe("5 s ago");
    expect(formatAgo("2025-01-01T00:00:00Z", now)).toBe("10 min ago");
    expect(formatAgo("nonsense", now)).toBe("—");
  });
  it("tones", () => {
    expect(changeTone(2)).toBe("up");
    expect(changeTone(-2)).toBe("down");
    expect(changeTone(null)).toBe("flat");
  });
});
