"""The tick path connectors use: `publish_tick` and `TickPublisher`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cryptodash.market.ingest import PRICE_UPDATES, TickPublisher, publish_tick
from cryptodash.market.normalize import TICK_SCHEMA, Tick
from cryptodash.platform.bus import MemoryBus, Message
from cryptodash.platform.errors import BackendUnavailable
from cryptodash.platform.metrics import Metrics
from tests.helpers import eventually

AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def tick(n: int, coin: str = "bitcoin") -> Tick:
    return Tick(coin, "binance", Decimal(100 + n), Decimal("0.5"), AT, "USDT")


async def test_ticks_are_published_keyed_by_coin_with_the_schema_header() -> None:
    bus = MemoryBus(Metrics())
    got: list[Message] = []

    async def handler(message: Message) -> None:
        got.append(message)

    await bus.subscribe([PRICE_UPDATES], "g", handler)
    await publish_tick(bus, tick(0))
    publisher = TickPublisher(bus, Metrics(), max_in_flight=3)
    for n in range(1, 50):
        await publisher.publish(tick(n, "ethereum" if n % 2 else "bitcoin"))
    await publisher.close()
    await eventually(lambda: len(got) == 50)
    # Order holds per key (partition), not across them.
    first = next(m for m in got if m.key == "bitcoin")
    assert first.headers["schema"] == TICK_SCHEMA
    assert first.value == {
        "coin_id": "bitcoin",
        "price": 100.0,
        "volume": 0.5,
        "source": "binance",
        "timestamp": "2026-11-28T12:00:00.000Z",
        "quote": "USDT",
    }
    for coin in ("bitcoin", "ethereum"):  # per-key order kept
        prices = [m.value["price"] for m in got if m.key == coin]
        assert prices == sorted(prices)
    await bus.close()


class DownBus:
    backend = "kafka"

    async def publish(self, *args: Any, **kwargs: Any) -> None:
        raise BackendUnavailable("kafka", "down")

    async def send(self, *args: Any, **kwargs: Any) -> None:
        raise BackendUnavailable("kafka", "down")

    async def ping(self) -> None:
        raise BackendUnavailable("kafka", "down")


async def test_ticks_the_bus_refuses_are_held_within_a_bound_and_do_not_stop_the_feed() -> None:
    metrics = Metrics()
    publisher = TickPublisher(DownBus(), metrics, max_held=3)  # type: ignore[arg-type]
    for n in range(5):
        await publisher.publish(tick(n))
    # Held for the broker's return, the oldest beyond the bound dropped and counted.
    assert publisher.held == 3
    assert publisher.failed == 2
    await publisher.close(timeout=0.2)  # still down: what is held is dropped, counted
    assert publisher.held == 0
    assert publisher.failed == 5
    assert metrics.bus_messages.labels(PRICE_UPDATES, "publish_failed")._value.get() == 5


class LosingBus:
    """Takes every message; the test settles each delivery. Down (ping fails) until `up`."""

    backend = "kafka"

    def __init__(self) -> None:
        self.futures: list[Any] = []
        self.prices: list[float] = []
        self.up = False

    async def send(self, topic: str, key: str, value: Any, **kwargs: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        self.prices.append(value["price"])
        return future

    async def ping(self) -> None:
        if not self.up:
            raise BackendUnavailable("kafka", "down")


async def test_a_lost_delivery_is_held_frees_its_slot_and_is_resent_in_order() -> None:
    metrics = Metrics()
    bus = LosingBus()
    publisher = TickPublisher(bus, metrics, max_in_flight=2, retry_delay=0.01)  # type: ignore[arg-type]
    await publisher.publish(tick(0))
    await publisher.publish(tick(1))
    for future in bus.futures:
        future.set_exception(BackendUnavailable("kafka", "KafkaTimeoutError"))
    await asyncio.sleep(0)  # the delivery callbacks run
    await publisher.publish(tick(2))  # would wait forever if the slots were not freed
    await publisher.publish(tick(3))
    assert publisher.held == 4  # behind the held ones, in order
    assert bus.prices == [100, 101]
    bus.up = True
    for n in range(4):
        await eventually(lambda n=n: len(bus.futures) > 2 + n)
        bus.futures[2 + n].set_result(None)
    await publisher.close()
    assert bus.prices == [100, 101, 100, 101, 102, 103]
    assert publisher.failed == 0
    assert publisher.resent == 4
