"""The gateway's defenses: security headers, CORS and rate limits, applied by the one gateway
middleware (`cryptodash.gateway.middleware.Gateway`) in a single pass.

- `security_headers` gives CSP, nosniff, Referrer-Policy, X-Frame-Options/frame-ancestors and
  friends for every HTTP response (replacing an upstream's copies), HSTS when the request came
  over TLS; `is_no_store` marks account routes for `Cache-Control: no-store` (they carry
  tokens). The lists are built once, not per request.
- `Cors` is Starlette's CORS for `CRYPTODASH_CORS_ORIGINS`, with our error body on a refused
  preflight.
- `RateLimits` takes one token per API request from a bucket: per user for a valid access
  token, per IP otherwise, and a stricter per-IP bucket for login, register, refresh and
  password changes; and one per WebSocket handshake from a per-IP bucket (`refuse_websocket`
  answers a refused one). Only `/api/` and `/ws/` are limited: health and metrics (probes and
  scrapes must never be refused) and the web app's pages and assets (one page load fetches a
  dozen chunks) are not.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Scope, Send

from cryptodash.config import Settings
from cryptodash.errors import error_body
from cryptodash.platform.metrics import Metrics
from cryptodash.platform.ratelimit import Decision, RateLimiter
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
REPLACED_HEADERS = frozenset(
    {name for name, _ in _STATIC_HEADERS}
    | {b"content-security-policy", b"strict-transport-security"}
)


def content_security_policy(path: str) -> str:
    return _CSP[_csp_kind(path)]


def security_headers(path: str, *, https: bool) -> list[tuple[bytes, bytes]]:
    """The headers every response to `path` carries (built once per kind of path)."""
    return _SECURITY_HEADERS[(_csp_kind(path), https)]


def _csp_kind(path: str) -> str:
    if path in _DOCS_PATHS:
        return "docs"
    if path.startswith("/api/") or path in ("/health", "/health/ready", "/metrics"):
        return "api"
    return "app"


_CSP = {"docs": DOCS_CSP, "api": API_CSP, "app": APP_CSP}
_SECURITY_HEADERS = {
    (kind, https): [
        *_STATIC_HEADERS,
        (b"content-security-policy", csp.encode()),
        *([(b"strict-transport-security", HSTS)] if https else []),
    ]
    for kind, csp in _CSP.items()
    for https in (False, True)
}


def is_no_store(path: str) -> bool:
    """Account routes carry tokens: never cached by a browser or a proxy."""
    return path.startswith(_NO_STORE_PREFIXES)


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


class RateLimits:
    """Which bucket a request draws from, and the draw (the gateway middleware asks)."""

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        settings: Settings,
        jwt_secret: str | None,
        metrics: Metrics,
    ) -> None:
        self.limiter = limiter
        self.settings = settings
        self.jwt_secret = jwt_secret
        self.metrics = metrics
        self._rejections = {
            name: metrics.rate_limit_rejections.labels(name)
            for name in ("auth", "user", "anon", "ws")
        }

    @staticmethod
    def exempt(scope: Scope) -> bool:
        return scope.get("method") == "OPTIONS" or not scope["path"].startswith(LIMITED_PREFIXES)

    def bucket(self, scope: Scope, authorization: bytes | None) -> tuple[str, str, int]:
        """(scope name, bucket key, tokens per minute) for this request."""
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        if scope["type"] == "websocket":
            return "ws", f"ws:{ip}", self.settings.rate_limit_ws_per_min
        if scope["path"] in AUTH_PATHS:
            return "auth", f"auth:{ip}", self.settings.rate_limit_auth_per_min
        user_id = self._user_id(authorization)
        if user_id is not None:
            return "user", f"user:{user_id}", self.settings.rate_limit_user_per_min
        return "anon", f"anon:{ip}", self.settings.rate_limit_anon_per_min

    def _user_id(self, authorization: bytes | None) -> int | None:
        """The user of a validly signed access token; a bad one counts as anonymous (and is
        refused by the service it reaches)."""
        if self.jwt_secret is None or authorization is None:
            return None
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            return tokens.decode(self.jwt_secret, token.strip(), expected="access").user_id
        except tokens.InvalidToken:
            return None

    async def check(
        self, scope: Scope, authorization: bytes | None
    ) -> tuple[Decision, list[tuple[bytes, bytes]]]:
        """Take a token: the decision and the `X-RateLimit-*` headers of the response (a
        refusal is counted in rate_limit_rejections_total)."""
        name, key, per_minute = self.bucket(scope, authorization)
        decision = await self.limiter.hit(key, per_minute)
        headers = [
            (b"x-ratelimit-limit", str(decision.limit).encode()),
            (b"x-ratelimit-remaining", str(decision.remaining).encode()),
        ]
        if not decision.allowed:
            self._rejections[name].inc()
            headers.append((b"retry-after", decision.retry_after_header.encode()))
        return decision, headers


async def refuse_websocket(
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
