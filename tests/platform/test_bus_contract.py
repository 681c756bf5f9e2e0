"""One contract for both bus backends: in-process and a real Kafka-protocol broker."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator

import pytest

from cryptodash.platform.bus import Bus, KafkaBus, MemoryBus, Message, RetryPolicy, partition_for
from cryptodash.platform.logging import request_id_var
from cryptodash.platform.metrics import Metrics
from tests.helpers import eventually, unique

TOPIC = "price_updates"
# Tansu completes a group join after half the session timeout; keep tests quick.
FAST_SESSION_MS = 4000


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    metrics = Metrics()
    retry = RetryPolicy(attempts=3, first_delay=0.01)
    backend: Bus
    if request.param == "memory":
        backend = MemoryBus(metrics, retry=retry)
    else:
        backend = KafkaBus(
            request.getfixturevalue("kafka_bootstrap"),
            metrics,
            topic_prefix=request.getfixturevalue("topic_prefix"),
            retry=retry,
            session_timeout_ms=FAST_SESSION_MS,
        )
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


async def subscribed(bus: Bus, group: str, handler, topics=(TOPIC,)):  # type: ignore[no-untyped-def]
    """Subscribe and, on Kafka, wait until the group owns its partitions."""
    subscription = await bus.subscribe(list(topics), group, handler)
    wait = getattr(subscription, "wait_assigned", None)
    if wait is not None:
        await wait()
    return subscription


async def test_message_arrives_with_key_value_and_envelope_headers(bus: Bus) -> None:
    got: list[Message] = []

    async def handler(message: Message) -> None:
        got.append(message)

    await subscribed(bus, unique("g"), handler)
    token = request_id_var.set("req-123")
    try:
        await bus.publish(
            TOPIC,
            "bitcoin",
            {"coin_id": "bitcoin", "price": 67000.5, "source": "binance"},
            schema="price_update.v1",
        )
    finally:
        request_id_var.reset(token)
    await eventually(lambda: got)
    message = got[0]
    assert message.topic == TOPIC
    assert message.key == "bitcoin"
    assert message.value == {"coin_id": "bitcoin", "price": 67000.5, "source": "binance"}
    assert message.headers["schema"] == "price_update.v1"
    assert message.headers["request_id"] == "req-123"
    assert message.headers["produced_at"].endswith("Z")
    assert message.partition == partition_for("bitcoin", 12)


async def test_per_key_order_is_kept(bus: Bus) -> None:
    seen: dict[str, list[int]] = defaultdict(list)

    async def handler(message: Message) -> None:
        seen[message.key].append(message.value["n"])

    await subscribed(bus, unique("g"), handler)
    keys = ["bitcoin", "ethereum", "solana", "ripple"]
    for n in range(50):
        for key in keys:
            await bus.publish(TOPIC, key, {"n": n})
    await eventually(lambda: sum(len(v) for v in seen.values()) == 200, timeout=30)
    for key in keys:
        assert seen[key] == list(range(50))


async def test_send_hands_over_many_and_keeps_per_key_order(bus: Bus) -> None:
    seen: dict[str, list[int]] = defaultdict(list)

    async def handler(message: Message) -> None:
        seen[message.key].append(message.value["n"])

    await subscribed(bus, unique("g"), handler)
    stored = [
        await bus.send(TOPIC, key, {"n": n}, schema="test.v1")
        for n in range(100)
        for key in ("bitcoin", "ethereum")
    ]
    await asyncio.gather(*stored)  # every one stored (Kafka: acknowledged)
    assert all(future.done() and future.exception() is None for future in stored)
    await eventually(lambda: sum(len(v) for v in seen.values()) == 200, timeout=30)
    assert seen["bitcoin"] == list(range(100))
    assert seen["ethereum"] == list(range(100))


async def test_each_group_sees_every_message(bus: Bus) -> None:
    first: list[int] = []
    second: list[int] = []

    async def to_first(message: Message) -> None:
        first.append(message.value["n"])

    async def to_second(message: Message) -> None:
        second.append(message.value["n"])

    await subscribed(bus, unique("a"), to_first)
    await subscribed(bus, unique("b"), to_second)
    for n in range(20):
        await bus.publish(TOPIC, f"coin-{n}", {"n": n})
    await eventually(lambda: len(first) == 20 and len(second) == 20, timeout=30)
    assert sorted(first) == sorted(second) == list(range(20))


async def test_group_members_share_the_work_and_see_each_message_once(bus: Bus) -> None:
    group = unique("shared")
    seen: list[int] = []
    members: dict[int, int] = defaultdict(int)

    def member(index: int):  # type: ignore[no-untyped-def]
        async def handle(message: Message) -> None:
            seen.append(message.value["n"])
            members[index] += 1

        return handle

    sub_one = await subscribed(bus, group, member(1))
    sub_two = await bus.subscribe([TOPIC], group, member(2))
    # On Kafka the second member joins through a rebalance; let it settle before publishing.
    if isinstance(bus, KafkaBus):
        await sub_two.wait_assigned()  # type: ignore[attr-defined]
        await asyncio.sleep(1)
    for n in range(60):
        await bus.publish(TOPIC, f"coin-{n}", {"n": n})
    await eventually(lambda: len(seen) >= 60, timeout=30)
    await asyncio.sleep(0.5)
    assert sorted(seen) == list(range(60))
    assert len(members) == 2, "both members got partitions"
    await sub_one.stop()
    await sub_two.stop()


async def test_failing_handler_is_retried_then_skipped(bus: Bus) -> None:
    attempts: dict[int, int] = defaultdict(int)
    done: list[int] = []

    async def handler(message: Message) -> None:
        n = message.value["n"]
        attempts[n] += 1
        if n == 0 and attempts[n] == 1:
            raise RuntimeError("transient")
        if n == 1:
            raise RuntimeError("poison")
        done.append(n)

    await subscribed(bus, unique("g"), handler)
    for n in range(3):
        await bus.publish(TOPIC, "bitcoin", {"n": n})  # one key: one partition, in order
    await eventually(lambda: done == [0, 2], timeout=30)
    assert attempts[0] == 2
    assert attempts[1] == 3  # RetryPolicy(attempts=3)


async def test_stopped_subscription_gets_nothing_more(bus: Bus) -> None:
    got: list[int] = []
    witness: list[int] = []

    async def handler(message: Message) -> None:
        got.append(message.value["n"])

    async def watch(message: Message) -> None:
        witness.append(message.value["n"])

    subscription = await subscribed(bus, unique("g"), handler)
    await subscribed(bus, unique("w"), watch)
    await bus.publish(TOPIC, "bitcoin", {"n": 1})
    await eventually(lambda: got == [1], timeout=30)
    await subscription.stop()
    await bus.publish(TOPIC, "bitcoin", {"n": 2})
    await eventually(lambda: witness == [1, 2], timeout=30)
    assert got == [1]


async def test_ping(bus: Bus) -> None:
    await bus.ping()


@pytest.mark.integration
async def test_kafka_group_resumes_from_committed_offset(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    """A consumer that stops and comes back gets exactly what it has not processed yet."""
    metrics = Metrics()
    group = unique("resume")
    producer = KafkaBus(
        kafka_bootstrap, metrics, topic_prefix=topic_prefix, session_timeout_ms=FAST_SESSION_MS
    )
    await producer.start()
    got: list[int] = []

    async def handler(message: Message) -> None:
        got.append(message.value["n"])

    try:
        first = KafkaBus(
            kafka_bootstrap, metrics, topic_prefix=topic_prefix, session_timeout_ms=FAST_SESSION_MS
        )
        subscription = await subscribed(first, group, handler)
        for n in range(5):
            await producer.publish(TOPIC, "bitcoin", {"n": n})
        await eventually(lambda: got == [0, 1, 2, 3, 4], timeout=30)
        await subscription.stop()
        await first.close()

        for n in range(5, 10):
            await producer.publish(TOPIC, "bitcoin", {"n": n})
        second = KafkaBus(
            kafka_bootstrap, metrics, topic_prefix=topic_prefix, session_timeout_ms=FAST_SESSION_MS
        )
        await subscribed(second, group, handler)
        await eventually(lambda: len(got) >= 10, timeout=30)
        await asyncio.sleep(0.5)
        assert got == list(range(10))
        await second.close()
    finally:
        await producer.close()


@pytest.mark.integration
async def test_kafka_publish_to_a_dead_broker_raises_our_error(topic_prefix: str) -> None:
    from cryptodash.platform.errors import BackendUnavailable
    from tests.helpers import free_port

    bus = KafkaBus(f"127.0.0.1:{free_port()}", Metrics(), topic_prefix=topic_prefix)
    await bus.start()  # degraded, not raised
    with pytest.raises(BackendUnavailable):
        await bus.publish(TOPIC, "bitcoin", {"n": 1})
    with pytest.raises(BackendUnavailable):
        await bus.send(TOPIC, "bitcoin", {"n": 1})
    with pytest.raises(BackendUnavailable):
        await bus.ping()
    await bus.close()
