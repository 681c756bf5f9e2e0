"""`GET /api/meta`: demo flag, services and streams this process answers, exchange status."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, WebSocket

from cryptodash.gateway.meta import services_and_streams
from tests.apps import make_settings, running


async def test_meta_is_public_and_says_demo(data_dir: Path) -> None:
    async with running(make_settings(data_dir, demo=True)) as (app, client):
        app.state.platform.metrics.exchange_connection_up.labels("simulator").set(1)
        app.state.platform.metrics.exchange_connection_up.labels("binance").set(0)
        response = await client.get("/api/meta")
    assert response.status_code == 200
    body = response.json()
    assert body["demo"] is True
    assert body["version"]
    assert isinstance(body["services"], list)
    assert isinstance(body["streams"], list)
    assert body["exchanges"] == [
        {"name": "binance", "connected": False},
        {"name": "simulator", "connected": True},
    ]


async def test_meta_without_demo(data_dir: Path) -> None:
    async with running(make_settings(data_dir)) as (_, client):
        body = (await client.get("/api/meta")).json()
    assert body["demo"] is False
    assert body["exchanges"] == []


def test_services_and_streams_come_from_the_routes() -> None:
    app = FastAPI()
    market = APIRouter()
    market.add_api_route("/api/market/coins", lambda: None)
    market.add_api_route("/api/watchlist", lambda: None)
    market.add_api_route("/api/admin/users", lambda: None)
    market.add_api_route("/api/meta", lambda: None)

    async def prices(websocket: WebSocket) -> None:  # pragma: no cover - never called
        await websocket.close()

    market.add_api_websocket_route("/ws/prices", prices)
    app.include_router(market)
    services, streams = services_and_streams(list(app.routes))
    assert services == ["market", "portfolio", "users"]
    assert streams == ["prices"]


def test_a_proxy_mounted_at_api_stands_for_every_service() -> None:
    app = FastAPI()

    async def proxy(scope: object, receive: object, send: object) -> None:  # pragma: no cover
        raise NotImplementedError

    app.mount("/api", proxy)  # type: ignore[arg-type]
    services, _ = services_and_streams(list(app.routes))
    assert services == ["analytics", "market", "portfolio", "sentiment", "users"]
