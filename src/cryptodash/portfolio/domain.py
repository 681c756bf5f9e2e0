"""What the portfolio domain contributes to a process: its routes (`/api/portfolio/*`,
`/api/watchlist*`) and the hourly snapshot job (a singleton across replicas)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptodash.platform.singleton import run_singleton
from cryptodash.runtime import Domain, Platform, Worker

if TYPE_CHECKING:
    from fastapi import APIRouter

SNAPSHOT_JOB = "portfolio.snapshots"


def _routers() -> Sequence[APIRouter]:
    from cryptodash.portfolio.routes import router, watchlist

    return [router, watchlist]


async def _snapshots(platform: Platform) -> None:
    from cryptodash.portfolio.service import run_snapshots

    await platform.schema_ready.wait()
    db = platform.db
    assert db is not None
    await run_singleton(
        db,
        SNAPSHOT_JOB,
        lambda: run_snapshots(
            db, platform.cache, settings=platform.settings, metrics=platform.metrics
        ),
    )


def _workers(platform: Platform) -> Sequence[tuple[str, Worker]]:
    if platform.db is None:
        return ()
    return [(SNAPSHOT_JOB, _snapshots)]


DOMAIN = Domain("portfolio", routers=_routers, workers=_workers)
