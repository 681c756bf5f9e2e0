"""The gateway's request pipeline as one pure ASGI middleware (`Gateway`), in front of the app.

One pass instead of a stack of five: each layer of a stack wraps `send`, scans the request
headers and adds an await per message, which on a cached read cost more than the route itself.
`Gateway` reads the headers once, wraps `send` once and uses header lists built at start-up.

`GatewayApp` puts it in front of FastAPI's own middleware stack rather than inside it (where
`add_middleware` would): an edge-cache hit is answered before FastAPI's layers (its telemetry
check, Starlette's error and body-limit middleware, the first wrapping `send`), a tenth of
the Python calls of a hit (74 → 67 per hit of `/api/market/coins`, demo running).
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
import time
from typing import Any

from fastapi import FastAPI, HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cryptodash.edge import EdgeCache, declared_versions, edge_ttl, is_per_user
from cryptodash.errors import error_body
from cryptodash.gateway.security import (
    REPLACED_HEADERS,
    Cors,
    RateLimits,
    is_no_store,
    refuse_websocket,
    security_headers,
)
from cryptodash.platform.logging import get_logger, request_id_var
from cryptodash.platform.metrics import Metrics

log = get_logger("cryptodash.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
JSON_HEADERS = [(b"content-type", b"application/json")]
_QUIET_PATHS = frozenset({"/health", "/health/ready", "/metrics"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Method label values; any other method a client makes up counts as `OTHER` (a label value
per made-up method would grow the metrics without bound)."""


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


def new_request_id() -> str:
    """32 random hex digits. Ids need to be unique, not unguessable: the process's seeded
    generator, not `uuid4` (an `os.urandom` system call per request)."""
    return f"{random.getrandbits(128):032x}"


class Gateway:
    """The edge's whole request pipeline, in one pass over the headers and one `send` wrapper.

    In the order a request meets them: the request id (accepted or generated, bound for
    logging, echoed), the CORS preflight, the rate limit, the body limit (413), the app; on the
    way out CORS, rate-limit, request-id and security headers; then the HTTP metrics by route
    template and the access log. Any unhandled exception becomes our 500 body (no stack trace
    to the client).

    The access log (`CRYPTODASH_ACCESS_LOG`) writes every error (4xx/5xx) and every slow
    request, and `access_log_sample` of the others (a line costs more than the rest of a cached
    read: 1 means every request); `access_log=False` keeps only 5xx and slow requests.
    Health checks and scrapes are logged only when they fail or are slow.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        cors: Cors,
        rate_limits: RateLimits | None = None,
        access_log: bool = True,
        access_log_sample: float = 1.0,
        edge: EdgeCache | None = None,
    ) -> None:
        self.app = app
        self.edge = edge
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.cors = cors
        self.rate_limits = rate_limits
        self.access_log = access_log
        self.sample = access_log_sample
        self._too_large = f"Request body larger than {max_body_bytes} bytes"
        # Metric children by label values (a `labels()` call costs a lock and a lookup). Route
        # templates and statuses are few, so these stay small.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._durations: dict[tuple[str, str], Any] = {}
        self._edge_hits = metrics.edge_cache.labels("hit")
        self._edge_stores = metrics.edge_cache.labels("miss")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind != "websocket":
                await self.app(scope, receive, send)
                return
            token = request_id_var.set(_incoming_request_id(scope) or new_request_id())
            try:
                limits = self.rate_limits
                if limits is not None and not limits.exempt(scope):
                    decision, limit_headers = await limits.check(scope, None)
                    if not decision.allowed:
                        retry = decision.retry_after_header
                        message = f"Too many requests; retry in {retry} s"
                        await refuse_websocket(scope, send, message, limit_headers)
                        return
                await self.app(scope, receive, send)
            finally:
                request_id_var.reset(token)
            return

        started = time.perf_counter()
        request_id = origin = authorization = length = None
        preflight = False
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                text = value.decode("latin-1")
                # A client-chosen id is echoed and logged, so only a safe shape is accepted.
                request_id = text if _REQUEST_ID.match(text) else None
            elif name == b"origin":
                origin = value
            elif name == b"authorization":
                authorization = value
            elif name == b"content-length":
                length = value
            elif name == b"access-control-request-method":
                preflight = True
        if request_id is None:
            request_id = new_request_id()
        token = request_id_var.set(request_id)
        path: str = scope["path"]
        method: str = scope["method"]
        added = [(b"x-request-id", request_id.encode())]
        security = security_headers(path, https=scope.get("scheme") == "https")
        no_store = is_no_store(path)
        status = 500
        response_started = False
        cors_send: Send | None = None
        route: str | None = None

        async def send_wrapped(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = [
                    header
                    for header in message.get("headers", ())
                    if header[0].lower() not in REPLACED_HEADERS
                ]
                if no_store and not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                headers += added
                headers += security
                message["headers"] = headers
            await send(message)

        if origin is not None:
            request_headers = Headers(scope=scope)

            async def cors_send(message: Message) -> None:
                await self.cors.send(message, send_wrapped, request_headers)

        reply = cors_send or send_wrapped
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge(self.max_body_bytes)
            return message

        try:
            if origin is not None and preflight and method == "OPTIONS":
                response = self.cors.preflight_response(request_headers=request_headers)
                await response(scope, receive, send_wrapped)
                return
            limits = self.rate_limits
            if limits is not None and not limits.exempt(scope):
                decision, limit_headers = await limits.check(scope, authorization)
                if not decision.allowed:
                    retry = decision.retry_after_header
                    await send_error(
                        reply, 429, f"Too many requests; retry in {retry} s", headers=limit_headers
                    )
                    return
                added += limit_headers
            if length is not None and _declared(length) > self.max_body_bytes:
                await send_error(reply, 413, self._too_large)
                return
            edge = self.edge
            if edge is not None and method == "GET":
                query: bytes = scope["query_string"]
                answer = edge.get(path, query)
                if answer is None and authorization is not None:
                    answer = await edge.get_private(path, query, authorization)
                leads = False
                if answer is None:
                    refresh, leads = edge.follow(path, query)
                    if refresh is not None:  # another request is asking the app for it
                        answer = await asyncio.shield(refresh)
                if answer is not None:
                    route = answer.route
                    self._edge_hits.inc()
                    start = {"type": "http.response.start", "status": answer.status}
                    await reply({**start, "headers": list(answer.headers)})
                    await reply({"type": "http.response.body", "body": answer.body})
                    return
                recording = self._recording(edge, scope, reply, authorization)
                try:
                    await self.app(scope, limited_receive, recording)
                finally:
                    if leads:  # not kept (an error, not a 200) or cut short: the rest ask
                        edge.refreshed(path, query, None)
                return
            await self.app(scope, limited_receive, reply)
        except _BodyTooLarge:
            if not response_started:
                await send_error(reply, 413, self._too_large)
        except Exception:
            log.exception("unhandled_error", method=method, path=path)
            status = 500
            if not response_started:
                await send_error(send_wrapped, 500, "Internal server error")
        finally:
            elapsed = time.perf_counter() - started
            if route is None:
                route = route_template(scope)
            label = method if method in _METHODS else "OTHER"
            counter = self._counters.get((label, route, status))
            if counter is None:
                counter = self.metrics.http_requests.labels(label, route, str(status))
                self._counters[(label, route, status)] = counter
            counter.inc()
            duration = self._durations.get((label, route))
            if duration is None:
                duration = self.metrics.http_request_duration.labels(label, route)
                self._durations[(label, route)] = duration
            duration.observe(elapsed)
            if status >= 500 or elapsed > SLOW_REQUEST_SECONDS or self._logs(path, status):
                fields: dict[str, Any] = {}
                if status < 400 and self.sample < 1:
                    fields["sample_rate"] = self.sample
                log.info(
                    "request",
                    method=method,
                    path=path,
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    **fields,
                )
            request_id_var.reset(token)

    def _recording(
        self, edge: EdgeCache, scope: Scope, send: Send, authorization: bytes | None
    ) -> Send:
        """`send`, keeping the answer in the edge cache when it is a 200 of a route marked
        `fresh_for`, whole in one body message. The headers are the app's own, taken before
        CORS and the gateway's are added (they are added again to every answer served); see
        `_keep` for which answers are kept."""
        kept: tuple[tuple[bytes, bytes], ...] | None = None

        async def record(message: Message) -> None:
            nonlocal kept
            if message["type"] == "http.response.start":
                if message["status"] == 200:
                    kept = tuple(message.get("headers", ()))
            elif kept is not None:
                whole = not message.get("more_body", False)
                body = message.get("body", b"")
                if whole and _keep(edge, scope, authorization, kept, body):
                    self._edge_stores.inc()
                kept = None
            await send(message)

        return record

    def _logs(self, path: str, status: int) -> bool:
        """Whether the access log takes this request (errors and slow ones aside)."""
        if not self.access_log or path in _QUIET_PATHS:
            return False
        return status >= 400 or self.sample >= 1 or random.random() < self.sample


def _keep(
    edge: EdgeCache,
    scope: Scope,
    authorization: bytes | None,
    headers: tuple[tuple[bytes, bytes], ...],
    body: bytes,
) -> bool:
    """Keep a 200 in the edge cache when its route is marked `fresh_for`: for everyone, or
    for a `per_user` route under the request's `Authorization`, for the user the app
    authenticated, with the versions the route declared (`depends_on`)."""
    endpoint = scope.get("endpoint")
    ttl = edge_ttl(endpoint)
    if ttl is None:
        return False
    user = scope.get("state", {}).get("auth_user")
    path, query = scope["path"], scope["query_string"]
    answer: dict[str, Any] = {
        "status": 200,
        "headers": list(headers),
        "body": body,
        "route": route_template(scope),
        "ttl": ttl,
    }
    if not is_per_user(endpoint):
        # The app authenticated this request, so the answer may be the caller's own: a route
        # marked for everyone by mistake is not kept for everyone.
        return user is None and edge.put(path, query, **answer)
    if user is None or not authorization:
        return False
    versions = declared_versions(scope)
    return edge.put(
        path, query, authorization=authorization, user=user.id, versions=versions, **answer
    )


def _declared(value: bytes) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            # A client-chosen id is echoed and logged, so only a safe shape is accepted.
            return text if _REQUEST_ID.match(text) else None
    return None


class GatewayApp(FastAPI):
    """FastAPI with the `Gateway` (once installed) in front of its whole middleware stack.
    Every HTTP request and WebSocket meets the gateway first; the lifespan goes straight to
    FastAPI. Unhandled errors still reach the gateway: FastAPI's outermost layer answers them
    with the app's `Exception` handler and raises them on, and the gateway logs them."""

    gateway: Gateway | None = None

    def install_gateway(self, **options: Any) -> Gateway:
        self.gateway = Gateway(functools.partial(FastAPI.__call__, self), **options)
        return self.gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gateway = self.gateway
        if gateway is None or scope["type"] == "lifespan":
            await super().__call__(scope, receive, send)
            return
        await gateway(scope, receive, send)


class _BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing re-raises it instead of answering 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request body larger than {max_bytes} bytes")
