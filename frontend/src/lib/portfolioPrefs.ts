// The portfolio page's remembered choices: which portfolio is open and the history range.
import { create } from "zustand";
import { persist } from "zustand/middleware";
import type { HistoryRange } from "./portfolioTypes";

interface PortfolioPrefs {
  selected: number | null;
  range: HistoryRange;
  select: (id: number | null) => void;
  setRange: (range: HistoryRange) => void;
}

export const usePortfolioPrefs = create<PortfolioPrefs>()(
  persist(
    (set) => ({
      selected: null,
      range: "30d",
      select: (selected) => set({ selected }),
      setRange: (range) => set({ range }),
    }),
    { name: "cryptodash.portfolio" },
  ),
);

/** The portfolio to show: the remembered one while it exists, else the first. */
export function pickPortfolio(ids: readonly number[], remembered: number | null): number | null {
  if (remembered !== null && ids.includes(remembered)) return remembered;
  return ids[0] ?? null;
}
