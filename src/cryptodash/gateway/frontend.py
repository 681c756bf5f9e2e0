"""The web app: Next.js's static export (`frontend/out`), served at `/` for every request that
no API or WebSocket route matches — as the router's fallback, so a route added later (by any
domain, before or after this) still wins.

Unknown pages get the export's 404 page; unknown `/api/*`, `/ws/*`, `/health*` and `/metrics*`
paths keep our JSON error body. Content-hashed assets are cached for a year, pages revalidated.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

import cryptodash

_API_PREFIXES = ("api/", "ws/", "health", "metrics")


def default_frontend_dir() -> Path:
    """`frontend/out` of the source tree this package runs from (editable install)."""
    return Path(cryptodash.__file__).resolve().parents[2] / "frontend" / "out"


class FrontendFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        # `path` is normalized ("api/x/../../etc" is "etc"): the request's own path decides too.
        requested = scope["path"].lstrip("/")
        if any(p == "api" or p.startswith(_API_PREFIXES) for p in (path, requested)):
            raise HTTPException(status_code=404)
        response = await super().get_response(path, scope)
        if path.startswith("_next/static/"):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response


def frontend_app(directory: Path) -> FrontendFiles | None:
    """The static app when `directory` holds a built export, else None (API only)."""
    if not (directory / "index.html").is_file():
        return None
    return FrontendFiles(directory=directory, html=True)


def serve_frontend(app: FastAPI, directory: Path) -> bool:
    """Answer unmatched HTTP requests from the export in `directory`; False when not built."""
    files = frontend_app(directory)
    if files is None:
        return False
    fallback = app.router.default

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await files(scope, receive, send)
        else:
            await fallback(scope, receive, send)

    app.router.default = default
    return True
