// Who is signed in. The access token lives in memory only; the refresh token is an httpOnly
// cookie the browser sends to /api/users/refresh. A localStorage flag (no secret in it) tells
// a fresh page load whether a refresh is worth trying, so anonymous visitors cause no 401s.
import { create } from "zustand";
import type { User } from "./types";

const FLAG = "cryptodash.session";

interface SessionState {
  token: string | null;
  user: User | null;
  /** false until the first silent refresh (if any) has settled */
  ready: boolean;
  setToken: (token: string | null) => void;
  setUser: (user: User | null) => void;
  setReady: (ready: boolean) => void;
  clear: () => void;
}

export const useSession = create<SessionState>()((set) => ({
  token: null,
  user: null,
  ready: false,
  setToken: (token) => {
    set({ token });
    rememberSession(token !== null);
  },
  setUser: (user) => set({ user }),
  setReady: (ready) => set({ ready }),
  clear: () => {
    set({ token: null, user: null });
    rememberSession(false);
  },
}));

export function hadSession(): boolean {
  try {
    return window.localStorage.getItem(FLAG) === "1";
  } catch {
    return false;
  }
}

function rememberSession(on: boolean): void {
  try {
    if (on) window.localStorage.setItem(FLAG, "1");
    else window.localStorage.removeItem(FLAG);
  } catch {
    // storage unavailable (private mode): the session then lasts as long as the tab
  }
}
