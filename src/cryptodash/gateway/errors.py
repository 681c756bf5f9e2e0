"""Exception handlers: every error leaves as our one error body (see `cryptodash.errors`)."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from cryptodash.errors import AppError, error_body
from cryptodash.platform.db import is_connection_error
from cryptodash.platform.errors import BackendUnavailable
from cryptodash.platform.logging import get_logger

log = get_logger(__name__)

_DEFAULT_MESSAGES = {
    404: "Not found",
    405: "Method not allowed",
}


def _json(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for error in exc.errors():
        details.append(
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return details


async def _app_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    body = error_body(exc.status_code, exc.message, code=exc.code, details=exc.details)
    return _json(exc.status_code, body, exc.headers)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    message = detail if isinstance(detail, str) else _DEFAULT_MESSAGES.get(exc.status_code, "Error")
    if message in ("Not Found", "Method Not Allowed"):
        message = _DEFAULT_MESSAGES[exc.status_code]
    return _json(exc.status_code, error_body(exc.status_code, message), exc.headers)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    body = error_body(422, "Invalid request", details=_field_errors(exc))
    return _json(422, body)


async def _backend_unavailable(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, BackendUnavailable)
    log.warning("backend_unavailable", backend=exc.backend, error=exc.detail)
    body = error_body(503, f"Temporarily unavailable: {exc.backend} is not reachable")
    return _json(503, body, {"Retry-After": "5"})


async def _database_error(request: Request, exc: Exception) -> Response:
    """A database that cannot be reached (down, restarting, connection dropped mid-request) is
    a 503 with our body — the request did not happen and can be retried; SQLite's write lock
    not won within its busy timeout (writers queueing on the one-file database under load) is
    a retryable 503 too; any other database error is a 500."""
    if is_connection_error(exc):
        log.warning(
            "database_unreachable", error=str(exc).splitlines()[0] if str(exc) else repr(exc)
        )
        body = error_body(503, "Temporarily unavailable: the database is not reachable")
        return _json(503, body, {"Retry-After": "2"})
    if "database is locked" in str(exc):
        log.warning("database_busy", method=request.method, path=request.url.path)
        body = error_body(503, "Temporarily unavailable: the database is busy; retry shortly")
        return _json(503, body, {"Retry-After": "1"})
    return _internal_error(request, exc)


def _internal_error(request: Request, exc: Exception) -> Response:
    log.error(
        "unhandled_error",
        method=request.method,
        path=request.url.path,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return _internal_response()


def _internal_response() -> Response:
    return _json(500, error_body(500, "Internal server error"))


# Where the database's errors are raised: the drivers and SQLAlchemy (its pool, its adapters).
_DATABASE_PACKAGES = frozenset({"asyncpg", "aiosqlite", "sqlite3", "sqlalchemy"})


def _raised_by_database(exc: BaseException) -> bool:
    """True when the error was raised inside the database layer. SQLAlchemy wraps what the
    driver reports as a database error (DBAPIError), but not the socket's own errors when a
    connection is opened: asyncpg's ConnectionRefusedError, TimeoutError or gaierror come out
    bare, and only where they were raised tells them from any other OSError."""
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        module = frame.f_globals.get("__name__")
        if isinstance(module, str) and module.partition(".")[0] in _DATABASE_PACKAGES:
            return True
    return False


async def _os_error(request: Request, exc: Exception) -> Response:
    """An OSError from the database layer is the database out of reach (503, retryable);
    any other (a missing file, a socket of some other client) is our bug: a 500, logged."""
    if _raised_by_database(exc):
        return await _database_error(request, exc)
    return _internal_error(request, exc)


ERROR_BODY_SCHEMA: dict[str, Any] = {
    "title": "ErrorBody",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "request_id": {"type": ["string", "null"]},
                "details": {"description": "Per-field problems (422): loc, msg, type"},
            },
        }
    },
}
"""Our error body, as the OpenAPI schema documents it."""


def document_error_body(app: FastAPI) -> None:
    """FastAPI documents every 422 as its own `HTTPValidationError` (`{"detail": […]}`); ours
    is the error body above: the schema says so, so clients and schema checks get the truth."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schemas = schema.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = ERROR_BODY_SCHEMA
                schemas.pop("ValidationError", None)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


async def _pool_exhausted(request: Request, exc: Exception) -> Response:
    """Every pooled connection busy for the pool's whole timeout: the database is reachable
    but saturated. The request did not happen; a retryable 503, not our bug."""
    log.warning("database_pool_exhausted", method=request.method, path=request.url.path)
    body = error_body(503, "Temporarily unavailable: the database is busy; retry shortly")
    return _json(503, body, {"Retry-After": "1"})


async def _unhandled(request: Request, exc: Exception) -> Response:
    """Any other error: our bug, answered with our 500 body. FastAPI's outermost layer calls
    this and raises the error on to the gateway in front of it, which logs it (not here, or it
    would be logged twice)."""
    return _internal_response()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unhandled)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _pool_exhausted)
    app.add_exception_handler(OSError, _os_error)
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(BackendUnavailable, _backend_unavailable)
