import { fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { useChartPrefs } from "@/lib/chart";
import { useSession } from "@/lib/session";
import { renderWithQuery } from "@/test/render";
import { SettingsView } from "./SettingsView";

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

const saved = { theme: "dark", currency: "USD", default_timeframe: "1h", notifications: { price_alerts: true, sentiment_alerts: false, email: false } };
const fetchMock = vi.fn<typeof fetch>();
beforeEach(() => {
  vi.stubGlobal("fetch", fetchMock);
  useSession.setState({ token: "access-1", user: { id: 1, username: "ada", email: "ada@example.com", role: "user" }, ready: true });
  useChartPrefs.setState({ interval: "1h" });
});
afterEach(() => {
  fetchMock.mockReset();
  vi.unstubAllGlobals();
});

function route(handlers: Record<string, (init: RequestInit | undefined) => Response>) {
  fetchMock.mockImplementation(async (input, init) => {
    const key = `${init?.method ?? "GET"} ${String(input)}`;
    const handler = handlers[key];
    if (!handler) throw new Error(`unexpected ${key}`);
    return handler(init);
  });
}

describe("SettingsView", () => {
  it("asks a signed-out visitor to sign in and come back", () => {
    useSession.setState({ token: null, user: null, ready: true });
    renderWithQuery(<SettingsView />);
    expect(screen.getByRole("link", { name: "Sign in" }).getAttribute("href")).toMatch(/^\/login\/?\?next=%2Fsettings%2F$/);
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("saves the whole preferences body and applies it", async () => {
    let body: unknown = null;
    route({
      "GET /api/users/me/preferences": () => json(200, saved),
      "PUT /api/users/me/preferences": (init) => {
        body = JSON.parse(String(init?.body));
        return json(200, body);
      },
    });
    renderWithQuery(<SettingsView />);
    const timeframe = await screen.findByLabelText("Default timeframe");
    expect((screen.getByLabelText("Dark") as HTMLInputElement).checked).toBe(true);
    fireEvent.click(screen.getByLabelText("Light"));
    fireEvent.change(timeframe, { target: { value: "5m" } });
    fireEvent.click(screen.getByLabelText("Also by e-mail"));
    fireEvent.click(screen.getByRole("button", { name: "Save preferences" }));
    await screen.findByText("Preferences saved.");
    expect(body).toEqual({ ...saved, theme: "light", default_timeframe: "5m", notifications: { ...saved.notifications, email: true } });
    expect(document.documentElement.classList.contains("dark")).toBe(false);
    expect(useChartPrefs.getState().interval).toBe("5m");
  });

  it("shows the server's refusal on the field and carries on with the new token", async () => {
    let attempts = 0;
    route({
      "GET /api/users/me/preferences": () => json(200, saved),
      "POST /api/users/me/password": () =>
        ++attempts === 1
          ? json(403, { error: { code: "wrong_password", message: "The current password is wrong", request_id: "r" } })
          : json(200, { access_token: "access-2", refresh_token: "r2", token_type: "bearer", expires_in: 3600 }),
    });
    renderWithQuery(<SettingsView />);
    const fill = (label: string, value: string) => fireEvent.input(screen.getByLabelText(label), { target: { value } });
    fill("Current password", "guess guess");
    fill("New password", "short");
    fill("Repeat the new password", "short");
    fireEvent.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByText("At least 10 characters.")).toBeTruthy();
    expect(attempts).toBe(0);

    fill("New password", "a brand new password");
    fill("Repeat the new password", "a brand new password");
    fireEvent.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByText("The current password is wrong.")).toBeTruthy();
    expect(screen.getByLabelText("Current password").getAttribute("aria-invalid")).toBe("true");

    fill("Current password", "the real one!");
    fireEvent.click(screen.getByRole("button", { name: "Change password" }));
    await screen.findByText(/Password changed/);
    await waitFor(() => expect(useSession.getState().token).toBe("access-2"));
    const sent = JSON.parse(String(fetchMock.mock.calls.at(-1)?.[1]?.body));
    expect(sent).toEqual({ current_password: "the real one!", new_password: "a brand new password" });
  });
});
