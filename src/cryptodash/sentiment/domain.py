"""What the sentiment domain contributes to a process: its API and its pipeline worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptodash.runtime import Domain, Platform, Worker

if TYPE_CHECKING:
    from fastapi import APIRouter


def _routers() -> Sequence[APIRouter]:
    from cryptodash.sentiment.routes import router

    return [router]


def _workers(platform: Platform) -> Sequence[tuple[str, Worker]]:
    from cryptodash.sentiment.ingest import pipeline_worker

    return [("sentiment.pipeline", pipeline_worker)]


DOMAIN = Domain("sentiment", routers=_routers, workers=_workers)
