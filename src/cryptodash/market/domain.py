"""What the market domain contributes to a process: its routes, and its workers —

- ``market.persister``: consumes `price_updates` into prices, candles and the cache;
- ``market.feed.<exchange>``: one per source in `CRYPTODASH_EXCHANGES` that has a module in
  `cryptodash.market.exchanges` (singleton across replicas);
- ``market.maintenance``: hourly retention and `prices` partitions (singleton).

It also adds the ``feeds`` readiness check: a feed not connected for 30 s makes the service
"degraded".
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptodash.market import service
from cryptodash.market.coins import Universe
from cryptodash.market.consumer import GROUP, PricePersister
from cryptodash.market.exchanges.feed import feeds_check
from cryptodash.market.ingest import PRICE_UPDATES
from cryptodash.platform.logging import get_logger
from cryptodash.platform.singleton import run_singleton
from cryptodash.runtime import Domain, Platform, Worker

if TYPE_CHECKING:
    from fastapi import APIRouter

log = get_logger(__name__)

MAINTENANCE_EVERY = 3600.0
PERSISTER_WAIT = 10.0


class MarketWorkers:
    """The market's workers in one process; feeds wait (briefly) for the local persister so
    the in-process bus, which keeps no log, loses no first ticks."""

    def __init__(self, platform: Platform) -> None:
        self.universe = Universe.from_settings(platform.settings)
        self.persister_ready = asyncio.Event()
        self.started_at = time.time()

    def workers(self, platform: Platform) -> list[tuple[str, Worker]]:
        found: list[tuple[str, Worker]] = []
        exchanges = self.universe.exchanges
        platform.readiness_checks["feeds"] = lambda: feeds_check(
            platform.cache, exchanges, self.started_at
        )
        if platform.db is not None:
            found.append(("market.persister", self.persister))
            found.append(("market.maintenance", self.maintenance))
        for exchange in self.universe.exchanges:
            module_name = f"cryptodash.market.exchanges.{exchange}"
            if importlib.util.find_spec(module_name) is None:
                log.warning("market_feed_missing", exchange=exchange)
                continue
            found.append((f"market.feed.{exchange}", self._feed(module_name)))
        return found

    async def persister(self, platform: Platform) -> None:
        assert platform.db is not None
        await platform.schema_ready.wait()
        settings = platform.settings
        persister = PricePersister(
            db=platform.db,
            cache=platform.cache,
            metrics=platform.metrics,
            universe=self.universe,
            stale_after=settings.price_stale_seconds,
            flush_interval=settings.market_flush_seconds,
            price_retention_days=settings.price_retention_days,
            durable_offsets=platform.bus.backend == "kafka",
            consumer=f"{settings.bus_topic_prefix}{GROUP}",
        )
        subscription = await platform.bus.subscribe([PRICE_UPDATES], GROUP, persister)
        self.persister_ready.set()
        try:
            await persister.run()
        finally:
            self.persister_ready.clear()
            await subscription.stop()

    def _feed(self, module_name: str) -> Worker:
        async def feed(platform: Platform) -> None:
            run = importlib.import_module(module_name).run
            await platform.schema_ready.wait()
            if platform.db is not None:
                try:
                    await asyncio.wait_for(self.persister_ready.wait(), PERSISTER_WAIT)
                except TimeoutError:
                    log.warning("market_feed_without_persister", feed=module_name)
            await run_singleton(platform.db, module_name, lambda: run(platform))

        return feed

    async def maintenance(self, platform: Platform) -> None:
        assert platform.db is not None
        await platform.schema_ready.wait()
        await run_singleton(platform.db, "market.maintenance", lambda: self._maintain(platform))

    async def _maintain(self, platform: Platform) -> None:
        assert platform.db is not None
        settings = platform.settings
        while True:
            try:
                pruned = await service.prune(
                    platform.db,
                    price_retention_days=settings.price_retention_days,
                    candle_1m_retention_days=settings.candle_1m_retention_days,
                )
                log.info(
                    "market_maintenance",
                    price_rows=pruned.price_rows,
                    dropped_partitions=list(pruned.price_partitions),
                    created_partitions=pruned.partitions_created,
                    candles_1m=pruned.candles_1m,
                )
            except Exception as exc:
                log.warning("market_maintenance_failed", error=repr(exc))
            await asyncio.sleep(MAINTENANCE_EVERY)


def _routers() -> Sequence[APIRouter]:
    from cryptodash.market.routes import router

    return [router]


def _workers(platform: Platform) -> list[tuple[str, Worker]]:
    return MarketWorkers(platform).workers(platform)


DOMAIN = Domain("market", routers=_routers, workers=_workers)
