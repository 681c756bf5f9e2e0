import { act, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { backoffDelay, useWebSocket } from "./useWebSocket";

class FakeSocket {
  static instances: FakeSocket[] = [];
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onclose: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    FakeSocket.instances.push(this);
  }
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.closed = true;
  }
  open() {
    act(() => this.onopen?.());
  }
  drop() {
    act(() => this.onclose?.());
  }
  receive(data: unknown) {
    act(() => this.onmessage?.({ data: typeof data === "string" ? data : JSON.stringify(data) }));
  }
}

beforeEach(() => {
  FakeSocket.instances = [];
  vi.stubGlobal("WebSocket", FakeSocket);
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("backoffDelay", () => {
  it("doubles up to the cap, with 50–100 % jitter", () => {
    expect(backoffDelay(0, {}, () => 1)).toBe(500);
    expect(backoffDelay(3, {}, () => 1)).toBe(4000);
    expect(backoffDelay(3, {}, () => 0)).toBe(2000);
    expect(backoffDelay(20, {}, () => 1)).toBe(30_000);
  });
});

describe("useWebSocket", () => {
  it("stays closed without a path", () => {
    const { result } = renderHook(() => useWebSocket(null, {}));
    expect(result.current).toBe("idle");
    expect(FakeSocket.instances).toHaveLength(0);
  });

  it("connects to the same origin, resubscribes on every reconnect, and backs off", () => {
    const messages: unknown[] = [];
    const { result, unmount } = renderHook(() =>
      useWebSocket("/ws/prices", {
        onOpen: (socket) => socket.send("subscribe"),
        onMessage: (data) => messages.push(data),
      }, { baseMs: 100 }),
    );
    expect(result.current).toBe("connecting");
    const first = FakeSocket.instances[0]!;
    expect(first.url).toBe(`ws://${window.location.host}/ws/prices`);
    first.open();
    expect(result.current).toBe("open");
    expect(first.sent).toEqual(["subscribe"]);
    first.receive({ type: "price_update", coin_id: "bitcoin" });
    first.receive("not json");
    expect(messages).toEqual([{ type: "price_update", coin_id: "bitcoin" }]);

    first.drop();
    expect(result.current).toBe("closed");
    act(() => vi.advanceTimersByTime(100));
    const second = FakeSocket.instances[1]!;
    second.drop(); // fails before opening: the next wait is longer
    act(() => vi.advanceTimersByTime(99));
    expect(FakeSocket.instances).toHaveLength(2);
    act(() => vi.advanceTimersByTime(101));
    const third = FakeSocket.instances[2]!;
    third.open();
    expect(third.sent).toEqual(["subscribe"]);

    unmount();
    expect(third.closed).toBe(true);
    act(() => vi.advanceTimersByTime(60_000));
    expect(FakeSocket.instances).toHaveLength(3);
  });
});
