"""The gateway's defenses over HTTP: security headers everywhere, CORS, and rate limits per
IP, per user and for the auth routes — concurrently, on both limiter backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import APIRouter, FastAPI

from cryptodash.auth import Public
from tests.apps import make_settings, running, serving
from tests.users.accounts import PASSWORD, new_account, register

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def crash_router() -> APIRouter:
    router = APIRouter(dependencies=[Public])

    @router.get("/api/probe/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return router


@asynccontextmanager
async def client_from(app: FastAPI, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_security_headers_on_every_response(data_dir: Path) -> None:
    settings = make_settings(data_dir, max_body_bytes=2048)
    async with running(settings) as (app, client):
        app.include_router(crash_router())
        responses = {
            "ok": await client.get("/health"),
            "404": await client.get("/nowhere"),
            "401": await client.get("/api/users/me"),
            "422": await client.post("/api/users/login", json={}),
            "413": await client.post("/api/users/login", content=b"x" * 5000),
            "500": await client.get("/api/probe/boom"),
            "docs": await client.get("/api/docs"),
            "page": await client.get("/"),
        }
    for name, response in responses.items():
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.get(header) == value, (name, header)
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp, name
        assert "strict-transport-security" not in response.headers  # plain HTTP
        assert len(response.headers.get_list("content-security-policy")) == 1
    assert responses["401"].headers["content-security-policy"].startswith("default-src 'none'")
    assert "cdn.jsdelivr.net" in responses["docs"].headers["content-security-policy"]
    assert responses["401"].headers["cache-control"] == "no-store"


async def test_hsts_behind_tls(data_dir: Path) -> None:
    async with running(make_settings(data_dir)) as (app, _):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as tls:
            response = await tls.get("/health")
    assert response.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"


async def test_cors_allows_configured_origins_only(data_dir: Path) -> None:
    settings = make_settings(data_dir, cors_origins="https://dash.example.com")
    async with running(settings) as (_, client):
        preflight = {
            "Origin": "https://dash.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-csrf-token",
        }
        ok = await client.options("/api/users/login", headers=preflight)
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://dash.example.com"
        assert ok.headers["access-control-allow-credentials"] == "true"
        assert "x-csrf-token" in ok.headers["access-control-allow-headers"].lower()

        evil = await client.options(
            "/api/users/login", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert evil.status_code == 400
        assert evil.json()["error"]["code"] == "cors_refused"
        assert "access-control-allow-origin" not in evil.headers

        simple = await client.get("/health", headers={"Origin": "https://dash.example.com"})
        assert simple.headers["access-control-allow-origin"] == "https://dash.example.com"
        assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
        other = await client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_cors_origins_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptodash.config import Settings

    monkeypatch.setenv("CRYPTODASH_CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]


LIMITED = {
    "rate_limit_anon_per_min": 5,
    "rate_limit_user_per_min": 8,
    "rate_limit_auth_per_min": 3,
}


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def limited_settings(request: pytest.FixtureRequest, data_dir: Path) -> Any:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    return make_settings(data_dir, redis_url=redis_url, **LIMITED)


async def test_anonymous_calls_are_limited_per_ip(limited_settings: Any) -> None:
    async with (
        running(limited_settings) as (app, _),
        client_from(app, "10.0.0.1") as one,
        client_from(app, "10.0.0.2") as two,
    ):
        responses = await asyncio.gather(*(one.get("/api/users/me") for _ in range(12)))
        codes = [r.status_code for r in responses]
        assert codes.count(401) == 5
        assert codes.count(429) == 7
        refused = next(r for r in responses if r.status_code == 429)
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["x-ratelimit-limit"] == "5"
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert refused.json()["error"]["code"] == "rate_limited"
        assert refused.headers["x-content-type-options"] == "nosniff"
        allowed = next(r for r in responses if r.status_code == 401)
        assert allowed.headers["x-ratelimit-limit"] == "5"
        # Another IP has its own bucket; probes and scrapes are never limited.
        assert (await two.get("/api/users/me")).status_code == 401
        for _ in range(10):
            assert (await one.get("/health")).status_code == 200
        metrics = (await one.get("/metrics")).text
    assert 'rate_limit_rejections_total{scope="anon"} 7.0' in metrics


async def test_login_is_limited_strictly(limited_settings: Any) -> None:
    async with running(limited_settings) as (app, _), client_from(app, "10.0.0.3") as client:
        body = {"username": "nobody", "password": PASSWORD}
        responses = await asyncio.gather(
            *(client.post("/api/users/login", json=body) for _ in range(10))
        )
        codes = sorted(r.status_code for r in responses)
        assert codes == [401] * 3 + [429] * 7
        # The auth bucket is its own: other anonymous calls still pass.
        assert (await client.get("/api/users/me")).status_code == 401
        assert (await client.post("/api/users/register", json={})).status_code == 429


async def test_authenticated_calls_are_limited_per_user(data_dir: Path) -> None:
    settings = make_settings(data_dir, **{**LIMITED, "rate_limit_auth_per_min": 100})
    async with (
        running(settings) as (app, _),
        client_from(app, "10.0.0.4") as client,
        client_from(app, "10.0.0.5") as other,
    ):
        alice = await new_account(client)
        bob = await new_account(other)
        # Alice's calls count against Alice, not against her IP's anonymous bucket.
        codes = [
            r.status_code
            for r in await asyncio.gather(
                *(client.get("/api/users/me", headers=alice.headers) for _ in range(12))
            )
        ]
        assert codes.count(200) == 8
        assert codes.count(429) == 4
        assert (await other.get("/api/users/me", headers=bob.headers)).status_code == 200
        # Alice's token from another IP still draws on Alice's bucket.
        assert (await other.get("/api/users/me", headers=alice.headers)).status_code == 429
        # A forged token is just anonymous.
        forged = {"Authorization": "Bearer x.y.z"}
        assert (await client.get("/api/users/me", headers=forged)).status_code == 401


async def test_pages_assets_health_and_metrics_are_never_limited(
    data_dir: Path, tmp_path: Path
) -> None:
    """A page load fetches a dozen chunks: they must not spend the API budget (they did)."""
    export = tmp_path / "out"
    (export / "_next" / "static" / "chunks").mkdir(parents=True)
    (export / "index.html").write_text("<html>dashboard</html>")
    (export / "_next" / "static" / "chunks" / "app-1.js").write_text("console.log(1)")
    settings = make_settings(data_dir, frontend_dir=export, **LIMITED)
    async with running(settings) as (app, _), client_from(app, "10.0.0.8") as client:
        for path in ("/", "/_next/static/chunks/app-1.js", "/health", "/health/ready", "/metrics"):
            responses = await asyncio.gather(*(client.get(path) for _ in range(12)))
            assert {r.status_code for r in responses} == {200}, path
            assert "x-ratelimit-limit" not in responses[0].headers, path
        # The whole anonymous budget is still there for the API.
        api = await client.get("/api/users/me")
    assert api.status_code == 401
    assert api.headers["x-ratelimit-remaining"] == str(LIMITED["rate_limit_anon_per_min"] - 1)


async def test_websocket_handshakes_are_limited_per_ip(data_dir: Path) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    settings = make_settings(data_dir, rate_limit_ws_per_min=3)
    async with serving(settings) as (_, base):
        for _ in range(3):
            async with connect(f"{base}/ws/prices") as ws:
                await ws.send('{"action": "ping"}')
                assert "pong" in str(await ws.recv())
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{base}/ws/prices"):
                pass
        async with httpx.AsyncClient(base_url=base.replace("ws://", "http://")) as http:
            api = await http.get("/api/market/coins")  # the API budget is another bucket
            metrics = (await http.get("/metrics")).text
    response = refused.value.response
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert orjson.loads(response.body)["error"]["code"] == "rate_limited"
    assert api.status_code == 200
    assert 'rate_limit_rejections_total{scope="ws"} 1.0' in metrics


@pytest.mark.integration
async def test_two_replicas_share_limits_through_redis(data_dir: Path, redis_url: str) -> None:
    settings = make_settings(data_dir, redis_url=redis_url, **LIMITED)
    async with (
        running(settings) as (first, _),
        running(settings) as (second, _),
        client_from(first, "10.0.0.6") as a,
        client_from(second, "10.0.0.6") as b,
    ):
        responses = await asyncio.gather(
            *(c.get("/api/users/me") for _ in range(6) for c in (a, b))
        )
    assert [r.status_code for r in responses].count(401) == 5


@pytest.mark.integration
async def test_redis_down_never_fails_a_request(data_dir: Path) -> None:
    from tests.helpers import free_port

    settings = make_settings(data_dir, redis_url=f"redis://127.0.0.1:{free_port()}/0", **LIMITED)
    async with running(settings) as (app, _), client_from(app, "10.0.0.7") as client:
        await register(client)
        codes = [(await client.get("/api/users/me")).status_code for _ in range(7)]
    # Falls back to per-process buckets: still limited, never a 500.
    assert codes == [401] * 5 + [429] * 2
