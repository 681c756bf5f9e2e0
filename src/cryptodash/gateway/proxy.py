"""Split mode: the gateway forwards `/api/<service>/…` to the service that owns it.

Requests and responses stream through (httpx), so a large body or a long response never sits
whole in the gateway. The request id travels on as `X-Request-ID`, with the usual
`X-Forwarded-*` headers. A service that cannot be reached answers 503 in our error body, one
that does not answer in time 504; every service checks the token itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from starlette.types import Message, Receive, Scope, Send

from cryptodash.config import Settings
from cryptodash.gateway.middleware import send_error
from cryptodash.platform.logging import get_logger, request_id_var

log = get_logger(__name__)

# (path prefix, service); a prefix matches itself and what follows a "/", except
# `/api/watchlist`, which matches any path it begins (`/api/watchlist*`).
ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/users", "users"),
    ("/api/admin", "users"),
    ("/api/market", "market"),
    ("/api/analytics", "analytics"),
    ("/api/sentiment", "sentiment"),
    ("/api/portfolio", "portfolio"),
    ("/api/watchlist", "portfolio"),
)
# Hop-by-hop headers (RFC 9110 §7.6.1) and those the gateway sets itself.
_DROP_REQUEST = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"x-request-id",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
    }
)
_DROP_RESPONSE = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"date",
        b"server",
        b"x-request-id",
    }
)


def service_for(path: str) -> str | None:
    for prefix, service in ROUTES:
        if path == prefix or path.startswith(prefix + "/"):
            return service
        if prefix == "/api/watchlist" and path.startswith(prefix):
            return service
    return None


@dataclass(frozen=True)
class ProxiedRoute:
    """Stands in for a route in the scope, so metrics label proxied calls by service."""

    path: str


class Proxy:
    def __init__(self, settings: Settings) -> None:
        self.upstreams = {
            "users": settings.users_url,
            "market": settings.market_url,
            "analytics": settings.analytics_url,
            "sentiment": settings.sentiment_url,
            "portfolio": settings.portfolio_url,
        }
        self.timeout = httpx.Timeout(settings.proxy_timeout_seconds, connect=2.0, pool=5.0)
        self.client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self.client = httpx.AsyncClient(
            timeout=self.timeout,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            follow_redirects=False,
            trust_env=False,
        )

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        service = service_for(path)
        if service is None or self.client is None:
            await send_error(send, 404, "Not found")
            return
        scope["route"] = ProxiedRoute(f"/api/{service}/*")
        base = self.upstreams[service].rstrip("/")
        raw_path = scope.get("raw_path") or path.encode()
        url = base + raw_path.decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")

        headers = [
            (name, value) for name, value in scope["headers"] if name.lower() not in _DROP_REQUEST
        ]
        headers += _forwarded(scope)
        has_body = any(
            name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"]
        )
        request = self.client.build_request(
            scope["method"],
            url,
            headers=headers,
            content=_request_body(receive) if has_body else None,
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            connect = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            log.warning("upstream_timeout", service=service, error=repr(exc))
            if connect:
                await send_error(send, 503, f"The {service} service is unavailable", headers=_RETRY)
            else:
                await send_error(send, 504, f"The {service} service did not answer in time")
            return
        except httpx.TransportError as exc:
            log.warning("upstream_unavailable", service=service, error=repr(exc))
            await send_error(send, 503, f"The {service} service is unavailable", headers=_RETRY)
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (name, value)
                        for name, value in response.headers.raw
                        if name.lower() not in _DROP_RESPONSE
                        and not name.lower().startswith(b"access-control-")
                    ],
                }
            )
            try:
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.HTTPError as exc:  # the status is sent: all we can do is end early
                log.warning("upstream_broke_off", service=service, error=repr(exc))
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()


_RETRY = [(b"retry-after", b"5")]


def _forwarded(scope: Scope) -> list[tuple[bytes, bytes]]:
    # The client as this gateway sees it (uvicorn has already applied a trusted proxy's
    # X-Forwarded-For); a chain sent by the client itself is not passed on.
    client = scope.get("client")
    host = next((value for name, value in scope["headers"] if name == b"host"), b"")
    forwarded = [
        (b"x-forwarded-for", (client[0] if client else "unknown").encode("latin-1")),
        (b"x-forwarded-proto", str(scope.get("scheme", "http")).encode()),
        (b"x-forwarded-host", host),
    ]
    request_id = request_id_var.get()
    if request_id:
        forwarded.append((b"x-request-id", request_id.encode()))
    return forwarded


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return
        body = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return
