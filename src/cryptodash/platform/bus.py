"""Bus: publish keyed JSON messages and consume them as named groups.

Two backends behind one protocol, chosen by KAFKA_BOOTSTRAP_SERVERS: `MemoryBus` (asyncio, one
process) and `KafkaBus` (aiokafka). The guarantees are the same on both:

- a message's key picks its partition, so messages with one key are handled in order;
- each group sees every message of its topics, normally once (at-least-once: the offset is
  committed after the handler returns, so handlers must be idempotent);
- several groups each see every message.

A handler that raises is retried with backoff, then the message is logged and skipped so one
poison message cannot stall a partition.

`publish` returns once the message is stored (Kafka: acknowledged). `send` is the same for
producers of many messages: it returns as soon as the message is handed over (waiting only
when the backend pushes back) with a future that completes when it is stored — or fails with
`BackendUnavailable` — so a feed can keep thousands in flight without a task each.

A handler that buffers its writes (a batching persister) can also have an ``async flush()``:
the Kafka consumer awaits it after a batch and commits the batch's offsets only when it
succeeded, so "committed" keeps meaning "written".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import aiokafka.client as _aiokafka_client
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.metadata import MetadataRequest

from cryptodash.platform.errors import BackendUnavailable
from cryptodash.platform.logging import get_logger, request_id_var
from cryptodash.platform.metrics import Metrics

# Never let a metadata request create a topic: the bus creates its topics with their partition
# counts (`_ensure_topics`, `_watch_topics`). aiokafka asks brokers to auto-create whatever its
# producers and consumers look up, and does not expose the flag; a broker back without its
# data would otherwise recreate `price_updates` with its default partition count.
_aiokafka_client.MetadataRequest = functools.partial(
    MetadataRequest, allow_auto_topic_creation=False
)

log = get_logger(__name__)

# Topic name → partition count (ARCHITECTURE §5b). Unknown topics get DEFAULT_PARTITIONS.
TOPIC_PARTITIONS: dict[str, int] = {
    "price_updates": 12,
    "analytics_updates": 12,
    "sentiment_updates": 6,
}
DEFAULT_PARTITIONS = 6
RETENTION_MS = 7 * 24 * 3600 * 1000
# Seconds one kafka_consumer_lag measurement may take before it is skipped.
LAG_TIMEOUT = 10.0
# Seconds a consumer or producer gets to stop (leave its group, flush): a broker that does not
# answer must not hold up a reconnect or the process's shutdown.
STOP_TIMEOUT = 10.0
# Seconds between two checks that the topics this bus uses still exist (see `_watch_topics`).
TOPIC_CHECK_INTERVAL = 2.0


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: str
    value: Any
    headers: dict[str, str]
    partition: int
    offset: int
    timestamp: int = 0
    """When the message was produced, in Unix milliseconds (Kafka: the record's timestamp)."""


Handler = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    first_delay: float = 0.1
    max_delay: float = 5.0

    def delays(self) -> Iterable[float]:
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_delay)


class Subscription(Protocol):
    group: str

    async def stop(self) -> None: ...


class Bus(Protocol):
    backend: str

    async def start(self) -> None: ...
    async def publish(
        self,
        topic: str,
        key: str,
        value: Any,
        *,
        schema: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None: ...
    async def send(
        self,
        topic: str,
        key: str,
        value: Any,
        *,
        schema: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> asyncio.Future[None]: ...
    async def subscribe(
        self,
        topics: Sequence[str],
        group: str,
        handler: Handler,
        *,
        from_latest: bool = False,
    ) -> Subscription: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


def partition_for(key: str, partitions: int) -> int:
    """Stable across processes (unlike hash()), so every producer agrees on a key's partition."""
    return zlib.crc32(key.encode()) % partitions


class _Stamp:
    """`produced_at` text, formatted once per millisecond: a busy producer sends thousands of
    messages in one, and formatting a datetime costs more than the rest of the envelope."""

    __slots__ = ("millis", "text")

    def __init__(self) -> None:
        self.millis = -1
        self.text = ""

    def now(self) -> str:
        millis = time.time_ns() // 1_000_000
        if millis != self.millis:
            at = datetime.fromtimestamp(millis / 1000, UTC)
            self.millis = millis
            self.text = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return self.text


_stamp = _Stamp()


def envelope_headers(schema: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    headers = {"produced_at": _stamp.now()}
    request_id = request_id_var.get()
    if request_id:
        headers["request_id"] = request_id
    if schema:
        headers["schema"] = schema
    if extra:
        headers.update(extra)
    return headers


async def handle_with_retry(
    handler: Handler, message: Message, group: str, metrics: Metrics, retry: RetryPolicy
) -> None:
    """Run the handler; retry on error; after the last attempt log and skip the message."""
    delays = iter(retry.delays())
    while True:
        try:
            await handler(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delay = next(delays, None)
            if delay is None:
                metrics.bus_messages.labels(message.topic, "failed").inc()
                log.error(
                    "bus_message_skipped",
                    group=group,
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    key=message.key,
                    error=repr(exc),
                )
                return
            log.warning("bus_handler_retry", group=group, topic=message.topic, error=repr(exc))
            await asyncio.sleep(delay)
        else:
            metrics.bus_counter(message.topic, "consumed").inc()
            return


# --------------------------------------------------------------------------- in-process


@dataclass
class _MemoryGroup:
    name: str
    topics: tuple[str, ...]
    queues: dict[tuple[str, int], asyncio.Queue[Message]]
    handlers: list[Handler] = field(default_factory=list)
    workers: list[asyncio.Task[None]] = field(default_factory=list)


class _MemorySubscription:
    def __init__(self, bus: MemoryBus, group: str, handler: Handler) -> None:
        self._bus = bus
        self.group = group
        self._handler = handler

    async def stop(self) -> None:
        await self._bus._leave(self.group, self._handler)


class MemoryBus:
    """asyncio queues, one per (group, topic, partition), each drained by one worker task.

    A group that subscribes starts at the next message (there is no log to replay). Queues are
    bounded: a group that falls `max_pending` messages behind slows its producers down.
    """

    backend = "memory"

    def __init__(
        self,
        metrics: Metrics,
        *,
        max_pending: int = 10_000,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._metrics = metrics
        self._max_pending = max_pending
        self._retry = retry or RetryPolicy()
        self._groups: dict[str, _MemoryGroup] = {}
        self._offsets: dict[tuple[str, int], int] = {}
        self._closed = False

    async def start(self) -> None:
        return None

    async def publish(
        self,
        topic: str,
        key: str,
        value: Any,
        *,
        schema: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if self._closed:
            raise BackendUnavailable("bus", "closed")
        # Round-trip through JSON so consumers see exactly what Kafka consumers would.
        decoded = orjson.loads(orjson.dumps(value))
        partition = partition_for(key, TOPIC_PARTITIONS.get(topic, DEFAULT_PARTITIONS))
        offset = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = offset + 1
        message = Message(
            topic,
            key,
            decoded,
            envelope_headers(schema, headers),
            partition,
            offset,
            time.time_ns() // 1_000_000,
        )
        self._metrics.bus_counter(topic, "produced").inc()
        for group in list(self._groups.values()):
            if topic in group.topics:
                queue = group.queues[(topic, partition)]
                try:
                    queue.put_nowait(message)
                except asyncio.QueueFull:  # the group is far behind: wait for room
                    await queue.put(message)

    async def send(
        self,
        topic: str,
        key: str,
        value: Any,
        *,
        schema: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> asyncio.Future[None]:
        """Like `publish` (the message is queued when this returns); the future is done."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self.publish(topic, key, value, schema=schema, headers=headers)
        done.set_result(None)
        return done

    async def subscribe(
        self,
        topics: Sequence[str],
        group: str,
        handler: Handler,
        *,
        from_latest: bool = False,
    ) -> Subscription:
        state = self._groups.get(group)
        if state is None:
            queues: dict[tuple[str, int], asyncio.Queue[Message]] = {
                (topic, p): asyncio.Queue(self._max_pending)
                for topic in topics
                for p in range(TOPIC_PARTITIONS.get(topic, DEFAULT_PARTITIONS))
            }
            state = _MemoryGroup(group, tuple(topics), queues)
            state.workers = [
                asyncio.create_task(self._drain(state, index, queue), name=f"bus:{group}:{tp}")
                for index, (tp, queue) in enumerate(queues.items())
            ]
            self._groups[group] = state
        elif set(topics) != set(state.topics):
            raise ValueError(f"group {group!r} is already subscribed to {state.topics}")
        state.handlers.append(handler)
        return _MemorySubscription(self, group, handler)

    async def _drain(self, group: _MemoryGroup, index: int, queue: asyncio.Queue[Message]) -> None:
        while True:
            message = await queue.get()
            try:
                # Partition i belongs to member i mod n: one worker per partition keeps key order.
                if group.handlers:
                    handler = group.handlers[index % len(group.handlers)]
                    await handle_with_retry(
                        handler, message, group.name, self._metrics, self._retry
                    )
            finally:
                queue.task_done()

    async def _leave(self, group: str, handler: Handler) -> None:
        state = self._groups.get(group)
        if state is None or handler not in state.handlers:
            return
        state.handlers.remove(handler)
        if not state.handlers:
            del self._groups[group]
            for task in state.workers:
                task.cancel()
            await asyncio.gather(*state.workers, return_exceptions=True)

    async def drain(self) -> None:
        """Wait until every queued message has been handled (tests and shutdown)."""
        for state in list(self._groups.values()):
            for queue in state.queues.values():
                await queue.join()

    async def ping(self) -> None:
        if self._closed:
            raise BackendUnavailable("bus", "closed")

    async def close(self) -> None:
        self._closed = True
        for name in list(self._groups):
            state = self._groups.pop(name)
            for task in state.workers:
                task.cancel()
            await asyncio.gather(*state.workers, return_exceptions=True)


# --------------------------------------------------------------------------- Kafka


class _KafkaSubscription:
    """One aiokafka consumer in a group, restarted with backoff whenever the broker fails."""

    def __init__(
        self,
        bus: KafkaBus,
        topics: Sequence[str],
        group: str,
        handler: Handler,
        *,
        from_latest: bool,
    ) -> None:
        self._bus = bus
        self._topics = list(topics)
        self.group = group
        self._handler = handler
        self._from_latest = from_latest
        self._task: asyncio.Task[None] | None = None
        self._assigned = asyncio.Event()
        # (topic, partition) label values this subscription has published a lag for.
        self._lag_series: set[tuple[str, str]] = set()
        # Next offset to handle of each partition whose batch is in the handlers' hands.
        self._in_flight: dict[TopicPartition, int] = {}
        self._rejoin = asyncio.Event()

    @property
    def topics(self) -> list[str]:
        return list(self._topics)

    def rejoin(self) -> None:
        """Start over with a new consumer (after the bus recreated a topic: the current one
        may have joined while the topic was missing and would own none of its partitions
        until its next metadata refresh)."""
        self._rejoin.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"bus:{self.group}")

    async def wait_assigned(self, timeout: float = 30.0) -> None:
        await asyncio.wait_for(self._assigned.wait(), timeout)

    async def _run(self) -> None:
        delay = 0.5
        while True:
            consumer = self._bus._consumer(self._topics, self.group, self._from_latest)
            reporter: asyncio.Task[None] | None = None
            try:
                await consumer.start()
                delay = 0.5
                reporter = asyncio.create_task(self._report_lag(consumer), name=f"lag:{self.group}")
                await self._consume(consumer)
                delay = 0.05  # asked to rejoin: at once
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError) as exc:
                log.warning(
                    "bus_consumer_reconnect", group=self.group, error=repr(exc), delay=delay
                )
            finally:
                self._assigned.clear()
                if reporter is not None:
                    reporter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reporter
                self._forget_lag(keep=set())
                self._in_flight.clear()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(consumer.stop(), STOP_TIMEOUT)
            await asyncio.sleep(delay)
            delay = min(max(delay, 0.25) * 2, 10.0)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            if self._rejoin.is_set():
                self._rejoin.clear()
                log.info("bus_consumer_rejoin", group=self.group)
                return
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            if consumer.assignment():
                self._assigned.set()
            if batches:
                for tp, records in batches.items():
                    self._in_flight[tp] = records[0].offset
                await asyncio.gather(
                    *(self._process(consumer, tp, records) for tp, records in batches.items())
                )

    async def _process(self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: Any) -> None:
        bus = self._bus
        for record in records:
            message = Message(
                topic=bus.logical(record.topic),
                key=record.key.decode() if record.key else "",
                value=orjson.loads(record.value),
                headers={name: raw.decode() for name, raw in record.headers or ()},
                partition=record.partition,
                offset=record.offset,
                timestamp=record.timestamp or 0,
            )
            await handle_with_retry(self._handler, message, self.group, bus.metrics, bus.retry)
            self._in_flight[tp] = record.offset + 1
        try:
            flush = getattr(self._handler, "flush", None)
            if flush is not None:
                try:
                    await flush()
                except Exception as exc:
                    # Not committed: the handler still holds the messages and writes them with
                    # a later batch, or the next owner of the partition gets them again.
                    log.warning(
                        "bus_flush_failed",
                        group=self.group,
                        partition=tp.partition,
                        error=repr(exc),
                    )
                    return
            await consumer.commit({tp: records[-1].offset + 1})
        except KafkaError as exc:
            # A rebalance took the partition away: the new owner re-reads from the last commit.
            log.warning(
                "bus_commit_failed", group=self.group, partition=tp.partition, error=repr(exc)
            )
        finally:
            self._in_flight.pop(tp, None)

    async def _report_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Publish the lag every `lag_interval` seconds, independently of the handler, so a
        consumer stuck in a handler shows its backlog growing instead of a frozen number."""
        while True:
            await asyncio.sleep(self._bus.lag_interval)
            try:
                reported = await asyncio.wait_for(
                    self._bus._record_lag(consumer, self.group, self._in_flight), LAG_TIMEOUT
                )
            except (KafkaError, OSError, AssertionError, TimeoutError) as exc:
                log.debug("bus_lag_unavailable", group=self.group, error=repr(exc))
                continue
            self._forget_lag(keep=reported)
            self._lag_series |= reported

    def _forget_lag(self, *, keep: set[tuple[str, str]]) -> None:
        """Drop the series of partitions this consumer no longer owns (rebalance, stop): a
        stale high value would keep KafkaConsumerLagHigh firing for a partition that is fine."""
        gauge = self._bus.metrics.kafka_consumer_lag
        for topic, partition in self._lag_series - keep:
            with contextlib.suppress(KeyError):
                gauge.remove(self.group, topic, partition)
        self._lag_series &= keep

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._bus._subscriptions.discard(self)


SEND_LINGER = 0.005
"""Seconds a batch of `KafkaBus.send` stays open for more messages of its partition."""


@dataclass(eq=False)
class _Batch:
    """Messages of one partition on their way to the producer, and who waits for them."""

    topic: str
    partition: int
    builder: Any
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None

    def settle(self, error: BaseException | None) -> None:
        for waiter in self.waiters:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    def delivered(self, result: asyncio.Future[Any], produced: Any) -> None:
        if result.cancelled():
            self.settle(BackendUnavailable("kafka", "delivery cancelled"))
        elif (error := result.exception()) is not None:
            self.settle(BackendUnavailable("kafka", repr(error)))
        else:
            produced.inc(len(self.waiters))
            self.settle(None)


class KafkaBus:
    """aiokafka producer and consumers. Topics are created at start with their partitions."""

    backend = "kafka"

    def __init__(
        self,
        bootstrap_servers: str,
        metrics: Metrics,
        *,
        topic_prefix: str = "",
        replication_factor: int = 1,
        retry: RetryPolicy | None = None,
        client_id: str = "cryptodash",
        session_timeout_ms: int = 10_000,
        lag_interval: float = 5.0,
        topic_check_interval: float = TOPIC_CHECK_INTERVAL,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic_check_interval = topic_check_interval
        self.session_timeout_ms = session_timeout_ms
        self.lag_interval = lag_interval
        self.metrics = metrics
        self.prefix = topic_prefix
        self.replication_factor = replication_factor
        self.retry = retry or RetryPolicy()
        self.client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()
        self._subscriptions: set[_KafkaSubscription] = set()
        self._ensured: set[str] = set()
        self._batches: dict[tuple[str, int], _Batch] = {}
        self._outbox: asyncio.Queue[_Batch] = asyncio.Queue()
        self._dispatcher: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._admin: AIOKafkaAdminClient | None = None
        # False from a failed topic check until the next good one (topics recreated if they
        # were gone): batches are refused meanwhile, so their senders hold them.
        self._available = True

    def physical(self, topic: str) -> str:
        return f"{self.prefix}{topic}"

    def logical(self, topic: str) -> str:
        return topic[len(self.prefix) :] if self.prefix and topic.startswith(self.prefix) else topic

    async def start(self) -> None:
        """Connect and create the known topics; a broker that is down is retried on use."""
        try:
            await self._ensure_topics(TOPIC_PARTITIONS)
            await self._get_producer()
        except BackendUnavailable as exc:
            log.warning("bus_start_degraded", error=exc.detail)
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch_topics(), name="bus:topics")

    async def _watch_topics(self) -> None:
        """Recreate topics that disappeared — a broker that came back without its data (the
        test broker keeps it in memory; a cluster restored empty) — with their partition
        counts, before producers send into them, and make the consumers of those topics join
        again (one that joined while a topic was missing owns none of its partitions)."""
        while True:
            # Every `topic_check_interval` s; while the broker is unreachable, every 0.2 s, so
            # the topics are back before producers have sent much into the void.
            interval = self.topic_check_interval
            await asyncio.sleep(interval if self._available else min(0.2, interval))
            if not self._ensured:
                continue
            try:
                missing = await asyncio.wait_for(self._missing_topics(), LAG_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is down (or worse): ask again soon
                if self._available:
                    log.warning("bus_broker_unreachable", error=repr(exc))
                self._available = False
                await self._drop_admin()
                continue
            if missing:
                log.warning("bus_topics_missing", topics=sorted(missing))
                self._ensured.difference_update(missing)
                try:
                    await self._ensure_topics(missing)
                except BackendUnavailable as exc:
                    log.warning("bus_topics_recreate_failed", error=exc.detail)
                    self._available = False
                    continue
                await self._renew_producer()
                log.info("bus_topics_recreated", topics=sorted(missing))
                for subscription in list(self._subscriptions):
                    if missing.intersection(subscription.topics):
                        subscription.rejoin()
            if not self._available:
                log.info("bus_broker_back")
            self._available = True

    async def _renew_producer(self) -> None:
        """Replace the producer after the broker lost its topics: the old one still holds
        batches for partitions that were gone; they fail (their senders hold and resend
        them through the new producer) instead of being retried into the void."""
        old, self._producer = self._producer, None
        if old is None:
            return
        with contextlib.suppress(Exception):
            await old._sender.close()
        with contextlib.suppress(Exception):
            old._message_accumulator.fail_all(
                KafkaConnectionError("the broker restarted without its data")
            )
        with contextlib.suppress(Exception):
            await old.client.close()

    async def _missing_topics(self) -> set[str]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers,
                client_id=self.client_id,
                request_timeout_ms=5_000,
            )
            try:
                await admin.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await admin.close()
                raise
            self._admin = admin
        existing = set(await self._admin.list_topics())
        return {t for t in self._ensured if self.physical(t) not in existing}

    async def _drop_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()

    async def _ensure_topics(self, topics: Iterable[str]) -> None:
        wanted = [t for t in topics if t not in self._ensured]
        if not wanted:
            return
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            request_timeout_ms=10_000,
        )
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            new = [
                NewTopic(
                    self.physical(t),
                    num_partitions=TOPIC_PARTITIONS.get(t, DEFAULT_PARTITIONS),
                    replication_factor=self.replication_factor,
                    topic_configs={"retention.ms": str(RETENTION_MS)},
                )
                for t in wanted
                if self.physical(t) not in existing
            ]
            if new:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(new)
            self._ensured.update(wanted)
        except (KafkaError, OSError) as exc:
            raise BackendUnavailable("kafka", repr(exc)) from exc
        finally:
            with contextlib.suppress(Exception):
                await admin.close()

    async def _get_producer(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._producer_lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap_servers,
                    client_id=self.client_id,
                    acks="all",
                    linger_ms=5,
                    # 16 KB default batches capped publishing at ~4k ticks/s; 256 KB doubles it.
                    max_batch_size=256 * 1024,
                    request_timeout_ms=10_000,
                )
                try:
                    await producer.start()
                except (KafkaError, OSError) as exc:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise BackendUnavailable("kafka", repr(exc)) from exc
                self._producer = producer
        return self._producer

    async def publish(
        self,
        topic: str,
        key: str,
        value: Any,
        *,
        schema: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        await self._ensure_topics([topic])
        producer = await self._get_producer()
        partitions = TOPIC_PARTITIONS.get(topic, DEFAULT_PARTITIONS)
        try:
            await producer.send_and_wait(
                self.physical(topic),
                orjson.dumps(value),
                key=key.encode(),
                partition=partition_for(key, partitions),
                headers=[(k, v.encode()) for k, v in envelope_headers(schema, headers).items()],
            )
        except (KafkaError, AssertionError) as exc:  # AssertionError: a partition it lost
            raise BackendUnavailable("kafka", repr(exc)) from exc
        self.metrics.bus_counter(topic, "produced").inc()

    async def send(
        self,
        topic: str,
        key: str,
        value: Any,
        *,
        schema: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> asyncio.Future[None]:
        """Append the message to an open batch of its partition and return; the batch goes
        to the producer when full or `SEND_LINGER` seconds after its first message, and the
        future completes when the broker has acknowledged it. Building batches here (in C,
        through aiokafka's batch builder) costs a fraction of a `producer.send` per message.
        Callers bound how many messages they keep in flight (`TickPublisher` does)."""
        await self._ensure_topics([topic])
        producer = await self._get_producer()
        partition = partition_for(key, TOPIC_PARTITIONS.get(topic, DEFAULT_PARTITIONS))
        record = {
            "timestamp": None,
            "key": key.encode(),
            "value": orjson.dumps(value),
            "headers": [(k, v.encode()) for k, v in envelope_headers(schema, headers).items()],
        }
        batch = self._batches.get((topic, partition)) or self._open_batch(
            producer, topic, partition
        )
        if batch.builder.append(**record) is None:  # full: send it, start the next
            self._dispatch(batch)
            batch = self._open_batch(producer, topic, partition)
            if batch.builder.append(**record) is None:
                raise BackendUnavailable("kafka", "message larger than a batch")
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        batch.waiters.append(stored)
        return stored

    def _open_batch(self, producer: AIOKafkaProducer, topic: str, partition: int) -> _Batch:
        batch = _Batch(topic, partition, producer.create_batch())
        batch.timer = asyncio.get_running_loop().call_later(SEND_LINGER, self._dispatch, batch)
        self._batches[(topic, partition)] = batch
        return batch

    def _dispatch(self, batch: _Batch) -> None:
        """Queue a batch for the producer (in order: one dispatcher hands them over)."""
        if self._batches.get((batch.topic, batch.partition)) is batch:
            del self._batches[(batch.topic, batch.partition)]
        if batch.timer is not None:
            batch.timer.cancel()
        self._outbox.put_nowait(batch)
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._hand_over(), name="bus:batches")

    async def _hand_over(self) -> None:
        while True:
            batch = await self._outbox.get()
            if not self._available:
                batch.settle(BackendUnavailable("kafka", "broker unreachable"))
                continue
            try:
                producer = await self._get_producer()
                delivery = await producer.send_batch(
                    batch.builder, self.physical(batch.topic), partition=batch.partition
                )
            except asyncio.CancelledError:
                batch.settle(BackendUnavailable("kafka", "bus closed"))
                raise
            except Exception as exc:
                # Any refusal settles the batch (its senders hold and resend it): aiokafka also
                # raises AssertionError("Unrecognized partition") while a topic it knew is gone
                # (a broker back without its data), and a batch left unsettled is lost.
                batch.settle(BackendUnavailable("kafka", repr(exc)))
                continue
            produced = self.metrics.bus_counter(batch.topic, "produced")
            delivery.add_done_callback(lambda result, b=batch, c=produced: b.delivered(result, c))

    def _consumer(self, topics: Sequence[str], group: str, from_latest: bool) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *(self.physical(t) for t in topics),
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            group_id=f"{self.prefix}{group}",
            enable_auto_commit=False,
            auto_offset_reset="latest" if from_latest else "earliest",
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=max(100, self.session_timeout_ms // 6),
            metadata_max_age_ms=30_000,
        )

    async def subscribe(
        self,
        topics: Sequence[str],
        group: str,
        handler: Handler,
        *,
        from_latest: bool = False,
    ) -> _KafkaSubscription:
        with contextlib.suppress(BackendUnavailable):
            await self._ensure_topics(topics)
        subscription = _KafkaSubscription(self, topics, group, handler, from_latest=from_latest)
        self._subscriptions.add(subscription)
        subscription.start()
        return subscription

    async def _record_lag(
        self,
        consumer: AIOKafkaConsumer,
        group: str,
        in_flight: Mapping[TopicPartition, int],
    ) -> set[tuple[str, str]]:
        """kafka_consumer_lag = log end offset - the next offset to handle, per owned partition.

        The end offsets are asked of the broker each time (not the high-water mark of the last
        fetch, which stops moving while a handler is stuck). The next offset to handle is the
        consumer's position, or, while a batch is in the handlers' hands, the first message of
        it not yet handled. Returns the (topic, partition) labels published.
        """
        assignment = list(consumer.assignment())
        if not assignment:
            return set()
        ends = await consumer.end_offsets(assignment)
        reported: set[tuple[str, str]] = set()
        for tp in assignment:
            end = ends.get(tp)
            try:
                position = await consumer.position(tp)
            except (KafkaError, AssertionError):
                continue  # revoked meanwhile
            if end is None:
                continue
            labels = (self.logical(tp.topic), str(tp.partition))
            self.metrics.kafka_consumer_lag.labels(group, *labels).set(
                max(0, end - in_flight.get(tp, position))
            )
            reported.add(labels)
        return reported

    async def ping(self) -> None:
        if not self._available:
            raise BackendUnavailable("kafka", "broker unreachable or its topics being restored")
        producer = self._producer
        if producer is None:
            # Not connected yet (or the broker was down at start): try now.
            await self._ensure_topics(TOPIC_PARTITIONS)
            producer = await self._get_producer()
        try:
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 3.0)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise BackendUnavailable("kafka", repr(exc)) from exc

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        await self._drop_admin()
        for subscription in list(self._subscriptions):
            await subscription.stop()
        for batch in list(self._batches.values()):  # what was sent still goes out
            self._dispatch(batch)
        if self._dispatcher is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_drained(self._outbox), 10)
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
        while not self._outbox.empty():
            self._outbox.get_nowait().settle(BackendUnavailable("kafka", "bus closed"))
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), STOP_TIMEOUT)
            self._producer = None


async def _drained(queue: asyncio.Queue[Any]) -> None:
    while not queue.empty():  # noqa: ASYNC110 - the dispatcher empties it
        await asyncio.sleep(0.01)


def build_bus(
    bootstrap_servers: str | None,
    metrics: Metrics,
    *,
    topic_prefix: str = "",
    replication_factor: int = 1,
    client_id: str = "cryptodash",
    session_timeout_ms: int = 10_000,
) -> Bus:
    if bootstrap_servers:
        return KafkaBus(
            bootstrap_servers,
            metrics,
            topic_prefix=topic_prefix,
            replication_factor=replication_factor,
            client_id=client_id,
            session_timeout_ms=session_timeout_ms,
        )
    return MemoryBus(metrics)
