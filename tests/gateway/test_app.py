"""The app factory's contract: health, readiness, metrics, request ids and one error shape."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest
import structlog
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from cryptodash import app as app_module
from cryptodash.auth import Public
from cryptodash.deps import SessionDep
from cryptodash.errors import NotFound
from cryptodash.platform.db import create_engine
from tests.apps import make_settings, running
from tests.helpers import free_port


async def test_health_is_ok(data_dir: Path) -> None:
    async with running(make_settings(data_dir)) as (_, client):
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_ready_with_embedded_defaults(data_dir: Path) -> None:
    async with running(make_settings(data_dir)) as (_, client):
        response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert body["checks"]["database"] == {"status": "ok", "backend": "sqlite"}
    assert body["checks"]["cache"]["backend"] == "memory"
    assert body["checks"]["bus"]["backend"] == "memory"
    assert (data_dir / "cryptodash.db").exists()
    assert (data_dir / "jwt_secret").stat().st_mode & 0o077 == 0


@pytest.mark.integration
async def test_ready_is_degraded_when_redis_is_down(data_dir: Path) -> None:
    settings = make_settings(data_dir, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with running(settings) as (_, client):
        ready = await client.get("/health/ready")
        health = await client.get("/health")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["failing"] == ["cache"]
    assert ready.json()["checks"]["cache"]["backend"] == "redis"
    assert health.status_code == 200


@pytest.mark.integration
async def test_ready_is_degraded_when_kafka_is_down(data_dir: Path) -> None:
    settings = make_settings(data_dir, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    async with running(settings) as (_, client):
        ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["failing"] == ["bus"]


@pytest.mark.integration
async def test_ready_is_503_when_the_database_is_unreachable(data_dir: Path) -> None:
    settings = make_settings(
        data_dir, database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nope"
    )
    async with running(settings) as (_, client):
        ready = await client.get("/health/ready")
        health = await client.get("/health")
        missing = await client.get("/no-such-route")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["failing"] == ["database"]
    assert health.status_code == 200
    assert missing.status_code == 404


@pytest.mark.integration
async def test_all_in_one_on_postgres_redis_kafka(
    data_dir: Path, pg_url: str, redis_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = make_settings(
        data_dir,
        database_url=pg_url,
        redis_url=redis_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        bus_topic_prefix=topic_prefix,
    )
    async with running(settings) as (_, client):
        ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["database"]["backend"] == "postgresql"
    assert checks["cache"]["backend"] == "redis"
    assert checks["bus"]["backend"] == "kafka"


async def test_unknown_route_404_echoes_request_id(data_dir: Path) -> None:
    async with running(make_settings(data_dir)) as (_, client):
        response = await client.get("/no-such-route", headers={"X-Request-ID": "abc"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "abc"
    assert response.json() == {
        "error": {"code": "not_found", "message": "Not found", "request_id": "abc"}
    }


async def test_request_id_is_generated_when_absent_or_unsafe(data_dir: Path) -> None:
    async with running(make_settings(data_dir)) as (_, client):
        plain = await client.get("/health")
        unsafe = await client.get("/health", headers={"X-Request-ID": "a b\x7f<script>"})
    assert len(plain.headers["x-request-id"]) == 32
    assert unsafe.headers["x-request-id"] != "a b\x7f<script>"


class Thing(BaseModel):
    name: str
    size: int


def probe_router() -> APIRouter:
    router = APIRouter(dependencies=[Public])

    @router.post("/api/probe/things")
    async def create_thing(thing: Thing) -> Thing:
        return thing

    @router.get("/api/probe/things/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, int]:
        raise NotFound(f"Thing {thing_id} not found")

    @router.get("/api/probe/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @router.get("/api/probe/missing-file")
    def missing_file() -> None:
        Path("/nonexistent/cryptodash/secret.txt").read_text()

    @router.post("/api/probe/missing-file-in-a-transaction")
    async def missing_file_in_a_transaction(session: SessionDep) -> None:
        # Raised inside the request's transaction: it unwinds through SQLAlchemy's rollback.
        await session.execute(text("SELECT 1"))
        await asyncio.to_thread(Path("/nonexistent/cryptodash/secret.txt").read_text)

    @router.get("/api/probe/other-socket")
    async def other_socket() -> None:
        # Refused like a database that is down, but not a database: some other client's socket.
        await asyncio.open_connection("127.0.0.1", free_port())

    @router.get("/api/probe/database-down")
    async def database_down() -> None:
        engine = create_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/nope")
        try:
            async with engine.connect() as conn:  # asyncpg: a bare ConnectionRefusedError
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    return router


@pytest.fixture
def probe_app_settings(data_dir: Path):  # type: ignore[no-untyped-def]
    return make_settings(data_dir, max_body_bytes=2048)


async def _with_probe(settings):  # type: ignore[no-untyped-def]
    ctx = running(settings)
    app, client = await ctx.__aenter__()
    app.include_router(probe_router())
    return ctx, client


async def test_error_shapes(probe_app_settings) -> None:  # type: ignore[no-untyped-def]
    ctx, client = await _with_probe(probe_app_settings)
    try:
        wrong_method = await client.delete("/health")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["error"]["code"] == "method_not_allowed"

        invalid = await client.post("/api/probe/things", json={"name": "x", "size": "big"})
        assert invalid.status_code == 422
        error = invalid.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"][0]["loc"] == ["body", "size"]
        assert set(error["details"][0]) == {"loc", "msg", "type"}

        malformed = await client.post(
            "/api/probe/things", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 422
        assert malformed.json()["error"]["code"] == "validation_error"

        bad_path = await client.get("/api/probe/things/abc")
        assert bad_path.status_code == 422

        missing = await client.get("/api/probe/things/7", headers={"X-Request-ID": "r7"})
        assert missing.status_code == 404
        assert missing.json() == {
            "error": {"code": "not_found", "message": "Thing 7 not found", "request_id": "r7"}
        }

        with structlog.testing.capture_logs() as logged:
            crash = await client.get("/api/probe/boom", headers={"X-Request-ID": "r500"})
        # Logged once, with its traceback (FastAPI's error layer answers it, the gateway logs).
        errors = [e for e in logged if e["event"] == "unhandled_error"]
        assert len(errors) == 1, logged
        assert errors[0]["path"] == "/api/probe/boom"
        assert errors[0]["exc_info"] is True
        assert errors[0]["log_level"] == "error"
        assert crash.status_code == 500
        assert crash.headers["x-request-id"] == "r500"
        assert crash.json() == {
            "error": {
                "code": "internal_error",
                "message": "Internal server error",
                "request_id": "r500",
            }
        }
        assert "secret" not in crash.text
    finally:
        await ctx.__aexit__(None, None, None)


async def test_only_the_databases_os_errors_are_a_503(probe_app_settings) -> None:  # type: ignore[no-untyped-def]
    ctx, client = await _with_probe(probe_app_settings)
    try:
        for method, path in (
            ("GET", "/api/probe/missing-file"),
            ("POST", "/api/probe/missing-file-in-a-transaction"),
            ("GET", "/api/probe/other-socket"),
        ):
            crash = await client.request(method, path, headers={"X-Request-ID": "r-os"})
            assert crash.status_code == 500, (path, crash.text)
            assert crash.json() == {
                "error": {
                    "code": "internal_error",
                    "message": "Internal server error",
                    "request_id": "r-os",
                }
            }
            assert "retry-after" not in crash.headers
            assert "secret" not in crash.text

        down = await client.get("/api/probe/database-down", headers={"X-Request-ID": "r-db"})
        assert down.status_code == 503, down.text
        assert down.headers["retry-after"] == "2"
        error = down.json()["error"]
        assert error["request_id"] == "r-db"
        assert error["message"] == "Temporarily unavailable: the database is not reachable"
    finally:
        await ctx.__aexit__(None, None, None)


async def test_oversize_bodies_get_413(probe_app_settings) -> None:  # type: ignore[no-untyped-def]
    ctx, client = await _with_probe(probe_app_settings)
    try:
        declared = await client.post(
            "/api/probe/things", content=b"x" * 5000, headers={"content-type": "application/json"}
        )
        assert declared.status_code == 413
        assert declared.json()["error"]["code"] == "payload_too_large"
        assert "x-request-id" in declared.headers

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b"x" * 1000

        streamed = await client.post(
            "/api/probe/things", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "payload_too_large"

        small = await client.post("/api/probe/things", json={"name": "ok", "size": 1})
        assert small.status_code == 200
    finally:
        await ctx.__aexit__(None, None, None)


async def test_metrics_by_route_template(probe_app_settings) -> None:  # type: ignore[no-untyped-def]
    ctx, client = await _with_probe(probe_app_settings)
    try:
        await client.get("/api/probe/things/1")
        await client.get("/api/probe/things/2")
        await client.get("/nowhere/at/all")
        for made_up in ("BREW", "FOO1", "FOO2"):  # one label value for all of them
            await client.request(made_up, "/api/probe/things/3")
        text = (await client.get("/metrics")).text
    finally:
        await ctx.__aexit__(None, None, None)
    assert (
        'http_requests_total{method="GET",route="/api/probe/things/{thing_id}",status="404"} 2.0'
        in text
    )
    assert 'http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert 'method="OTHER",route="/api/probe/things/{thing_id}",status="405"} 3.0' in text
    assert "FOO1" not in text
    assert "http_request_duration_seconds_bucket" in text
    for name in ("cache_requests_total", "bus_messages_total", "db_query_duration_seconds"):
        assert f"# TYPE {name}" in text


async def test_requests_wait_for_the_schema_then_get_a_503_not_a_500(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While migrations run (a slow start, a database coming up) a request waits for them;
    past SCHEMA_WAIT it is a clear 503, never a 500 from a missing table."""
    from cryptodash import deps

    body = {"username": "early_bird", "email": "early@example.com", "password": "x" * 12}
    async with running(make_settings(data_dir)) as (app, client):
        ready: asyncio.Event = app.state.platform.schema_ready
        ready.clear()
        monkeypatch.setattr(deps, "SCHEMA_WAIT", 0.2)
        refused = await client.post("/api/users/register", json=body)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "service_unavailable"

        monkeypatch.setattr(deps, "SCHEMA_WAIT", 10.0)
        asyncio.get_running_loop().call_later(0.3, ready.set)
        waited = await client.post("/api/users/register", json=body)
        assert waited.status_code == 201, waited.text


async def test_what_the_process_built_since_start_is_frozen_once_settled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Long-lived state built after start (workers, lazily imported modules) leaves the
    collector's scans once the process has settled, twice."""
    monkeypatch.setattr(app_module, "SETTLE_SECONDS", (0.01, 0.02))
    frozen = gc.get_freeze_count()
    try:
        state = [[n] for n in range(1000)]  # built after start, kept for the process's life
        await app_module._freeze_settled()
        assert gc.get_freeze_count() >= frozen + len(state)
        scanned = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
        assert not any(id(x) in scanned for x in state)
    finally:
        gc.unfreeze()
