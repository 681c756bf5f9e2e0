"""A handler's `flush()`: the Kafka consumer commits a batch only after it succeeded, so a
batching writer that could not write gets the messages again."""

from __future__ import annotations

import pytest

from cryptodash.platform.bus import KafkaBus, Message, RetryPolicy
from cryptodash.platform.metrics import Metrics
from tests.helpers import eventually, unique

pytestmark = pytest.mark.integration


class Batching:
    def __init__(self, *, fail: bool) -> None:
        self.fail = fail
        self.received: list[str] = []
        self.flushes = 0

    async def __call__(self, message: Message) -> None:
        self.received.append(message.value["n"])

    async def flush(self) -> None:
        self.flushes += 1
        if self.fail:
            raise RuntimeError("database down")


async def test_uncommitted_after_a_failed_flush(kafka_bootstrap: str, topic_prefix: str) -> None:
    bus = KafkaBus(
        kafka_bootstrap,
        Metrics(),
        topic_prefix=topic_prefix,
        retry=RetryPolicy(attempts=2, first_delay=0.01),
        session_timeout_ms=2000,
    )
    await bus.start()
    group = unique("g")
    try:
        failing = Batching(fail=True)
        subscription = await bus.subscribe(["flushes"], group, failing)
        await subscription.wait_assigned()
        for n in ("a", "b", "c"):
            await bus.publish("flushes", "k", {"n": n})
        await eventually(lambda: failing.received == ["a", "b", "c"] and failing.flushes)
        await subscription.stop()

        working = Batching(fail=False)
        subscription = await bus.subscribe(["flushes"], group, working)
        await eventually(lambda: working.received == ["a", "b", "c"] and working.flushes, 20)
        await subscription.stop()

        after = Batching(fail=False)
        subscription = await bus.subscribe(["flushes"], group, after)
        await subscription.wait_assigned()
        await bus.publish("flushes", "k", {"n": "d"})
        await eventually(lambda: after.received == ["d"], 20)
        await subscription.stop()
    finally:
        await bus.close()
