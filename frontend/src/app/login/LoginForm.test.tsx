import { fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { useSession } from "@/lib/session";
import { renderWithQuery } from "@/test/render";
import { LoginForm } from "./LoginForm";

const push = vi.fn();
let search = "next=/coin/?id=ethereum";
vi.mock("next/navigation", () => ({
  useRouter: () => ({ push }),
  useSearchParams: () => new URLSearchParams(search),
  usePathname: () => "/login/",
}));

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

const fetchMock = vi.fn<typeof fetch>();
beforeEach(() => {
  vi.stubGlobal("fetch", fetchMock);
  useSession.setState({ token: null, user: null, ready: true });
});
afterEach(() => {
  fetchMock.mockReset();
  push.mockReset();
  vi.unstubAllGlobals();
  search = "next=/coin/?id=ethereum";
});

function submit(username: string, password: string) {
  fireEvent.input(screen.getByLabelText("Username or email"), { target: { value: username } });
  fireEvent.input(screen.getByLabelText("Password"), { target: { value: password } });
  fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
}

describe("LoginForm", () => {
  it("asks for both fields", async () => {
    renderWithQuery(<LoginForm />);
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByText("Enter your username or email.")).toBeTruthy();
    expect(screen.getByText("Enter your password.")).toBeTruthy();
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("says so on wrong credentials", async () => {
    fetchMock.mockResolvedValueOnce(json(401, { error: { code: "unauthorized", message: "Invalid credentials" } }));
    renderWithQuery(<LoginForm />);
    submit("alice", "nope nope nope");
    expect((await screen.findByRole("alert")).textContent).toBe("Wrong username/email or password.");
    expect(useSession.getState().token).toBeNull();
  });

  it("signs in and lands where the user was going, never off-site", async () => {
    search = "next=//evil.example";
    fetchMock
      .mockResolvedValueOnce(json(200, { access_token: "t", refresh_token: "r", token_type: "bearer", expires_in: 3600 }))
      .mockResolvedValueOnce(json(200, { id: 1, username: "alice", email: "a@example.com", role: "user" }));
    renderWithQuery(<LoginForm />);
    submit("alice@example.com", "correct horse battery");
    await waitFor(() => expect(push).toHaveBeenCalledWith("/"));
    expect(JSON.parse(String(fetchMock.mock.calls[0]?.[1]?.body))).toEqual({ username: "alice@example.com", password: "correct horse battery" });
    expect(useSession.getState().token).toBe("t");
  });
});
