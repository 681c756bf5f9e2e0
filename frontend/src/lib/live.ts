// The state of the live price stream, shared by the shell (status pill) and the coins query
// (which polls while the socket is not open).
import { create } from "zustand";

export type StreamStatus = "connecting" | "live" | "polling";

interface LiveState {
  status: StreamStatus;
  setStatus: (status: StreamStatus) => void;
}

export const useLive = create<LiveState>()((set) => ({
  status: "connecting",
  setStatus: (status) => set({ status }),
}));

/** While the socket is open the REST list refreshes slowly (volume, high, low); else every 2 s. */
export function coinsRefetchInterval(status: StreamStatus): number {
  return status === "live" ? 30_000 : 2_000;
}
