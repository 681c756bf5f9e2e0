"""Liveness, readiness and the Prometheus scrape endpoint.

`/health` is 200 while the process runs. `/health/ready` checks each configured backend: it is
503 only when the service cannot serve at all (database unreachable or schema behind); an
optional backend that is down (Redis, Kafka) makes it 200 "degraded" with the check named, so
a Redis blip never takes every pod out of the load balancer (ARCHITECTURE §5b). Domains add
checks of their own the same way (`Platform.readiness_checks`: an exchange feed down is
"degraded").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Response

from cryptodash import __version__
from cryptodash.auth import Public
from cryptodash.deps import PlatformDep
from cryptodash.platform import schema
from cryptodash.platform.errors import BackendUnavailable
from cryptodash.runtime import Platform

CHECK_TIMEOUT = 2.0

router = APIRouter(tags=["health"], dependencies=[Public])


@router.get("/health")
async def health(platform: PlatformDep) -> dict[str, str]:
    return {"status": "ok", "service": platform.service, "version": __version__}


async def _check(probe: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT)
    except BackendUnavailable as exc:
        return {"status": "down", "error": exc.detail}
    except TimeoutError:
        return {"status": "down", "error": f"no answer within {CHECK_TIMEOUT:g} s"}
    return {"status": "ok"}


async def _optional(probe: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """A domain's own check (an exchange feed, …): it can degrade readiness, never fail it."""
    try:
        return await asyncio.wait_for(probe(), CHECK_TIMEOUT)
    except TimeoutError:
        return {"status": "down", "error": f"no answer within {CHECK_TIMEOUT:g} s"}
    except Exception as exc:
        return {"status": "down", "error": repr(exc)}


async def _database_check(platform: Platform) -> dict[str, Any]:
    assert platform.db is not None
    result = await _check(platform.db.ping)
    if result["status"] != "ok":
        return result
    try:
        state = await asyncio.wait_for(schema.status(platform.db.engine), CHECK_TIMEOUT)
    except Exception as exc:
        return {"status": "down", "error": repr(exc)}
    if not state.up_to_date:
        return {"status": "down", "error": f"schema behind: {state.describe()}"}
    return {"status": "ok", "backend": platform.db.dialect}


async def readiness(platform: Platform) -> tuple[int, dict[str, Any]]:
    checks: dict[str, Awaitable[dict[str, Any]]] = {}
    if platform.db is not None:
        checks["database"] = _database_check(platform)
    checks["cache"] = _check(platform.cache.ping)
    checks["bus"] = _check(platform.bus.ping)
    for name, probe in platform.readiness_checks.items():
        checks[name] = _optional(probe)
    results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    results["cache"]["backend"] = platform.cache.backend
    results["bus"]["backend"] = platform.bus.backend

    if results.get("database", {}).get("status", "ok") != "ok":
        status, code = "unavailable", 503
    elif any(result["status"] != "ok" for result in results.values()):
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    failing = [name for name, result in results.items() if result["status"] != "ok"]
    return code, {
        "status": status,
        "service": platform.service,
        "failing": failing,
        "checks": results,
    }


@router.get("/health/ready")
async def ready(platform: PlatformDep) -> Response:
    code, body = await readiness(platform)
    return Response(orjson.dumps(body), status_code=code, media_type="application/json")


@router.get("/metrics", include_in_schema=False)
async def metrics(platform: PlatformDep) -> Response:
    if platform.db is not None:
        platform.db.record_pool()
    return Response(platform.metrics.render(), media_type=platform.metrics.content_type)
