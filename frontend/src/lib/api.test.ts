import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api, ApiError } from "./api";
import { useSession } from "./session";

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

const fetchMock = vi.fn<typeof fetch>();

beforeEach(() => {
  vi.stubGlobal("fetch", fetchMock);
  useSession.setState({ token: null, user: null, ready: true });
  document.cookie = "csrf_token=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
});
afterEach(() => {
  fetchMock.mockReset();
  vi.unstubAllGlobals();
});

describe("api", () => {
  it("returns the JSON body", async () => {
    fetchMock.mockResolvedValueOnce(json(200, { coins: [] }));
    await expect(api("/api/market/coins")).resolves.toEqual({ coins: [] });
  });

  it("throws our error body's message", async () => {
    fetchMock.mockResolvedValueOnce(
      json(409, { error: { code: "conflict", message: "Username already taken", request_id: "r1" } }),
    );
    const error = await api("/api/users/register", { method: "POST", body: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toBe("Username already taken");
    expect((error as ApiError).status).toBe(409);
    expect((error as ApiError).requestId).toBe("r1");
  });

  it("sends the bearer token and the CSRF header on state changes", async () => {
    useSession.setState({ token: "tok" });
    document.cookie = "csrf_token=abc";
    fetchMock.mockResolvedValueOnce(new Response(null, { status: 204 }));
    await api("/api/watchlist", { method: "POST", body: { coin_id: "bitcoin" } });
    const headers = fetchMock.mock.calls[0]?.[1]?.headers as Record<string, string>;
    expect(headers.Authorization).toBe("Bearer tok");
    expect(headers["X-CSRF-Token"]).toBe("abc");
    expect(headers["Content-Type"]).toBe("application/json");
  });

  it("refreshes once on 401 and retries with the new token", async () => {
    useSession.setState({ token: "old" });
    fetchMock
      .mockResolvedValueOnce(json(401, { error: { code: "unauthorized", message: "Token expired" } }))
      .mockResolvedValueOnce(json(200, { access_token: "new", refresh_token: "r", token_type: "bearer", expires_in: 3600 }))
      .mockResolvedValueOnce(json(200, { username: "alice" }));
    await expect(api("/api/users/me")).resolves.toEqual({ username: "alice" });
    expect(fetchMock.mock.calls[1]?.[0]).toBe("/api/users/refresh");
    const retried = fetchMock.mock.calls[2]?.[1]?.headers as Record<string, string>;
    expect(retried.Authorization).toBe("Bearer new");
    expect(useSession.getState().token).toBe("new");
  });

  it("signs out when the refresh fails", async () => {
    useSession.setState({ token: "old" });
    fetchMock
      .mockResolvedValueOnce(json(401, { error: { code: "unauthorized", message: "Token expired" } }))
      .mockResolvedValueOnce(json(401, { error: { code: "unauthorized", message: "Refresh token revoked" } }));
    await expect(api("/api/users/me")).rejects.toMatchObject({ status: 401, message: "Token expired" });
    expect(useSession.getState().token).toBeNull();
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  it("keeps the session when the refresh is only throttled", async () => {
    useSession.setState({ token: "old" });
    window.localStorage.setItem("cryptodash.session", "1");
    fetchMock
      .mockResolvedValueOnce(json(401, { error: { code: "unauthorized", message: "Token expired" } }))
      .mockResolvedValueOnce(json(429, { error: { code: "rate_limited", message: "Too many requests" } }));
    await expect(api("/api/users/me")).rejects.toMatchObject({ status: 401 });
    expect(window.localStorage.getItem("cryptodash.session")).toBe("1");
  });

  it("does not refresh for anonymous calls or the login itself", async () => {
    fetchMock.mockResolvedValueOnce(json(401, { error: { code: "unauthorized", message: "Wrong credentials" } }));
    await expect(api("/api/users/login", { method: "POST", body: {} })).rejects.toMatchObject({ status: 401 });
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });

  it("turns a network failure into a readable error", async () => {
    fetchMock.mockRejectedValueOnce(new TypeError("Failed to fetch"));
    await expect(api("/api/market/coins")).rejects.toMatchObject({ status: 0, code: "network" });
  });

  it("falls back to a generic message when the body is not ours", async () => {
    fetchMock.mockResolvedValueOnce(new Response("<html>bad gateway</html>", { status: 502 }));
    await expect(api("/api/market/coins")).rejects.toMatchObject({ status: 502, message: "The server had a problem. Try again in a moment." });
  });
});
