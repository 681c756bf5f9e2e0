"""kafka_consumer_lag is really updated: it reports a backlog while the consumer is stuck in a
handler (the moment the alert exists for), drops to zero once the group catches up, and
disappears with the subscription so no stale series keeps an alert firing."""

from __future__ import annotations

import asyncio

import pytest

from cryptodash.platform.bus import KafkaBus, Message, RetryPolicy
from cryptodash.platform.metrics import Metrics
from tests.helpers import eventually, unique

pytestmark = pytest.mark.integration

TOPIC = "sentiment_updates"


def lag_samples(metrics: Metrics, group: str) -> dict[str, float]:
    """partition → lag for `group`, from what /metrics would expose."""
    samples = {}
    for family in metrics.registry.collect():
        if family.name == "kafka_consumer_lag":
            for sample in family.samples:
                if sample.labels["group"] == group and sample.labels["topic"] == TOPIC:
                    samples[sample.labels["partition"]] = sample.value
    return samples


async def test_lag_grows_while_a_handler_is_stuck_and_clears_after(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    metrics = Metrics()
    bus = KafkaBus(
        kafka_bootstrap,
        metrics,
        topic_prefix=topic_prefix,
        retry=RetryPolicy(attempts=1),
        session_timeout_ms=2000,
        lag_interval=0.2,
    )
    await bus.start()
    group = unique("lag")
    release = asyncio.Event()
    handled: list[int] = []

    async def handler(message: Message) -> None:
        await release.wait()
        handled.append(message.value["n"])

    try:
        # Within pytest-timeout's 120 s, so that a step that hangs fails here, at its line.
        async with asyncio.timeout(110):
            subscription = await bus.subscribe([TOPIC], group, handler)
            await subscription.wait_assigned()
            await bus.publish(TOPIC, "bitcoin", {"n": 0})
            await eventually(lambda: lag_samples(metrics, group), timeout=20)
            # The handler is stuck on message 0; 30 more arrive on the same partition.
            for n in range(1, 31):
                await bus.publish(TOPIC, "bitcoin", {"n": n})
            await eventually(lambda: max(lag_samples(metrics, group).values()) >= 30, timeout=20)

            release.set()
            await eventually(lambda: len(handled) == 31, timeout=20)
            await eventually(lambda: max(lag_samples(metrics, group).values()) == 0, timeout=20)

            await subscription.stop()
            assert lag_samples(metrics, group) == {}, "a stopped consumer leaves no lag series"
    finally:
        release.set()
        await bus.close()
