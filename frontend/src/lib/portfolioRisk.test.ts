import { describe, expect, it } from "vitest";
import { formatRatio, formatShare } from "./portfolioRisk";

describe("risk figures", () => {
  it("shows fractions as percentages and ratios with two places", () => {
    expect(formatShare(0.43125)).toBe("43.1%");
    expect(formatShare(-0.5)).toBe("−50.0%");
    expect(formatShare(null)).toBe("—");
    expect(formatRatio(1.0342)).toBe("1.03");
    expect(formatRatio(-0.25)).toBe("−0.25");
    expect(formatRatio(Number.NaN)).toBe("—");
  });
});
