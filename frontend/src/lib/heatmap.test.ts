import { describe, expect, it } from "vitest";
import { contrast, correlationColour, correlationStrength, formatCorrelation } from "./heatmap";

const rgb = (hex: string): [number, number, number] => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];

describe("correlationColour", () => {
  it("runs from red through the neutral panel colour to blue", () => {
    for (const theme of ["dark", "light"] as const) {
      const [r1, , b1] = rgb(correlationColour(1, theme).background);
      const [rm, , bm] = rgb(correlationColour(-1, theme).background);
      expect(b1).toBeGreaterThan(r1); // +1 blue
      expect(rm).toBeGreaterThan(bm); // −1 red
    }
    expect(correlationColour(0, "dark").background).toBe("#1a2233");
    expect(correlationColour(0, "light").background).toBe("#f6f7fa");
  });

  it("is monotonic in |r| and clamps outside [−1, 1]", () => {
    const blue = [0, 0.25, 0.5, 0.75, 1].map((v) => rgb(correlationColour(v, "light").background)[0]);
    expect([...blue].sort((a, b) => b - a)).toEqual(blue); // red channel falls toward blue
    expect(correlationColour(1.7, "dark")).toEqual(correlationColour(1, "dark"));
    expect(correlationColour(-3, "light")).toEqual(correlationColour(-1, "light"));
  });

  it("picks the text colour with the better contrast, at least 4.5:1 on every cell", () => {
    for (const theme of ["dark", "light"] as const) {
      for (let v = -1; v <= 1.0001; v += 0.05) {
        const { background, color } = correlationColour(v, theme);
        expect(contrast(rgb(background), rgb(color))).toBeGreaterThanOrEqual(4.5);
      }
    }
  });

  it("greys out missing values", () => {
    expect(correlationColour(null, "dark")).toEqual({ background: "#1a2233", color: "#97a1b5" });
    expect(correlationColour(Number.NaN, "light").background).toBe("#eef1f5");
  });
});

describe("words and numbers", () => {
  it("names the strength", () => {
    expect(correlationStrength(0.85)).toBe("strong positive");
    expect(correlationStrength(-0.5)).toBe("moderate negative");
    expect(correlationStrength(0.25)).toBe("weak positive");
    expect(correlationStrength(0.05)).toBe("little or none");
    expect(correlationStrength(null)).toBe("no data");
  });
  it("formats with a real minus sign", () => {
    expect(formatCorrelation(-0.123)).toBe("−0.12");
    expect(formatCorrelation(1)).toBe("1.00");
    expect(formatCorrelation(null)).toBe("—");
  });
});
