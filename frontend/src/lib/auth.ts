// Sign-in, registration and sign-out against /api/users/* (ARCHITECTURE §5b).
import { api, refreshSession } from "./api";
import { hadSession, useSession } from "./session";
import type { TokenPair, User } from "./types";

export async function loadMe(): Promise<User | null> {
  try {
    const user = await api<User>("/api/users/me");
    useSession.getState().setUser(user);
    return user;
  } catch {
    useSession.getState().clear();
    return null;
  }
}

export async function login(username: string, password: string): Promise<User | null> {
  const pair = await api<TokenPair>("/api/users/login", {
    method: "POST",
    body: { username, password },
  });
  useSession.getState().setToken(pair.access_token);
  return loadMe();
}

export async function register(username: string, email: string, password: string): Promise<void> {
  await api<unknown>("/api/users/register", {
    method: "POST",
    body: { username, email, password },
  });
}

export async function logout(): Promise<void> {
  try {
    await api<unknown>("/api/users/logout", { method: "POST", refresh: false });
  } catch {
    // signed out locally whatever the server says
  } finally {
    useSession.getState().clear();
  }
}

/** On page load: restore the session from the refresh cookie when this browser had one. */
export async function restoreSession(): Promise<void> {
  const state = useSession.getState();
  if (state.ready) return;
  try {
    if (state.token === null && hadSession() && (await refreshSession())) await loadMe();
  } finally {
    useSession.getState().setReady(true);
  }
}

/** Where to go after signing in: only same-origin paths, never `//host`. */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  return next;
}
