"""Build an app with settings for a test and talk to it in-process (lifespan included)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from cryptodash.app import create_app
from cryptodash.cli import server_config
from cryptodash.config import Settings
from tests.helpers import free_port


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "data_dir": data_dir,
        "bcrypt_rounds": 4,
        "database_url": None,
        "redis_url": None,
        "kafka_bootstrap_servers": None,
        "log_json": True,
        # Generous limits, so tests that make many calls are not throttled; the rate-limit
        # tests set their own.
        "rate_limit_anon_per_min": 100_000,
        "rate_limit_user_per_min": 100_000,
        "rate_limit_auth_per_min": 100_000,
        "rate_limit_ws_per_min": 100_000,
        # The domains' tests read a value right after changing it; the edge cache (answers up
        # to a second old) has tests of its own (tests/gateway/test_edge.py) and is on in the
        # tests that run `cryptodash up` and in the schemathesis run.
        "edge_cache": False,
        # Never the real exchanges: a closed local port (the connector tests start fakes).
        "binance_ws_url": "ws://127.0.0.1:9",
        "binance_rest_url": "http://127.0.0.1:9",
        "coinbase_ws_url": "ws://127.0.0.1:9",
        "coinbase_rest_url": "http://127.0.0.1:9",
        # API only unless a test serves a web app of its own (the real build may be there).
        "frontend_dir": data_dir / "no-frontend",
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running(
    settings: Settings, *, service: str = "all"
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings, service=service)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


@asynccontextmanager
async def serving(
    settings: Settings, *, service: str = "all"
) -> AsyncIterator[tuple[FastAPI, str]]:
    """The app behind a real uvicorn server (as the CLI configures it) on a free port, in this
    event loop: yields the app and its `ws://host:port` base (WebSockets need a real server)."""
    import uvicorn

    app = create_app(settings, service=service)
    port = free_port()
    server = uvicorn.Server(server_config(app, "127.0.0.1", port))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the server stopped before it started")
            await asyncio.sleep(0.02)
        yield app, f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
