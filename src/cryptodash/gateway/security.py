"""The gateway's defenses, as pure ASGI middleware: security headers, CORS and rate limits.

- `SecurityHeaders` sets CSP, nosniff, Referrer-Policy, X-Frame-Options/frame-ancestors and
  friends on every HTTP response (replacing an upstream's copies), HSTS when the request came
  over TLS, and `Cache-Control: no-store` on account routes (they carry tokens).
- `Cors` is Starlette's CORS for `CRYPTODASH_CORS_ORIGINS`, with our error body on a refused
  preflight.
- `RateLimit` takes one token per API request from a bucket: per user for a valid access
  token, per IP otherwise, and a stricter per-IP bucket for login, register, refresh and
  password changes; and one per WebSocket handshake from a per-IP bucket. Only `/api/` and
  `/ws/` are limited: health and metrics (probes and scrapes must never be refused) and the web
  app's pages and assets (one page load fetches a dozen chunks) are not.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cryptodash.config import Settings
from cryptodash.errors import error_body
from cryptodash.gateway.middleware import send_error
from cryptodash.platform.metrics import Metrics
from cryptodash.platform.ratelimit import RateLimiter
from cryptodash.users import tokens

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI loads its script and styles from a CDN and starts with an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
# The web app (a static Next.js export) bootstraps with inline scripts and talks to its own
# origin over HTTP and WebSocket only.
APP_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' ws: wss:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
HSTS = b"max-age=63072000; includeSubDomains"
_NO_STORE_PREFIXES = ("/api/users", "/api/admin")
_DOCS_PATHS = frozenset({"/api/docs", "/docs/oauth2-redirect"})

_STATIC_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
_REPLACED = frozenset(
    {name for name, _ in _STATIC_HEADERS}
    | {b"content-security-policy", b"strict-transport-security"}
)


def content_security_policy(path: str) -> str:
    if path in _DOCS_PATHS:
        return DOCS_CSP
    if path.startswith("/api/") or path in ("/health", "/health/ready", "/metrics"):
        return API_CSP
    return APP_CSP


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = [
            *_STATIC_HEADERS,
            (b"content-security-policy", content_security_policy(path).encode()),
        ]
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", HSTS))
        no_store = path.startswith(_NO_STORE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in _REPLACED
                ]
                if no_store and not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Cors(CORSMiddleware):
    """Starlette's CORS; a refused preflight answers with our error body."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        super().__init__(
            app,
            allow_origins=list(origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token", "X-Request-ID"],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
            ],
            max_age=600,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        message = bytes(response.body).decode()
        headers = {
            k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")
        }
        return Response(
            error_body(400, message, code="cors_refused"),
            status_code=400,
            media_type="application/json",
            headers=headers,
        )


AUTH_PATHS = frozenset(
    {"/api/users/login", "/api/users/register", "/api/users/refresh", "/api/users/me/password"}
)
LIMITED_PREFIXES = ("/api/", "/ws/")


class RateLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        settings: Settings,
        jwt_secret: str | None,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.settings = settings
        self.jwt_secret = jwt_secret
        self.metrics = metrics

    def bucket(self, scope: Scope) -> tuple[str, str, int]:
        """(scope name, bucket key, tokens per minute) for this request."""
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        if scope["type"] == "websocket":
            return "ws", f"ws:{ip}", self.settings.rate_limit_ws_per_min
        if scope["path"] in AUTH_PATHS:
            return "auth", f"auth:{ip}", self.settings.rate_limit_auth_per_min
        user_id = self._user_id(scope)
        if user_id is not None:
            return "user", f"user:{user_id}", self.settings.rate_limit_user_per_min
        return "anon", f"anon:{ip}", self.settings.rate_limit_anon_per_min

    def _user_id(self, scope: Scope) -> int | None:
        """The user of a validly signed access token; a bad one counts as anonymous (and is
        refused by the service it reaches)."""
        if self.jwt_secret is None:
            return None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer":
                    return None
                try:
                    return tokens.decode(self.jwt_secret, token.strip(), expected="access").user_id
                except tokens.InvalidToken:
                    return None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] not in ("http", "websocket")
            or not scope["path"].startswith(LIMITED_PREFIXES)
            or scope.get("method") == "OPTIONS"
        ):
            await self.app(scope, receive, send)
            return
        name, key, per_minute = self.bucket(scope)
        decision = await self.limiter.hit(key, per_minute)
        headers = [
            (b"x-ratelimit-limit", str(decision.limit).encode()),
            (b"x-ratelimit-remaining", str(decision.remaining).encode()),
        ]
        if not decision.allowed:
            self.metrics.rate_limit_rejections.labels(name).inc()
            retry = decision.retry_after_header
            headers.append((b"retry-after", retry.encode()))
            message = f"Too many requests; retry in {retry} s"
            if scope["type"] == "http":
                await send_error(send, 429, message, headers=headers)
            else:
                await _refuse_websocket(scope, send, message, headers)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_limits)


async def _refuse_websocket(
    scope: Scope, send: Send, message: str, headers: list[tuple[bytes, bytes]]
) -> None:
    """A refused handshake: a real 429 where the server can answer one (ASGI's
    `websocket.http.response` extension, uvicorn has it), else a close before accept (403)."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1013, "reason": "rate limited"})
        return
    body = error_body(429, message)
    await send(
        {
            "type": "websocket.http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})
