"""Pure ASGI middleware (no BaseHTTPMiddleware: the hot read path stays close to bare FastAPI).

`RequestContext` is outermost: it accepts or generates the request id, binds it for logging,
echoes it on the response, records the HTTP metrics by route template, logs the request, and
turns any unhandled exception into our 500 body (no stack trace to the client).
`BodyLimit` answers 413 for bodies over the limit, declared or streamed.
"""

from __future__ import annotations

import re
import time
import uuid

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cryptodash.errors import error_body
from cryptodash.platform.logging import get_logger, request_id_var
from cryptodash.platform.metrics import Metrics

log = get_logger("cryptodash.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
JSON_HEADERS = [(b"content-type", b"application/json")]
_QUIET_PATHS = frozenset({"/health", "/health/ready", "/metrics"})


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    if getattr(route, "routes", None) is not None or type(route).__name__ == "Mount":
        return f"{path}/*" if path else "/*"
    return str(path)


async def send_error(
    send: Send, status: int, message: str, *, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = error_body(status, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *JSON_HEADERS,
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


SLOW_REQUEST_SECONDS = 1.0


class RequestContext:
    """`access_log=False` keeps only the lines that matter (5xx and slow requests)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, *, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        header = (b"x-request-id", request_id.encode())
        if scope["type"] == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                request_id_var.reset(token)
            return

        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled_error", method=scope["method"], path=scope["path"])
            status = 500
            if not response_started:
                await send_error(send, 500, "Internal server error", headers=[header])
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"]
            self.metrics.http_requests.labels(method, route, str(status)).inc()
            self.metrics.http_request_duration.labels(method, route).observe(elapsed)
            if (
                status >= 500
                or elapsed > SLOW_REQUEST_SECONDS
                or (self.access_log and scope["path"] not in _QUIET_PATHS)
            ):
                log.info(
                    "request",
                    method=method,
                    path=scope["path"],
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
            request_id_var.reset(token)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            # A client-chosen id is echoed and logged, so only a safe shape is accepted.
            return text if _REQUEST_ID.match(text) else None
    return None


class _BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing re-raises it instead of answering 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request body larger than {max_bytes} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await send_error(send, 413, f"Request body larger than {self.max_bytes} bytes")
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await send_error(send, 413, f"Request body larger than {self.max_bytes} bytes")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
