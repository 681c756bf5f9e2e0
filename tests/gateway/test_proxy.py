"""Split-mode routing: the gateway streams /api/<service>/… to the service that owns it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cryptodash.gateway.proxy import service_for
from tests.apps import make_settings, running
from tests.helpers import free_port


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "length": len(body),
            "request_id": request.headers.get("x-request-id"),
            "forwarded_for": request.headers.get("x-forwarded-for"),
            "forwarded_proto": request.headers.get("x-forwarded-proto"),
            "authorization": request.headers.get("authorization"),
            "host": request.headers.get("host"),
        },
        status_code=201 if request.method == "POST" else 200,
        headers={
            "x-request-id": "upstream-id",
            "content-security-policy": "upstream-policy",
            "access-control-allow-origin": "*",
            "set-cookie": "upstream=1; HttpOnly",
        },
    )


async def stream(_: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(5):
            yield f"chunk{i};".encode()
            await asyncio.sleep(0.01)

    return StreamingResponse(chunks(), media_type="text/plain")


async def slow(_: Request) -> Response:
    await asyncio.sleep(1.2)
    return Response("late")


upstream_app = Starlette(
    routes=[
        Route("/api/users/{rest:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/api/admin/{rest:path}", echo),
        Route("/api/market/stream", stream),
        Route("/api/analytics/slow", slow),
        Route("/api/portfolio/{rest:path}", echo),
        Route("/api/watchlist", echo),
        Route("/api/watchlist/{rest:path}", echo),
    ]
)


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - waiting for our own server task
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def gateway(data_dir: Path):  # type: ignore[no-untyped-def]
    async with serving(upstream_app) as upstream:
        settings = make_settings(
            data_dir,
            jwt_secret="g" * 48,
            users_url=upstream,
            market_url=upstream,
            analytics_url=upstream,
            portfolio_url=upstream + "/",
            sentiment_url=f"http://127.0.0.1:{free_port()}",
            proxy_timeout_seconds=0.5,
            max_body_bytes=64 * 1024,
        )
        async with running(settings, service="gateway") as pair:
            yield pair


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/users/login", "users"),
        ("/api/users", "users"),
        ("/api/admin/users/1", "users"),
        ("/api/market/coins", "market"),
        ("/api/analytics/sma/bitcoin", "analytics"),
        ("/api/sentiment/bitcoin", "sentiment"),
        ("/api/portfolio/1/performance", "portfolio"),
        ("/api/watchlist", "portfolio"),
        ("/api/watchlists/3", "portfolio"),
        ("/api/usersx", None),
        ("/api/marketing", None),
        ("/api/", None),
        ("/ws/prices", None),
    ],
)
def test_routing_table(path: str, service: str | None) -> None:
    assert service_for(path) == service


async def test_requests_are_forwarded_with_the_request_id(gateway) -> None:  # type: ignore[no-untyped-def]
    _app, client = gateway
    response = await client.post(
        "/api/users/login?next=%2Fhome&x=1",
        json={"username": "a", "password": "b"},
        headers={
            "X-Request-ID": "trace-123",
            "Authorization": "Bearer abc",
            "X-Forwarded-For": "6.6.6.6",
        },
    )
    assert response.status_code == 201
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/api/users/login"
    assert seen["query"] == "next=%2Fhome&x=1"
    assert seen["length"] == len(b'{"username":"a","password":"b"}')
    assert seen["request_id"] == "trace-123"
    assert seen["forwarded_for"] == "127.0.0.1"  # the client's own claim is not passed on
    assert seen["forwarded_proto"] == "http"
    assert seen["authorization"] == "Bearer abc"
    assert seen["host"] != "testserver"
    # One request id, one CSP (the gateway's), the gateway's CORS only, cookies passed on.
    assert response.headers.get_list("x-request-id") == ["trace-123"]
    assert response.headers.get_list("content-security-policy")[0].startswith("default-src 'none'")
    assert len(response.headers.get_list("content-security-policy")) == 1
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["set-cookie"] == "upstream=1; HttpOnly"
    for path in ("/api/admin/users", "/api/portfolio/7", "/api/watchlist", "/api/watchlist/btc"):
        proxied = await client.get(path)
        assert proxied.status_code == 200, path
        assert proxied.json()["path"] == path
    metrics = (await client.get("/metrics")).text
    assert 'http_requests_total{method="POST",route="/api/users/*",status="201"} 1.0' in metrics


async def test_responses_stream_through(gateway) -> None:  # type: ignore[no-untyped-def]
    _, client = gateway
    async with client.stream("GET", "/api/market/stream") as response:
        assert response.status_code == 200
        chunks = [chunk async for chunk in response.aiter_bytes()]
    assert b"".join(chunks) == b"".join(f"chunk{i};".encode() for i in range(5))


async def test_large_bodies_stream_and_oversize_is_413(gateway) -> None:  # type: ignore[no-untyped-def]
    _, client = gateway

    async def body(size: int) -> AsyncIterator[bytes]:
        for _ in range(size // 4096):
            yield b"x" * 4096

    ok = await client.put("/api/users/upload", content=body(60 * 1024))
    assert ok.json()["length"] == 60 * 1024
    too_big = await client.put("/api/users/upload", content=body(128 * 1024))
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"
    declared = await client.post("/api/users/upload", content=b"x" * (100 * 1024))
    assert declared.status_code == 413


async def test_service_down_is_503_and_slow_is_504(gateway) -> None:  # type: ignore[no-untyped-def]
    _, client = gateway
    down = await client.get("/api/sentiment/bitcoin", headers={"X-Request-ID": "r-503"})
    assert down.status_code == 503
    assert down.json() == {
        "error": {
            "code": "service_unavailable",
            "message": "The sentiment service is unavailable",
            "request_id": "r-503",
        }
    }
    assert down.headers["retry-after"] == "5"
    assert down.headers["x-content-type-options"] == "nosniff"
    slow = await client.get("/api/analytics/slow")
    assert slow.status_code == 504
    assert slow.json()["error"]["code"] == "gateway_timeout"


async def test_unknown_paths_stay_on_the_gateway(gateway) -> None:  # type: ignore[no-untyped-def]
    _, client = gateway
    assert (await client.get("/api/nothing")).status_code == 404
    assert (await client.get("/api/nothing")).json()["error"]["code"] == "not_found"
    assert (await client.get("/api/docs")).status_code == 200
    assert (await client.get("/health")).json()["service"] == "gateway"
