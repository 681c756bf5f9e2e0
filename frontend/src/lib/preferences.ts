// Preferences as the API reads and writes them (GET/PUT /api/users/me/preferences, written
// whole) and how a saved preference takes effect in this browser (theme class, the charts'
// timeframe). No zod here: the shell loads this on every page; the forms' schemas are in
// settingsForms.ts.
import { useChartPrefs } from "./chart";
import { THEME_KEY, useTheme, type Theme } from "./theme";
import { CURRENCIES, THEMES, type Preferences } from "./insightTypes";
import { INTERVALS } from "./types";

export const DEFAULT_PREFERENCES: Preferences = {
  theme: "dark",
  currency: "USD",
  default_timeframe: "1h",
  notifications: { price_alerts: true, sentiment_alerts: false, email: false },
};

/** A server body as a complete form value: unknown or missing fields take the defaults. */
export function toPreferences(body: unknown): Preferences {
  const raw = (typeof body === "object" && body !== null ? body : {}) as Partial<Record<keyof Preferences, unknown>>;
  const pick = <T extends string>(values: readonly T[], value: unknown, fallback: T): T =>
    values.includes(value as T) ? (value as T) : fallback;
  const notifications = (typeof raw.notifications === "object" && raw.notifications !== null ? raw.notifications : {}) as Record<string, unknown>;
  const flag = (key: keyof Preferences["notifications"]) =>
    typeof notifications[key] === "boolean" ? (notifications[key] as boolean) : DEFAULT_PREFERENCES.notifications[key];
  return {
    theme: pick(THEMES, raw.theme, DEFAULT_PREFERENCES.theme),
    currency: pick(CURRENCIES, raw.currency, DEFAULT_PREFERENCES.currency),
    default_timeframe: pick(INTERVALS, raw.default_timeframe, DEFAULT_PREFERENCES.default_timeframe),
    notifications: { price_alerts: flag("price_alerts"), sentiment_alerts: flag("sentiment_alerts"), email: flag("email") },
  };
}

/** The theme a preference means on this device ("system" follows the OS setting). */
export function resolveTheme(preference: Preferences["theme"], prefersLight: boolean): Theme {
  if (preference === "system") return prefersLight ? "light" : "dark";
  return preference;
}

export function systemPrefersLight(): boolean {
  return typeof window !== "undefined" && typeof window.matchMedia === "function"
    ? window.matchMedia("(prefers-color-scheme: light)").matches
    : false;
}

/** Make a saved theme the app's: applied now and remembered for the first paint ("system"
 * forgets the local choice, so the inline theme script follows the OS from then on). */
export function applyTheme(preference: Preferences["theme"]): void {
  useTheme.getState().setTheme(resolveTheme(preference, systemPrefersLight()));
  if (preference === "system") {
    try {
      window.localStorage.removeItem(THEME_KEY);
    } catch {
      // applied for this page only
    }
  }
}

/** Saved preferences take effect: the theme, and the timeframe charts open with. */
export function applyPreferences(prefs: Preferences): void {
  applyTheme(prefs.theme);
  useChartPrefs.getState().setInterval(prefs.default_timeframe);
}

export const CURRENCY_LABELS: Record<Preferences["currency"], string> = {
  USD: "US dollar (USD)",
  EUR: "Euro (EUR)",
  GBP: "Pound sterling (GBP)",
  JPY: "Japanese yen (JPY)",
  BTC: "Bitcoin (BTC)",
  ETH: "Ether (ETH)",
};

export const THEME_LABELS: Record<Preferences["theme"], string> = {
  dark: "Dark",
  light: "Light",
  system: "Same as the device",
};

export const NOTIFICATION_LABELS: Record<keyof Preferences["notifications"], { label: string; hint: string }> = {
  price_alerts: { label: "Price alerts", hint: "When a watched coin moves sharply." },
  sentiment_alerts: { label: "Sentiment alerts", hint: "When the news mood of a watched coin turns." },
  email: { label: "Also by e-mail", hint: "Send alerts to your account's e-mail address." },
};

/** A 422's `details` as messages by body field (`["body", "new_password"]` → `new_password`). */
export function fieldErrors(
  details: readonly { loc: readonly (string | number)[]; msg: string }[] | undefined,
  fields: readonly string[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const detail of details ?? []) {
    const field = detail.loc.find((part): part is string => typeof part === "string" && fields.includes(part));
    if (field && !(field in out)) out[field] = detail.msg.replace(/^Value error, /, "");
  }
  return out;
}

/** Whether preferences were never changed from the API's defaults (a new account). */
export function isDefault(prefs: Preferences): boolean {
  return JSON.stringify(toPreferences(prefs)) === JSON.stringify(DEFAULT_PREFERENCES);
}

/**
 * At sign-in: "apply" the account's theme here, or — for an account still on the defaults —
 * "adopt" this browser's theme into the account (a user who switched to light before
 * registering is not flipped back to the default dark); "none" when they already agree.
 */
export function themeOnSignIn(saved: Preferences, local: Theme, prefersLight: boolean): "apply" | "adopt" | "none" {
  if (resolveTheme(saved.theme, prefersLight) === local) return "none";
  return isDefault(saved) ? "adopt" : "apply";
}
