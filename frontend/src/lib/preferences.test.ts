import { beforeEach, describe, expect, it } from "vitest";
import { useChartPrefs } from "./chart";
import {
  applyPreferences,
  DEFAULT_PREFERENCES,
  fieldErrors,
  resolveTheme,
  themeOnSignIn,
  toPreferences,
} from "./preferences";
import { passwordChangeSchema } from "./settingsForms";
import { THEME_KEY, useTheme } from "./theme";

describe("toPreferences", () => {
  it("keeps what the API sends", () => {
    const body = { theme: "light", currency: "EUR", default_timeframe: "4h", notifications: { price_alerts: false, sentiment_alerts: true, email: true } };
    expect(toPreferences(body)).toEqual(body);
  });
  it("fills missing or unknown fields with the API's defaults", () => {
    expect(toPreferences({})).toEqual(DEFAULT_PREFERENCES);
    expect(toPreferences(null)).toEqual(DEFAULT_PREFERENCES);
    expect(toPreferences({ theme: "sepia", default_timeframe: "2h", notifications: { email: true, price_alerts: "yes" } })).toEqual({
      ...DEFAULT_PREFERENCES,
      notifications: { ...DEFAULT_PREFERENCES.notifications, email: true },
    });
  });
});

describe("taking effect", () => {
  beforeEach(() => {
    window.localStorage.clear();
    useTheme.setState({ theme: "dark" });
    useChartPrefs.setState({ interval: "1h" });
    document.documentElement.classList.add("dark");
  });
  it("resolves system from the device", () => {
    expect(resolveTheme("system", true)).toBe("light");
    expect(resolveTheme("system", false)).toBe("dark");
    expect(resolveTheme("light", false)).toBe("light");
  });
  it("applies the theme and the charts' timeframe", () => {
    applyPreferences({ ...DEFAULT_PREFERENCES, theme: "light", default_timeframe: "15m" });
    expect(document.documentElement.classList.contains("dark")).toBe(false);
    expect(window.localStorage.getItem(THEME_KEY)).toBe("light");
    expect(useTheme.getState().theme).toBe("light");
    expect(useChartPrefs.getState().interval).toBe("15m");
  });
  it("forgets the local theme for system, so the first paint follows the device", () => {
    window.localStorage.setItem(THEME_KEY, "light");
    applyPreferences({ ...DEFAULT_PREFERENCES, theme: "system" });
    expect(window.localStorage.getItem(THEME_KEY)).toBeNull();
    expect(useTheme.getState().theme).toBe("dark"); // jsdom's matchMedia matches nothing
  });
});

describe("passwordChangeSchema (the users API's rules)", () => {
  const check = (new_password: string, confirm_password = new_password) =>
    passwordChangeSchema.safeParse({ current_password: "old password", new_password, confirm_password });
  const messages = (result: ReturnType<typeof check>) => (result.success ? [] : result.error.issues.map((issue) => issue.message));

  it("takes 10 to 72 characters", () => {
    expect(check("a".repeat(10)).success).toBe(true);
    expect(check("a".repeat(72)).success).toBe(true);
    expect(messages(check("a".repeat(9)))).toEqual(["At least 10 characters."]);
    expect(messages(check("a".repeat(73)))).toContain("At most 72 characters.");
  });
  it("counts bytes as bcrypt does", () => {
    expect(messages(check("é".repeat(40)))).toEqual(["At most 72 bytes: fewer accented letters or emoji."]);
    expect(check("é".repeat(36)).success).toBe(true);
  });
  it("refuses control characters and a mistyped repeat", () => {
    expect(messages(check("tab\there is long"))).toEqual(["No control characters (tabs, line breaks)."]);
    expect(messages(check("long enough pw", "long enough pW"))).toEqual(["The two new passwords differ."]);
    expect(passwordChangeSchema.safeParse({ current_password: "", new_password: "long enough pw", confirm_password: "long enough pw" }).success).toBe(false);
  });
});

describe("fieldErrors", () => {
  it("maps a 422's details onto the form's fields", () => {
    expect(
      fieldErrors(
        [
          { loc: ["body", "new_password"], msg: "Value error, must be at most 72 bytes in UTF-8" },
          { loc: ["body", "new_password"], msg: "second" },
          { loc: ["body", "other"], msg: "ignored" },
        ],
        ["current_password", "new_password"],
      ),
    ).toEqual({ new_password: "must be at most 72 bytes in UTF-8" });
    expect(fieldErrors(undefined, ["x"])).toEqual({});
  });
});

describe("themeOnSignIn", () => {
  it("applies a theme the user saved, adopts this browser's for a new account", () => {
    expect(themeOnSignIn({ ...DEFAULT_PREFERENCES, theme: "light", currency: "EUR" }, "dark", false)).toBe("apply");
    expect(themeOnSignIn({ ...DEFAULT_PREFERENCES, theme: "light" }, "dark", false)).toBe("apply");
    expect(themeOnSignIn(DEFAULT_PREFERENCES, "light", false)).toBe("adopt");
    expect(themeOnSignIn(DEFAULT_PREFERENCES, "dark", true)).toBe("none");
    expect(themeOnSignIn({ ...DEFAULT_PREFERENCES, theme: "system" }, "light", true)).toBe("none");
  });
});
