"""The hub and the clients' outboxes without sockets: conflation for a slow reader, fairness
(a stuck client never holds up the others), bounds, subscriptions and the stall watcher."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import orjson
import pytest

from cryptodash.gateway.fanout import Client, Hub, Update
from cryptodash.platform.metrics import Metrics
from tests.helpers import eventually


class Socket:
    """A fake connection: records frames; `hold()` makes it stop taking data like a full
    socket buffer. In "asgi" mode the hub's clients send ASGI events to it; in "raw" mode they
    write wire frames (the server's raw-frame extension)."""

    def __init__(self, mode: str = "asgi") -> None:
        self.mode = mode
        self.frames: list[dict[str, Any]] = []
        self.open = asyncio.Event()
        self.open.set()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        await self.open.wait()
        self.frames.append(orjson.loads(message["text"]))

    # the raw-frame extension
    def writable(self) -> bool:
        return self.open.is_set()

    async def wait_writable(self) -> None:
        await self.open.wait()

    def write(self, data: bytes) -> None:
        assert self.open.is_set(), "written while not writable"
        while data:
            assert data[0] == 0x81  # a final text frame
            size, head = data[1], 2
            if size == 126:
                size, head = int.from_bytes(data[2:4], "big"), 4
            self.frames.append(orjson.loads(data[head : head + size]))
            data = data[head + size :]

    @property
    def raw(self) -> Socket | None:
        return self if self.mode == "raw" else None

    def hold(self) -> None:
        self.open.clear()

    def release(self) -> None:
        self.open.set()


@pytest.fixture(params=["asgi", "raw"])
def mode(request: pytest.FixtureRequest) -> str:
    mode: str = request.param
    return mode


def tick(coin: str, price: float) -> Update:
    return Update.of({"type": "price_update", "coin_id": coin, "price": price})


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def start(
    hub: Hub, socket: Socket, channel: str = "prices"
) -> tuple[Client, asyncio.Task[None]]:
    client = hub.connect(socket.send, channel, raw=socket.raw)
    return client, asyncio.create_task(client.run())


async def stop(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_slow_client_gets_the_latest_value_per_coin_and_never_delays_the_others(
    mode: str,
) -> None:
    metrics = Metrics()
    hub = Hub(metrics)
    fast_socket, slow_socket = Socket(mode), Socket(mode)
    fast, fast_task = await start(hub, fast_socket)
    slow, slow_task = await start(hub, slow_socket)
    for client in (fast, slow):
        hub.subscribe(client, [("*", None)])
    slow_socket.hold()
    coins = [f"coin{i}" for i in range(10)]
    try:
        for round_ in range(100):
            for coin in coins:
                hub.publish("prices", (coin, None), tick(coin, round_))
            await asyncio.sleep(0)  # the fast client's sender keeps up as updates arrive
        await eventually(lambda: len(fast_socket.frames) == 1000)
        # The fast client saw every update, in order per coin.
        for coin in coins:
            prices = [f["price"] for f in fast_socket.frames if f["coin_id"] == coin]
            assert prices == list(range(100))
        # The stuck client holds at most one update per coin (plus the one in its socket).
        assert slow.queued <= len(coins)
        assert sample(metrics, "ws_messages_conflated_total", channel="prices") >= 900
        slow_socket.release()
        await eventually(lambda: slow.queued == 0)
        latest = {f["coin_id"]: f["price"] for f in slow_socket.frames}
        assert latest == dict.fromkeys(coins, 99)
        assert len(slow_socket.frames) <= 2 * len(coins)
    finally:
        await stop(fast_task, slow_task)


async def test_conflation_keeps_the_order_keys_first_arrived_in(mode: str) -> None:
    hub = Hub(Metrics())
    socket = Socket(mode)
    client, task = await start(hub, socket)
    hub.subscribe(client, [("*", None)])
    try:
        hub.publish("prices", ("a", None), tick("a", 1))
        await eventually(lambda: socket.frames)
        socket.hold()
        for coin, price in [("b", 1), ("c", 1), ("b", 2), ("a", 2), ("c", 2)]:
            hub.publish("prices", (coin, None), tick(coin, price))
        assert client.queued == 3
        socket.release()
        await eventually(lambda: len(socket.frames) == 4)
        assert [(f["coin_id"], f["price"]) for f in socket.frames] == [
            ("a", 1),
            ("b", 2),
            ("c", 2),
            ("a", 2),
        ]
    finally:
        await stop(task)


async def test_subscriptions_by_coin_wildcard_and_interval(mode: str) -> None:
    hub = Hub(Metrics())
    sockets = {name: Socket(mode) for name in ("btc_1h", "btc_all", "all_1h", "all", "eth")}
    clients, tasks = {}, []
    for name, socket in sockets.items():
        client, task = await start(hub, socket, "analytics")
        clients[name], _ = client, tasks.append(task)
    hub.subscribe(clients["btc_1h"], [("bitcoin", "1h")])
    hub.subscribe(clients["btc_all"], [("bitcoin", None)])
    hub.subscribe(clients["all_1h"], [("*", "1h")])
    hub.subscribe(clients["all"], [("*", None), ("bitcoin", "1h")])  # overlapping: one copy
    hub.subscribe(clients["eth"], [("ethereum", "1m")])
    try:
        for coin in ("bitcoin", "ethereum"):
            for interval in ("1m", "1h"):
                frame = {"type": "analytics_update", "coin_id": coin, "interval": interval}
                hub.publish("analytics", (coin, interval), Update.of(frame))
        hub.publish("prices", ("bitcoin", None), tick("bitcoin", 1))  # another channel

        def got(name: str) -> set[tuple[str, str]]:
            return {(f["coin_id"], f["interval"]) for f in sockets[name].frames}

        await eventually(lambda: len(sockets["all"].frames) == 4)
        await asyncio.sleep(0.05)
        assert got("btc_1h") == {("bitcoin", "1h")}
        assert got("btc_all") == {("bitcoin", "1m"), ("bitcoin", "1h")}
        assert got("all_1h") == {("bitcoin", "1h"), ("ethereum", "1h")}
        assert len(sockets["all"].frames) == 4
        assert got("eth") == {("ethereum", "1m")}
    finally:
        await stop(*tasks)


async def test_subscribing_sends_the_latest_values_and_unsubscribing_drops_queued_ones(
    mode: str,
) -> None:
    hub = Hub(Metrics())
    for coin, price in [("bitcoin", 1), ("ethereum", 2), ("bitcoin", 3)]:
        hub.publish("prices", (coin, None), tick(coin, price))
    socket = Socket(mode)
    client, task = await start(hub, socket)
    try:
        hub.subscribe(client, [("bitcoin", None)])
        await eventually(lambda: socket.frames)
        assert socket.frames == [{"type": "price_update", "coin_id": "bitcoin", "price": 3}]
        socket.hold()
        hub.subscribe(client, [("*", None)])  # ethereum's latest now waits in the outbox
        await asyncio.sleep(0)
        hub.unsubscribe(client, [("*", None)])
        socket.release()
        await asyncio.sleep(0.05)
        assert [f["coin_id"] for f in socket.frames] == ["bitcoin", "bitcoin"]
        hub.publish("prices", ("ethereum", None), tick("ethereum", 4))
        hub.publish("prices", ("bitcoin", None), tick("bitcoin", 5))
        await eventually(lambda: len(socket.frames) == 3)
        assert socket.frames[-1]["price"] == 5
    finally:
        await stop(task)


async def test_control_frames_are_never_conflated_and_bounded(mode: str) -> None:
    hub = Hub(Metrics())
    socket = Socket(mode)
    socket.hold()
    client = hub.connect(socket.send, "prices", raw=socket.raw, max_control=4)
    task = asyncio.create_task(client.run())
    try:
        client.control({"type": "pong", "n": 0})
        await asyncio.sleep(0.01)  # in the socket's hands
        for n in range(1, 5):
            client.control({"type": "pong", "n": n})
        room = asyncio.create_task(client.room())
        await asyncio.sleep(0.05)
        assert not room.done()  # the reader would stop reading this client now
        socket.release()
        await asyncio.wait_for(room, 5)
        await eventually(lambda: len(socket.frames) == 5)
        assert [f["n"] for f in socket.frames] == [0, 1, 2, 3, 4]
    finally:
        await stop(task)


async def test_a_client_whose_socket_takes_nothing_is_dropped_as_stalled(mode: str) -> None:
    metrics = Metrics()
    hub = Hub(metrics, stall_timeout=0.2)
    watcher = asyncio.create_task(hub.watch(interval=0.05))
    stuck, fine = Socket(mode), Socket(mode)
    stuck.hold()
    stuck_client, stuck_task = await start(hub, stuck)
    fine_client, fine_task = await start(hub, fine)
    for client in (stuck_client, fine_client):
        hub.subscribe(client, [("*", None)])
    try:
        hub.publish("prices", ("bitcoin", None), tick("bitcoin", 1))
        await asyncio.wait_for(asyncio.gather(stuck_task, return_exceptions=True), 5)
        assert stuck_task.cancelled()
        assert stuck_client.close_reason == "stalled"
        hub.disconnect(stuck_client, "client_gone")
        assert sample(metrics, "ws_disconnects_total", reason="stalled") == 1
        assert sample(metrics, "ws_clients", channel="prices") == 1
        assert not fine_task.done()
        assert fine.frames
    finally:
        await stop(watcher, fine_task)
