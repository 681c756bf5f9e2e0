"""The running process: its backends (`Platform`), the domains it hosts and their workers.

A `Domain` is what a domain package contributes to a process: routers, and background
workers (bus consumers, feeds, scheduled jobs). All-in-one hosts every domain; a split service
hosts one. Workers are supervised: one that crashes is logged and restarted with backoff, so a
failing dependency degrades the product and never ends the process.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptodash.config import Settings
from cryptodash.platform.bus import Bus, build_bus
from cryptodash.platform.cache import Cache, RedisCache, build_cache
from cryptodash.platform.db import Database
from cryptodash.platform.logging import get_logger
from cryptodash.platform.metrics import Metrics

if TYPE_CHECKING:
    from fastapi import APIRouter

log = get_logger(__name__)

ALL_IN_ONE = "all"

# What each split service refuses to start without (ARCHITECTURE §5b). The gateway needs no
# database: it proxies the API and fans the bus out to WebSocket clients.
SERVICE_NEEDS: dict[str, frozenset[str]] = {
    "gateway": frozenset({"redis", "kafka"}),
    "users": frozenset({"database", "redis"}),
    "market": frozenset({"database", "redis", "kafka"}),
    "analytics": frozenset({"database", "redis", "kafka"}),
    "sentiment": frozenset({"database", "redis", "kafka"}),
    "portfolio": frozenset({"database", "redis", "kafka"}),
}
DOMAIN_NAMES = ("users", "market", "analytics", "sentiment", "portfolio")


@dataclass
class Platform:
    settings: Settings
    service: str
    metrics: Metrics
    cache: Cache
    bus: Bus
    db: Database | None
    jwt_secret: str | None = None
    schema_ready: asyncio.Event = field(default_factory=asyncio.Event)
    schema_problem: str | None = None
    readiness_checks: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = field(
        default_factory=dict
    )
    """Checks domains add to `/health/ready` (an exchange feed, …): a failing one makes the
    service "degraded", never unavailable."""

    @property
    def all_in_one(self) -> bool:
        return self.service == ALL_IN_ONE

    @property
    def demo(self) -> bool:
        return self.settings.demo

    async def close(self) -> None:
        for closer in (self.bus.close, self.cache.close):
            try:
                await closer()
            except Exception as exc:  # closing must go on whatever one backend does
                log.warning("close_failed", error=repr(exc))
        if self.db is not None:
            await self.db.close()


def build_platform(settings: Settings, service: str) -> Platform:
    metrics = Metrics()
    needs_db = service == ALL_IN_ONE or "database" in SERVICE_NEEDS[service]
    db = None
    if needs_db:
        if not settings.database_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(
            settings.effective_database_url,
            read_url=settings.database_read_url,
            metrics=metrics,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
    client_id = "cryptodash" if service == ALL_IN_ONE else f"cryptodash-{service}"
    return Platform(
        settings=settings,
        service=service,
        metrics=metrics,
        cache=build_cache(
            settings.redis_url, metrics, max_connections=settings.redis_max_connections
        ),
        bus=build_bus(
            settings.kafka_bootstrap_servers,
            metrics,
            topic_prefix=settings.bus_topic_prefix,
            replication_factor=settings.kafka_replication_factor,
            client_id=client_id,
            session_timeout_ms=settings.kafka_session_timeout_ms,
        ),
        db=db,
    )


async def start_platform(platform: Platform) -> None:
    if isinstance(platform.cache, RedisCache):
        await platform.cache.warm(platform.settings.redis_min_connections)
    await platform.bus.start()


Worker = Callable[[Platform], Awaitable[None]]


@dataclass(frozen=True)
class Domain:
    name: str
    routers: Callable[[], Sequence[APIRouter]] = lambda: ()
    workers: Callable[[Platform], Sequence[tuple[str, Worker]]] = lambda _: ()


def load_domain(name: str) -> Domain:
    """A domain package contributes through `cryptodash.<name>.domain:DOMAIN` once it has one."""
    module_name = f"cryptodash.{name}.domain"
    if importlib.util.find_spec(module_name) is None:
        return Domain(name)
    domain: Domain = importlib.import_module(module_name).DOMAIN
    return domain


def hosted_domains(service: str) -> list[Domain]:
    if service == ALL_IN_ONE:
        return [load_domain(name) for name in DOMAIN_NAMES]
    if service == "gateway":
        return []
    return [load_domain(service)]


async def supervise(
    name: str, worker: Worker, platform: Platform, *, max_delay: float = 60.0
) -> None:
    """Run a worker forever: restart it with exponential backoff whenever it fails or returns."""
    delay = 1.0
    while True:
        started = asyncio.get_running_loop().time()
        try:
            await worker(platform)
            log.warning("worker_returned", worker=name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("worker_failed", worker=name, error=repr(exc))
        if asyncio.get_running_loop().time() - started > max_delay:
            delay = 1.0  # it ran well for a while: this is a fresh failure
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)
