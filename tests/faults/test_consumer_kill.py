"""SIGKILL of a split-mode consumer: two `cryptodash serve market` processes in one consumer
group on the Kafka-protocol broker (the session's Tansu, or KAFKA_BOOTSTRAP_SERVERS); one is
killed without warning while ticks flow. Its partitions move to the other member, which
resumes from the last committed offsets — and the data proves nothing was lost or applied
twice: every tick's volume is in `prices` exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest

from cryptodash.market.coins import DEFAULT_COINS
from cryptodash.market.ingest import publish_tick
from cryptodash.market.normalize import Tick
from cryptodash.platform.bus import KafkaBus
from cryptodash.platform.metrics import Metrics
from tests.helpers import eventually, free_port
from tests.test_cli import CLI, clean_env, run, wait_healthy

RATE = 40
"""Ticks a second, spread over the 20 coins (so over every partition)."""


@contextmanager
def market_process(port: int, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*CLI, "serve", "market", "--port", str(port)], env=env, stdout=out, stderr=out
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def consumed(port: int) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("bus_messages_total")
        and 'direction="consumed"' in line
        and 'topic="price_updates"' in line
    )


async def stored(pg_url: str) -> dict[tuple[str, int], Decimal]:
    conn = await asyncpg.connect(pg_url)
    try:
        rows = await conn.fetch(
            "SELECT coin_id, timestamp, volume FROM prices WHERE source = 'binance'"
        )
    finally:
        await conn.close()
    found: dict[tuple[str, int], Decimal] = {}
    for row in rows:
        key = (row["coin_id"], int(row["timestamp"].timestamp()))
        assert key not in found, f"two rows for {key}"
        found[key] = Decimal(row["volume"])
    return found


class Ticker:
    """Publishes ticks with known volumes and remembers what each second must add up to."""

    def __init__(self, bus: KafkaBus) -> None:
        self.bus = bus
        self.expected: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
        self.n = 0

    async def run(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.n += 1
            coin = DEFAULT_COINS[self.n % len(DEFAULT_COINS)]
            at = datetime.now(UTC) - timedelta(milliseconds=5)
            volume = Decimal(self.n) / 1000
            await publish_tick(
                self.bus, Tick(coin, "binance", Decimal(100 + self.n % 7), volume, at, "USDT")
            )
            self.expected[(coin, int(at.timestamp()))] += volume
            await asyncio.sleep(1 / RATE)

    async def all_stored(self, pg_url: str) -> bool:
        got = await stored(pg_url)
        return all(got.get(key) == volume for key, volume in self.expected.items())


@pytest.mark.timeout(300)  # its waits add up on a machine loaded by make test
async def test_sigkill_of_a_consumer_moves_its_partitions_and_loses_nothing(
    pg_url: str, redis_url: str, kafka_bootstrap: str, tmp_path: Path, topic_prefix: str
) -> None:
    env = clean_env(
        DATABASE_URL=pg_url,
        REDIS_URL=redis_url,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        JWT_SECRET="faults-split-secret-" + "x" * 32,
        CRYPTODASH_BUS_TOPIC_PREFIX=topic_prefix,
        CRYPTODASH_KAFKA_SESSION_TIMEOUT_MS="2000",
        CRYPTODASH_EXCHANGES="binance",
        CRYPTODASH_BINANCE_WS_URL="ws://127.0.0.1:9",
        CRYPTODASH_BINANCE_REST_URL="http://127.0.0.1:9",
        CRYPTODASH_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    migrated = run("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    bus = KafkaBus(kafka_bootstrap, Metrics(), topic_prefix=topic_prefix)
    await bus.start()
    ticker = Ticker(bus)
    ports = [free_port(), free_port()]
    try:
        with (
            market_process(ports[0], env, tmp_path / "a.log") as victim,
            market_process(ports[1], env, tmp_path / "b.log") as survivor,
        ):
            for port in ports:
                await asyncio.to_thread(wait_healthy, port, 60)

            # Both members own partitions: each has consumed some of the ticks.
            async def both_consuming() -> bool:
                await ticker.run(0.5)
                return all(await asyncio.gather(*(asyncio.to_thread(consumed, p) for p in ports)))

            await eventually(both_consuming, timeout=60, interval=0)
            await eventually(lambda: ticker.all_stored(pg_url), timeout=30, interval=0.2)

            before = await asyncio.to_thread(consumed, ports[1])
            published = ticker.n
            os.kill(victim.pid, signal.SIGKILL)  # no shutdown, no commit, no goodbye
            victim.wait()
            await ticker.run(4.0)  # ticks for its partitions too, while it is gone
            try:
                await eventually(lambda: ticker.all_stored(pg_url), timeout=60, interval=0.5)
            finally:
                got = await stored(pg_url)
                wrong = {k: (v, got.get(k)) for k, v in ticker.expected.items() if got.get(k) != v}
                print("wrong", len(wrong), sorted(wrong.items())[:5])
            assert survivor.poll() is None
            # The survivor took over: every tick since the kill went through it.
            after = await asyncio.to_thread(consumed, ports[1])
            assert after - before >= ticker.n - published
    finally:
        await bus.close()
    got = await stored(pg_url)
    assert {k: v for k, v in got.items() if k in ticker.expected} == dict(ticker.expected)
    assert not set(got) - set(ticker.expected)
