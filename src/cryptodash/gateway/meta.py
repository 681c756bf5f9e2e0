"""`GET /api/meta`: what the web app needs to know about this server before it draws anything —
demo mode (it shows "Simulated data"), the API services and WebSocket streams this process
answers, and the exchange connections (from the `exchange_connection_up` gauge)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.routing import BaseRoute, Mount, WebSocketRoute

from cryptodash import __version__
from cryptodash.auth import Public
from cryptodash.deps import PlatformDep
from cryptodash.runtime import DOMAIN_NAMES

router = APIRouter(tags=["meta"], dependencies=[Public])

# Paths that belong to a domain without carrying its name.
_PATH_OWNERS = {"watchlist": "portfolio", "admin": "users"}


def _flat(routes: list[BaseRoute]) -> Iterator[tuple[str, BaseRoute]]:
    """(effective path, route) of every route. FastAPI ≥ 0.165 keeps included routers as
    lazy nodes that `iter_route_contexts` expands; older versions copy the routes flat."""
    try:
        from fastapi.routing import iter_route_contexts  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # pragma: no cover - older FastAPI
        for route in routes:
            yield getattr(route, "path", ""), route
        return
    for context in iter_route_contexts(routes):
        yield context.path or "", context.original_route


def _paths(routes: list[BaseRoute]) -> list[tuple[str, bool]]:
    """(path, is_websocket) of every route, mounts flattened. A mount of a plain app at
    `/api` (the split gateway's proxy) stands for every service."""
    found: list[tuple[str, bool]] = []
    for path, route in _flat(routes):
        if isinstance(route, Mount) and route.routes:
            found.extend((path + sub, ws) for sub, ws in _paths(list(route.routes)))
        elif isinstance(route, Mount) and path == "/api":
            found.extend((f"/api/{name}/", False) for name in DOMAIN_NAMES)
        else:
            found.append((path, isinstance(route, WebSocketRoute)))
    return found


def services_and_streams(routes: list[BaseRoute]) -> tuple[list[str], list[str]]:
    services: set[str] = set()
    streams: set[str] = set()
    for path, websocket in _paths(routes):
        parts = path.strip("/").split("/")
        if websocket and len(parts) >= 2 and parts[0] == "ws":
            streams.add(parts[1])
        elif len(parts) >= 2 and parts[0] == "api":
            name = _PATH_OWNERS.get(parts[1], parts[1])
            if name in DOMAIN_NAMES:
                services.add(name)
    return sorted(services), sorted(streams)


@router.get("/api/meta")
async def meta(request: Request, platform: PlatformDep) -> dict[str, Any]:
    services, streams = services_and_streams(list(request.app.routes))
    exchanges: dict[str, bool] = {}
    for metric in platform.metrics.exchange_connection_up.collect():
        for sample in metric.samples:
            exchanges[sample.labels["exchange"]] = sample.value >= 1
    return {
        "demo": platform.demo,
        "version": __version__,
        "services": services,
        "streams": streams,
        "exchanges": [
            {"name": name, "connected": connected} for name, connected in sorted(exchanges.items())
        ],
    }
