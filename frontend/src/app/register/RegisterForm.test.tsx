import { fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { useSession } from "@/lib/session";
import { renderWithQuery } from "@/test/render";
import { RegisterForm } from "./RegisterForm";

const push = vi.fn();
vi.mock("next/navigation", () => ({
  useRouter: () => ({ push }),
  useSearchParams: () => new URLSearchParams("next=/coin/?id=bitcoin"),
  usePathname: () => "/register/",
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
});

function fill(username: string, email: string, password: string) {
  fireEvent.input(screen.getByLabelText("Username"), { target: { value: username } });
  fireEvent.input(screen.getByLabelText("Email"), { target: { value: email } });
  fireEvent.input(screen.getByLabelText("Password"), { target: { value: password } });
  fireEvent.click(screen.getByRole("button", { name: "Register" }));
}

describe("RegisterForm", () => {
  it("validates like the API before sending anything", async () => {
    renderWithQuery(<RegisterForm />);
    fill("a!", "not-an-email", "short");
    expect(await screen.findByText("At least 3 characters.")).toBeTruthy();
    expect(screen.getByText("Enter a valid email address.")).toBeTruthy();
    expect(screen.getByText("At least 10 characters.")).toBeTruthy();
    expect(screen.getByLabelText("Password").getAttribute("aria-invalid")).toBe("true");
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("shows the server's message on a duplicate", async () => {
    fetchMock.mockResolvedValueOnce(json(409, { error: { code: "conflict", message: "That username is taken", request_id: "x" } }));
    renderWithQuery(<RegisterForm />);
    fill("alice", "alice@example.com", "correct horse battery");
    expect((await screen.findByRole("alert")).textContent).toContain("That username is taken");
    expect(push).not.toHaveBeenCalled();
  });

  it("registers, signs in and goes where the user was going", async () => {
    fetchMock
      .mockResolvedValueOnce(json(201, { id: 1, username: "alice", email: "alice@example.com", role: "user" }))
      .mockResolvedValueOnce(json(200, { access_token: "t", refresh_token: "r", token_type: "bearer", expires_in: 3600 }))
      .mockResolvedValueOnce(json(200, { id: 1, username: "alice", email: "alice@example.com", role: "user" }));
    renderWithQuery(<RegisterForm />);
    fill("alice", "alice@example.com", "correct horse battery");
    await waitFor(() => expect(push).toHaveBeenCalledWith("/coin/?id=bitcoin"));
    expect(JSON.parse(String(fetchMock.mock.calls[0]?.[1]?.body))).toEqual({
      username: "alice",
      email: "alice@example.com",
      password: "correct horse battery",
    });
    expect(fetchMock.mock.calls[1]?.[0]).toBe("/api/users/login");
    expect(useSession.getState().user?.username).toBe("alice");
  });

  it("puts 422 field errors next to their fields", async () => {
    fetchMock.mockResolvedValueOnce(
      json(422, { error: { code: "validation_error", message: "Invalid request", details: [{ loc: ["body", "email"], msg: "domain does not accept mail", type: "value_error" }] } }),
    );
    renderWithQuery(<RegisterForm />);
    fill("alice", "alice@example.com", "correct horse battery");
    expect(await screen.findByText("domain does not accept mail")).toBeTruthy();
  });
});
