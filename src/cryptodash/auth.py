"""Authentication and authorization, shared by every route of every service.

Routes are **authenticated by default**: `create_app` installs `authorize` as an app-wide
dependency, so a route that says nothing answers 401 without a valid access token. A route
open to anonymous callers opts out explicitly with `Public`:

    from fastapi import APIRouter
    from cryptodash.auth import AdminUser, CurrentUser, OptionalUser, Public

    router = APIRouter(prefix="/api/market", dependencies=[Public])  # a whole public router

    @router.get("/api/portfolio/{portfolio_id}")
    async def read(portfolio_id: int, user: CurrentUser, session: SessionDep) -> ...:
        ...  # user.id, user.role, user.is_admin — scope every query by user.id

    @router.delete("/api/admin/things/{thing_id}")
    async def remove(thing_id: int, admin: AdminUser) -> None: ...  # 403 for non-admins

    @router.get("/api/market/coins", dependencies=[Public])
    async def coins(user: OptionalUser) -> ...: ...  # public, personalised when a token is sent

Tokens come in `Authorization: Bearer <access token>` and never in URLs (URLs end up in logs
and browser history). A WebSocket route with `CurrentUser` takes the header too (non-browser
clients) and is closed with 1008 when it is refused; browsers, which cannot set headers on a
WebSocket, authenticate with a first frame instead (`cryptodash.gateway.ws`, through
`authenticate_token`). Every service verifies the token itself (HS256, issuer, audience,
expiry, type) and then checks the *current* state of the user and session
(`cryptodash.users.service.get_auth_state`: cache first, database behind it), so a deactivated
user, a demoted admin or a logged-out session is refused on the next request even while its
token has not expired. The role that counts is the current one, never the token's claim.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, WebSocketException, status
from starlette.requests import HTTPConnection

from cryptodash.errors import AppError, Forbidden, ServiceUnavailable, Unauthorized
from cryptodash.users import service, tokens

if TYPE_CHECKING:
    from cryptodash.edge import Answer
    from cryptodash.runtime import Platform

_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_INVALID = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


@dataclass(frozen=True)
class AuthUser:
    """The caller: user id, current role, and the session (`sid`) its token belongs to."""

    id: int
    role: str
    sid: str
    token_id: str
    expires_at: datetime | None = None
    """When the access token this caller presented expires."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


async def public() -> None:
    """Marker dependency: the route is open to anonymous callers. (Async: FastAPI would run a
    plain function in a worker thread, a thread hop on every public request.)"""


Public: Any = Depends(public)


def _is_public(route: Any) -> bool:
    known: bool | None = getattr(route, "_cryptodash_public", None)
    if known is None:  # decided once per route, on its first request
        dependant = getattr(route, "dependant", None)
        known = dependant is None or _uses_public(dependant)
        route._cryptodash_public = known
    return known


def _uses_public(dependant: Any) -> bool:
    return any(dep.call is public or _uses_public(dep) for dep in dependant.dependencies)


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Authorization must be a Bearer token", headers=_CHALLENGE)
        return value.strip()
    return None


async def authenticate(conn: HTTPConnection, token: str) -> AuthUser:
    return await authenticate_token(conn.app.state.platform, token)


async def authenticate_token(platform: Platform, token: str) -> AuthUser:
    """Verify an access token and the current state of its user and session; `Unauthorized`
    (or `ServiceUnavailable` when this process cannot check) otherwise."""
    user, _ = await _authenticate_token_with(platform, token, also=())
    return user


async def _authenticate_token_with(
    platform: Platform, token: str, *, also: Sequence[str]
) -> tuple[AuthUser, list[bytes | None]]:
    """`authenticate_token`, and the values of the cache keys `also`, read in the same lookup
    as the auth state."""
    if platform.jwt_secret is None or platform.db is None:
        raise ServiceUnavailable("This service cannot check credentials")
    try:
        claims = tokens.decode(platform.jwt_secret, token, expected="access")
    except tokens.InvalidToken as exc:
        raise Unauthorized("Invalid or expired token", headers=_INVALID) from exc
    state, values = await service.get_auth_state_with(
        cache=platform.cache, db=platform.db, user_id=claims.user_id, sid=claims.sid, also=also
    )
    if not state.active:
        raise Unauthorized("This account is deactivated", code="account_disabled", headers=_INVALID)
    if state.session_revoked:
        raise Unauthorized("This session has ended; log in again", headers=_INVALID)
    user = AuthUser(
        id=claims.user_id,
        role=state.role,
        sid=claims.sid,
        token_id=claims.jti,
        expires_at=claims.expires_at,
    )
    return user, values


async def _authenticated(conn: HTTPConnection) -> AuthUser:
    cached: AuthUser | None = getattr(conn.state, "auth_user", None)
    if cached is not None:
        return cached
    try:
        token = bearer_token(conn)
        if token is None:
            raise Unauthorized("Authentication required", headers=_CHALLENGE)
        user = await authenticate(conn, token)
    except AppError as exc:
        if conn.scope["type"] == "websocket":
            raise WebSocketException(status.WS_1008_POLICY_VIOLATION, exc.message) from exc
        raise
    conn.state.auth_user = user
    return user


async def authorize(conn: HTTPConnection) -> None:
    """App-wide dependency: every route needs a valid access token unless it uses `Public`."""
    route = conn.scope.get("route")
    if route is not None and not _is_public(route):
        await _authenticated(conn)


def private_answer_check(platform: Platform) -> Callable[[bytes, Answer], Awaitable[bool]]:
    """The edge's check before it serves a kept per-user answer (`cryptodash.edge`): the
    request's token authenticates now exactly as a route would take it (signature, expiry,
    account active, session not revoked), as the answer's user, and every cache key the answer
    was computed from still holds the value it held then. Any doubt is a miss: the request
    goes to the app, which answers it (or refuses it) itself."""

    async def check(authorization: bytes, answer: Answer) -> bool:
        scheme, _, value = authorization.decode("latin-1").partition(" ")
        token = value.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        try:
            # The versions are read with the auth state: one round trip to Redis.
            versions = [key for key, _ in answer.versions]
            user, current = await _authenticate_token_with(platform, token, also=versions)
        except Exception:  # refused, or the database behind the auth state is down: the app
            return False  # answers this request itself (and reports what failed)
        if user.id != answer.user:
            return False
        return all(now == then for now, (_, then) in zip(current, answer.versions, strict=True))

    return check


async def current_user(conn: HTTPConnection) -> AuthUser:
    return await _authenticated(conn)


CurrentUser = Annotated[AuthUser, Depends(current_user)]


async def admin_user(user: CurrentUser) -> AuthUser:
    if not user.is_admin:
        raise Forbidden("Administrators only")
    return user


AdminUser = Annotated[AuthUser, Depends(admin_user)]


async def optional_user(conn: HTTPConnection) -> AuthUser | None:
    """The caller when a token is sent (and valid: a bad token is still a 401), else None."""
    if bearer_token(conn) is None:
        return None
    return await _authenticated(conn)


OptionalUser = Annotated[AuthUser | None, Depends(optional_user)]
