"""The correlation job (a singleton, §5b): every minute, the correlation matrix of all
tracked coins per interval from the stored closed candles, written to
`analytics:correlation_{window}:all:{interval}` for `/api/analytics/correlation`. It reads
the store, not the partitioned stream, so it is right whichever replica owns which coins.
"""

from __future__ import annotations

import asyncio
import time

import orjson

from cryptodash.analytics import service
from cryptodash.market.candles import INTERVAL_NAMES
from cryptodash.market.coins import Universe
from cryptodash.platform.cache import Cache
from cryptodash.platform.db import Database
from cryptodash.platform.logging import get_logger

log = get_logger(__name__)

JOB_NAME = "cryptodash.analytics.correlation"
EVERY = 60.0
CORRELATION_TTL = 300.0
"""Five runs' worth: a missed run or two keeps serving the last matrix."""


async def refresh_correlations(db: Database, cache: Cache, universe: Universe) -> int:
    """Recompute and cache the matrix of every interval; returns how many were written."""
    written = 0
    coins = list(universe.ids)
    for interval in INTERVAL_NAMES:
        window = service.CORRELATION_WINDOWS[interval]
        async with db.read_session() as session:
            body = await service.correlation_body(session, universe, coins, interval, window)
        await cache.set(
            service.correlation_key(window, None, interval), orjson.dumps(body), CORRELATION_TTL
        )
        written += 1
    return written


async def run_correlation_job(
    db: Database, cache: Cache, universe: Universe, *, every: float = EVERY
) -> None:
    """Refresh on a fixed cadence until cancelled; one failed run is logged, not fatal."""
    while True:
        started = time.monotonic()
        try:
            await refresh_correlations(db, cache, universe)
        except Exception as exc:
            log.warning("correlation_job_failed", error=repr(exc))
        await asyncio.sleep(max(0.0, every - (time.monotonic() - started)))
