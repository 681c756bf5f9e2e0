"""The static web app mounted at `/` after the API: pages, its 404 page, caching, and JSON
errors kept for API paths."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter

from cryptodash.app import create_app
from cryptodash.auth import Public
from tests.apps import make_settings, running


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    (out / "coin").mkdir(parents=True)
    (out / "_next" / "static" / "chunks").mkdir(parents=True)
    (out / "index.html").write_text("<html>dashboard</html>")
    (out / "coin" / "index.html").write_text("<html>coin</html>")
    (out / "404.html").write_text("<html>page not found</html>")
    (out / "_next" / "static" / "chunks" / "app-abc123.js").write_text("console.log(1)")
    return out


async def test_pages_assets_and_404(data_dir: Path, export_dir: Path) -> None:
    settings = make_settings(data_dir, frontend_dir=export_dir)
    async with running(settings) as (_, client):
        index = await client.get("/")
        coin = await client.get("/coin/?id=bitcoin")
        redirect = await client.get("/coin")
        chunk = await client.get("/_next/static/chunks/app-abc123.js")
        missing = await client.get("/no-such-page/")
        health = await client.get("/health")
    assert index.status_code == 200
    assert "dashboard" in index.text
    assert index.headers["cache-control"] == "no-cache"
    assert coin.status_code == 200
    assert "coin" in coin.text
    assert redirect.status_code == 307
    assert redirect.headers["location"].endswith("/coin/")
    assert chunk.status_code == 200
    assert "immutable" in chunk.headers["cache-control"]
    assert missing.status_code == 404
    assert "page not found" in missing.text
    assert health.json()["status"] == "ok"


@pytest.mark.parametrize(
    "path",
    [
        "/api/nothing-here",
        "/api",
        "/api/market/nope/deeper",
        "/ws/nope",
        "/metrics/x",
        # An encoded traversal normalizes to a path outside /api/: still an API path.
        "/api/market/..%2F..%2F..%2Fetc%2Fpasswd",
    ],
)
async def test_api_paths_keep_the_json_error(data_dir: Path, export_dir: Path, path: str) -> None:
    async with running(make_settings(data_dir, frontend_dir=export_dir)) as (_, client):
        response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.headers["x-request-id"]


async def test_state_changes_on_pages_are_405_json(data_dir: Path, export_dir: Path) -> None:
    async with running(make_settings(data_dir, frontend_dir=export_dir)) as (_, client):
        response = await client.post("/", json={})
    assert response.status_code == 405
    assert response.json()["error"]["code"]


async def test_no_export_means_api_only(data_dir: Path, tmp_path: Path) -> None:
    settings = make_settings(data_dir, frontend_dir=tmp_path / "missing")
    async with running(settings) as (_, client):
        response = await client.get("/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_routes_added_after_the_app_is_built_still_win(
    data_dir: Path, export_dir: Path
) -> None:
    app = create_app(make_settings(data_dir, frontend_dir=export_dir))
    late = APIRouter(dependencies=[Public])
    late.add_api_route("/api/late", lambda: {"late": True})
    late.add_api_route("/late-page", lambda: {"page": True})
    app.include_router(late)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/api/late")).json() == {"late": True}
            assert (await client.get("/late-page")).json() == {"page": True}
            assert "dashboard" in (await client.get("/")).text
