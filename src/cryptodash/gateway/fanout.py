"""WebSocket fan-out: which client wants which updates, and each client's bounded outbox.

One `Hub` per process receives every update once (from the bus) and hands it to the clients
subscribed to its coin. An update is serialized once — JSON text and the complete WebSocket
frame — and shared by every client.

Handing an update to a client never waits. A client whose socket is taking data gets the frame
written to its transport at once (through the server's raw-frame extension, `wsserver`; under
another ASGI server its sender task sends it). A client whose socket is full gets it in its
outbox instead, which holds at most one unsent update per key (a coin, or a coin and an
interval): a newer value replaces an unsent older one (conflation). So a slow reader gets the
latest value of every coin, never a growing backlog, and never delays anyone else. Its sender
task writes the outbox out as the socket drains; a client whose socket takes nothing for
`stall_timeout` seconds (it stopped reading entirely) is dropped.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from cryptodash.platform.metrics import Metrics

WILDCARD = "*"
LATENCY_SAMPLE = 8
"""One frame in this many per client is timed for ws_send_latency_seconds."""

Topic = tuple[str, str | None]
"""What an update is about and what a client subscribes to: (coin id, sub-key). The sub-key is
the interval on the analytics channel and None elsewhere; a subscription's coin may be `*`
and its sub-key None (every interval)."""

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
"""The ASGI `send` of one WebSocket connection (Starlette's `WebSocket.send`)."""


def text_frame(payload: bytes) -> bytes:
    """A complete, unmasked (server-to-client) WebSocket text frame."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65_536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


@dataclass(frozen=True, slots=True)
class Update:
    """One frame ready to go, as an ASGI event and as wire bytes (both shared by every
    client), and the event time it carries (Unix seconds) for `ws_send_latency_seconds`."""

    message: dict[str, Any]
    frame: bytes
    event_time: float | None = None

    @classmethod
    def of(cls, body: Any, event_time: float | None = None) -> Update:
        payload = orjson.dumps(body)
        message = {"type": "websocket.send", "text": payload.decode()}
        return cls(message, text_frame(payload), event_time)


class RawFrames(Protocol):
    """Direct writes to a connection's transport (`wsserver.RawFrames`)."""

    def writable(self) -> bool: ...
    async def wait_writable(self) -> None: ...
    def write(self, data: bytes) -> None: ...


class _ChannelMetrics:
    """The metric children of one channel, looked up once (`labels()` costs a lock and a
    dict lookup on every call)."""

    __slots__ = ("clients", "conflated", "latency", "sent")

    def __init__(self, metrics: Metrics, channel: str) -> None:
        self.clients = metrics.ws_clients.labels(channel)
        self.sent = metrics.ws_messages_sent.labels(channel)
        self.conflated = metrics.ws_messages_conflated.labels(channel)
        self.latency = metrics.ws_send_latency.labels(channel)


class Client:
    """One WebSocket client: its subscriptions and its bounded, conflating outbox.

    Keys of the outbox are the update's `Topic` (conflated) or, for control frames (acks,
    errors, pongs), a sequence number (never conflated; at most `max_control` wait, after
    which the connection's reader stops reading until they are sent). Frames leave in the
    order their keys first entered the outbox.
    """

    def __init__(
        self,
        send: Send,
        channel: str,
        metrics: _ChannelMetrics,
        *,
        raw: RawFrames | None = None,
        max_control: int = 32,
    ) -> None:
        self.channel = channel
        self.topics: set[Topic] = set()
        self.close_reason: str | None = None
        self.sending_since: float | None = None
        """When the sender started waiting for the socket to take data (stall detection)."""
        self.sent = 0
        """Frames handed to the socket and not yet counted in ws_messages_sent_total."""
        self._send = send
        self._raw = raw
        self._metrics = metrics
        self._pending: OrderedDict[Topic, Update] = OrderedDict()
        self._waiter: asyncio.Future[None] | None = None
        self._control = 0
        self._control_seq = 0
        self._max_control = max_control
        self._room = asyncio.Event()
        self._room.set()
        self._sample = 0
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ producers

    def offer(self, key: Topic, update: Update) -> None:
        """Hand over an update: written at once when the socket takes data and nothing is
        queued before it, else queued, replacing an unsent one with the same key."""
        pending = self._pending
        if key in pending:
            pending[key] = update
            self._metrics.conflated.inc()
            return
        raw = self._raw
        if raw is not None and not pending and self.close_reason is None and raw.writable():
            try:
                raw.write(update.frame)
            except ConnectionError:
                self.abort("client_gone")
                return
            self._delivered(update)
            return
        pending[key] = update
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def control(self, frame: dict[str, Any]) -> None:
        """Queue an ack, error or pong (never conflated, order kept)."""
        self._control_seq += 1
        self._control += 1
        self.offer(("", str(self._control_seq)), Update.of(frame))
        if not self._pending:  # written at once
            self._control = 0
        elif self._control >= self._max_control:
            self._room.clear()

    async def room(self) -> None:
        """Wait until the control frames already queued fall below the bound (a client that
        sends requests without reading the answers is not read any further meanwhile)."""
        await self._room.wait()

    def wants(self, coin_id: str, sub: str | None) -> bool:
        topics = self.topics
        return (
            (coin_id, sub) in topics
            or (coin_id, None) in topics
            or (WILDCARD, sub) in topics
            or (WILDCARD, None) in topics
        )

    def drop_unwanted(self) -> None:
        """Forget queued updates the client no longer subscribes to (after an unsubscribe)."""
        for key in [k for k in self._pending if k[0] and not self.wants(k[0], k[1])]:
            del self._pending[key]

    def _delivered(self, update: Update) -> None:
        self.sent += 1
        if update.event_time is not None:
            # One frame in LATENCY_SAMPLE per client is timed: the histogram costs more than
            # the write itself.
            self._sample -= 1
            if self._sample <= 0:
                self._sample = LATENCY_SAMPLE
                self._metrics.latency.observe(max(0.0, time.time() - update.event_time))

    def _taken(self, control: int) -> None:
        self._control -= control
        if self._control < self._max_control:
            self._room.set()

    # ------------------------------------------------------------------ the sender

    async def run(self) -> None:
        """Write the outbox to the socket as it drains, until cancelled or the socket fails
        (the connection's handler then tears down)."""
        self._task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        pending = self._pending
        raw = self._raw
        while True:
            if not pending:
                self._waiter = loop.create_future()
                await self._waiter
                self._waiter = None
                continue
            if raw is not None:
                if not raw.writable():
                    self.sending_since = time.monotonic()
                    await raw.wait_writable()
                    self.sending_since = None
                updates = list(pending.values())
                control = sum(1 for key in pending if not key[0])
                pending.clear()
                self._taken(control)
                raw.write(b"".join(update.frame for update in updates))
                for update in updates:
                    self._delivered(update)
            else:
                key, update = pending.popitem(last=False)
                self._taken(0 if key[0] else 1)
                self.sending_since = time.monotonic()
                await self._send(update.message)
                self.sending_since = None
                self._delivered(update)

    def abort(self, reason: str) -> None:
        """Stop the sender (its connection's handler sees it end and closes)."""
        if self.close_reason is None:
            self.close_reason = reason
        if self._task is not None:
            self._task.cancel()

    def count_sent(self) -> None:
        if self.sent:
            self._metrics.sent.inc(self.sent)
            self.sent = 0

    @property
    def queued(self) -> int:
        return len(self._pending)


class Hub:
    """Subscriptions of every client of one process, by channel and topic, and the latest
    update of every topic (sent to a client when it subscribes)."""

    def __init__(self, metrics: Metrics, *, stall_timeout: float = 30.0) -> None:
        self.metrics = metrics
        self.stall_timeout = stall_timeout
        self.clients: set[Client] = set()
        self._channel_metrics: dict[str, _ChannelMetrics] = {}
        self._subscribers: dict[str, dict[Topic, set[Client]]] = {}
        self._latest: dict[str, dict[Topic, Update]] = {}

    def channel_metrics(self, channel: str) -> _ChannelMetrics:
        found = self._channel_metrics.get(channel)
        if found is None:
            found = self._channel_metrics[channel] = _ChannelMetrics(self.metrics, channel)
        return found

    def connect(
        self, send: Send, channel: str, *, raw: RawFrames | None = None, max_control: int = 32
    ) -> Client:
        metrics = self.channel_metrics(channel)
        client = Client(send, channel, metrics, raw=raw, max_control=max_control)
        self.clients.add(client)
        metrics.clients.inc()
        return client

    def disconnect(self, client: Client, reason: str) -> None:
        if client not in self.clients:
            return
        self.clients.discard(client)
        client.count_sent()
        self.unsubscribe(client, list(client.topics))
        self.channel_metrics(client.channel).clients.dec()
        self.metrics.ws_disconnects.labels(client.close_reason or reason).inc()

    def subscribe(self, client: Client, topics: Iterable[Topic]) -> None:
        """Add subscriptions and queue the latest update of every topic they cover."""
        index = self._subscribers.setdefault(client.channel, {})
        new = [t for t in topics if t not in client.topics]
        for topic in new:
            client.topics.add(topic)
            index.setdefault(topic, set()).add(client)
        latest = self._latest.get(client.channel, {})
        for topic in new:
            coin_id, sub = topic
            if coin_id != WILDCARD and sub is not None:
                update = latest.get(topic)
                if update is not None:
                    client.offer(topic, update)
                continue
            for (known_coin, known_sub), update in latest.items():
                if (coin_id in (WILDCARD, known_coin)) and (sub is None or sub == known_sub):
                    client.offer((known_coin, known_sub), update)

    def unsubscribe(self, client: Client, topics: Iterable[Topic]) -> None:
        index = self._subscribers.get(client.channel, {})
        for topic in topics:
            client.topics.discard(topic)
            subscribers = index.get(topic)
            if subscribers is not None:
                subscribers.discard(client)
                if not subscribers:
                    del index[topic]
        client.drop_unwanted()

    def publish(self, channel: str, topic: Topic, update: Update) -> int:
        """Hand an update to every client subscribed to it; returns how many. Never waits."""
        self._latest.setdefault(channel, {})[topic] = update
        index = self._subscribers.get(channel)
        if not index:
            return 0
        coin_id, sub = topic
        groups = [
            group
            for group in (
                index.get(topic),
                index.get((coin_id, None)) if sub is not None else None,
                index.get((WILDCARD, sub)),
                index.get((WILDCARD, None)) if sub is not None else None,
            )
            if group
        ]
        if not groups:
            return 0
        targets = groups[0] if len(groups) == 1 else set().union(*groups)
        for client in targets:
            client.offer(topic, update)
        return len(targets)

    def latest(self, channel: str, topic: Topic) -> Update | None:
        return self._latest.get(channel, {}).get(topic)

    async def watch(self, interval: float = 1.0) -> None:
        """Every `interval`: count the frames sent, and drop clients whose socket has not
        taken a frame for `stall_timeout` seconds."""
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for client in list(self.clients):
                client.count_sent()
                since = client.sending_since
                if since is not None and now - since > self.stall_timeout:
                    client.abort("stalled")

    def close(self) -> None:
        """Shutdown: stop every client's sender (their handlers then end)."""
        for client in list(self.clients):
            client.abort("shutdown")
