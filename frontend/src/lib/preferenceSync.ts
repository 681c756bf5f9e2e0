// A signed-in user's saved preferences follow them: on sign-in (and on a page load that
// restores the session) the saved theme is applied (a new account still on the defaults takes
// this browser's theme instead), on an interactive sign-in the default
// timeframe too (a reload keeps the timeframe last picked on a chart); the header's theme
// switch writes the choice back, so the switch and the settings page never disagree.
"use client";

import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { api } from "./api";
import { useChartPrefs } from "./chart";
import type { Preferences } from "./insightTypes";
import { preferencesKey, usePreferences } from "./insightQueries";
import { applyTheme, resolveTheme, systemPrefersLight, themeOnSignIn } from "./preferences";
import { useSession } from "./session";
import { useTheme } from "./theme";

export async function savePreferences(prefs: Preferences): Promise<Preferences> {
  return api<Preferences>("/api/users/me/preferences", { method: "PUT", body: prefs });
}

export function usePreferenceSync(): void {
  const queryClient = useQueryClient();
  const userId = useSession((state) => state.user?.id ?? null);
  const prefs = usePreferences(userId);
  const applied = useRef<string | number | null>(null);
  const interactive = useRef(false);

  // Whether this user arrived by signing in on this page (the session was already settled).
  useEffect(() => {
    if (userId === null) {
      applied.current = null;
      return;
    }
    interactive.current = useSession.getState().ready;
  }, [userId]);

  useEffect(() => {
    if (userId === null || !prefs.data || applied.current === userId) return;
    applied.current = userId;
    const local = useTheme.getState().theme;
    const choice = themeOnSignIn(prefs.data, local, systemPrefersLight());
    if (choice === "apply") applyTheme(prefs.data.theme);
    if (choice === "adopt") {
      const next = { ...prefs.data, theme: local };
      queryClient.setQueryData(preferencesKey(userId), next);
      savePreferences(next).catch(() => void queryClient.invalidateQueries({ queryKey: preferencesKey(userId) }));
    }
    if (interactive.current) useChartPrefs.getState().setInterval(prefs.data.default_timeframe);
  }, [userId, prefs.data, queryClient]);

  useEffect(
    () =>
      useTheme.subscribe((state, previous) => {
        if (state.theme === previous.theme) return;
        const user = useSession.getState().user;
        if (user === null) return;
        const key = preferencesKey(user.id);
        const saved = queryClient.getQueryData<Preferences>(key);
        if (!saved) return;
        if (resolveTheme(saved.theme, systemPrefersLight()) === state.theme) return;
        const next = { ...saved, theme: state.theme };
        queryClient.setQueryData(key, next);
        savePreferences(next).catch(() => {
          // applied here all the same; the settings page shows what the server holds
          void queryClient.invalidateQueries({ queryKey: key });
        });
      }),
    [queryClient],
  );
}
