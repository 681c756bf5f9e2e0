// The settings page's rules: preferences as the API reads and writes them (GET/PUT
// /api/users/me/preferences, written whole), how a saved preference takes effect in this
// browser (theme class, the charts' timeframe), and the password-change form's checks, which
// match the users API (10–72 characters, at most 72 bytes in UTF-8, no control characters).
import { z } from "zod";
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

export const preferencesSchema = z.object({
  theme: z.enum(THEMES),
  currency: z.enum(CURRENCIES),
  default_timeframe: z.enum(INTERVALS),
  notifications: z.object({
    price_alerts: z.boolean(),
    sentiment_alerts: z.boolean(),
    email: z.boolean(),
  }),
});

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

const utf8 = new TextEncoder();
const CONTROL = /[\u0000-\u001f\u007f]/;

export const newPasswordRule = z
  .string()
  .min(10, "At least 10 characters.")
  .max(72, "At most 72 characters.")
  .refine((value) => utf8.encode(value).length <= 72, "At most 72 bytes: fewer accented letters or emoji.")
  .refine((value) => !CONTROL.test(value), "No control characters (tabs, line breaks).");

export const passwordChangeSchema = z
  .object({
    current_password: z.string().min(1, "Enter your current password."),
    new_password: newPasswordRule,
    confirm_password: z.string().min(1, "Repeat the new password."),
  })
  .refine((values) => values.confirm_password === values.new_password, {
    path: ["confirm_password"],
    message: "The two new passwords differ.",
  });
export type PasswordChangeValues = z.infer<typeof passwordChangeSchema>;

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
