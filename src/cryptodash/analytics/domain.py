"""What the analytics domain contributes to a process: its routes, the indicator consumer
and the correlation job (a singleton across replicas)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fastapi import APIRouter

from cryptodash.analytics import indicators
from cryptodash.analytics.consumer import run_consumer
from cryptodash.analytics.jobs import JOB_NAME, run_correlation_job
from cryptodash.market.coins import Universe
from cryptodash.platform.singleton import run_singleton
from cryptodash.runtime import Domain, Platform, Worker


def _routers() -> Sequence[APIRouter]:
    from cryptodash.analytics.routes import router

    return [router]


async def _consumer(platform: Platform) -> None:
    # In a thread: the first request then finds SciPy imported, and /health never waited.
    await asyncio.to_thread(indicators.warm_up)
    await platform.schema_ready.wait()
    assert platform.db is not None
    await run_consumer(
        db=platform.db,
        cache=platform.cache,
        bus=platform.bus,
        universe=Universe.from_settings(platform.settings),
    )


async def _correlation(platform: Platform) -> None:
    await platform.schema_ready.wait()
    db = platform.db
    assert db is not None
    universe = Universe.from_settings(platform.settings)
    await run_singleton(db, JOB_NAME, lambda: run_correlation_job(db, platform.cache, universe))


def _workers(platform: Platform) -> Sequence[tuple[str, Worker]]:
    if platform.db is None:
        return ()
    return [("analytics.indicators", _consumer), ("analytics.correlation", _correlation)]


DOMAIN = Domain("analytics", routers=_routers, workers=_workers)
