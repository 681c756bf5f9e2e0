"""Cost of the gateway's middleware on a public read: the full stack (request id, metrics and
request log, security headers, CORS, rate limit, body limit, the app-wide auth dependency)
against bare FastAPI serving the same route table.

    .venv/bin/python bench/middleware.py [--requests 5000] [--runs 5] 2>/dev/null

Calls the ASGI apps directly (no sockets, no HTTP client) so the figure is the framework and
middleware work itself: the hot read path must stay within 2x of bare FastAPI. Logging is set
up as in production (JSON, INFO, one line per request, to stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import empty_body, http_scope
from fastapi import APIRouter, FastAPI


def route() -> APIRouter:
    from cryptodash.auth import Public

    router = APIRouter(dependencies=[Public])

    @router.get("/api/market/coins")
    async def coins() -> dict[str, Any]:
        return {"coins": [{"coin_id": "bitcoin", "price": 67123.45}]}

    return router


async def drive(app: Any, requests: int) -> float:
    scope = http_scope(
        "/api/market/coins",
        [(b"host", b"bench"), (b"accept", b"application/json")],
        client=("127.0.0.1", 5000),
        server=("bench", 80),
    )
    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    started = time.perf_counter()
    for _ in range(requests):
        await app(dict(scope, headers=list(scope["headers"])), empty_body, send)
    elapsed = time.perf_counter() - started
    assert set(status) == {200}, set(status)
    return requests / elapsed


async def main(requests: int, runs: int) -> None:
    from cryptodash.app import create_app
    from cryptodash.config import Settings
    from cryptodash.platform.logging import configure_logging

    configure_logging(service="bench", level=os.environ.get("BENCH_LOG_LEVEL", "INFO"), json=True)

    from cryptodash.gateway.health import router as health_router
    from cryptodash.users.routes import routers as users_routers

    # The same route table, without the middleware and the app-wide auth dependency.
    bare = FastAPI()
    for router in (health_router, *users_routers(), route()):
        bare.include_router(router)
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            env="test",
            data_dir=Path(data_dir),
            rate_limit_anon_per_min=10**9,
        )
        full = create_app(settings)
        full.include_router(route())
        async with full.router.lifespan_context(full):
            for app in (bare, full):
                await drive(app, 200)  # warm up
            results: dict[str, list[float]] = {"bare": [], "full": []}
            for _ in range(runs):
                results["bare"].append(await drive(bare, requests))
                results["full"].append(await drive(full, requests))
    bare_rps = statistics.median(results["bare"])
    full_rps = statistics.median(results["full"])
    print(f"bare FastAPI: {bare_rps:,.0f} req/s (median of {runs})")
    print(f"cryptodash stack: {full_rps:,.0f} req/s (median of {runs})")
    print(f"slowdown: {bare_rps / full_rps:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.runs))
