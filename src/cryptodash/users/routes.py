"""HTTP routes of the users domain: `/api/users/*` (accounts, sessions, preferences) and
`/api/admin/*` (user administration).

Browser sessions: login and refresh set the refresh token as an httpOnly, SameSite=Strict
cookie scoped to `/api/users`, and a readable `csrf_token` cookie. A refresh that relies on the
cookie must echo that token in `X-CSRF-Token` (double submit); the token is an HMAC of the
session id, so a cookie planted by another site or subdomain does not match either.
API clients send `{"refresh_token": ...}` in the body instead and need no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from cryptodash.auth import AdminUser, CurrentUser, Public
from cryptodash.deps import CacheDep, PlatformDep, SessionDep
from cryptodash.errors import Forbidden, ServiceUnavailable, Unauthorized
from cryptodash.runtime import Platform
from cryptodash.users import service, tokens
from cryptodash.users.schemas import (
    AdminUserUpdate,
    LoginRequest,
    PasswordChange,
    Preferences,
    RefreshRequest,
    SearchText,
    TokenPair,
    UserCreate,
    UserPage,
    UserRead,
    UserUpdate,
)

REFRESH_COOKIE = "refresh_token"
CSRF_COOKIE = "csrf_token"
CSRF_HEADER = "x-csrf-token"
REFRESH_COOKIE_PATH = "/api/users"

UserId = Annotated[int, Path(ge=1, le=tokens.MAX_USER_ID)]


def _secret(platform: Platform) -> str:
    if platform.jwt_secret is None:
        raise ServiceUnavailable("This service has no signing key")
    return platform.jwt_secret


def csrf_token_for(secret: str, sid: str) -> str:
    return hmac.new(secret.encode(), f"csrf:{sid}".encode(), hashlib.sha256).hexdigest()


def _secure(request: Request, platform: Platform) -> bool:
    configured = platform.settings.cookie_secure
    return configured if configured is not None else request.url.scheme == "https"


def _set_session_cookies(
    response: Response, request: Request, platform: Platform, pair: TokenPair
) -> None:
    secret = _secret(platform)
    sid = tokens.decode(secret, pair.refresh_token, expected="refresh").sid
    max_age = platform.settings.refresh_token_ttl_seconds
    secure = _secure(request, platform)
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token,
        max_age=max_age,
        path=REFRESH_COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token_for(secret, sid),
        max_age=max_age,
        path="/",
        httponly=False,  # the web app reads it to send it back in X-CSRF-Token
        samesite="strict",
        secure=secure,
    )


def _clear_session_cookies(response: Response, request: Request, platform: Platform) -> None:
    secure = _secure(request, platform)
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, httponly=True, samesite="strict", secure=secure
    )
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict", secure=secure)


def _check_csrf(request: Request, secret: str, refresh_token: str) -> None:
    header = request.headers.get(CSRF_HEADER, "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    try:
        sid = tokens.decode(secret, refresh_token, expected="refresh").sid
    except tokens.InvalidToken as exc:
        raise Unauthorized("Invalid refresh token") from exc
    expected = csrf_token_for(secret, sid)
    if not (
        header
        and hmac.compare_digest(header.encode(), cookie.encode())
        and hmac.compare_digest(header.encode(), expected.encode())
    ):
        raise Forbidden("Missing or wrong CSRF token", code="csrf_failed")


users = APIRouter(prefix="/api/users", tags=["users"])
admin = APIRouter(prefix="/api/admin", tags=["admin"])


@users.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Public],
    response_model=UserRead,
)
async def register(body: UserCreate, session: SessionDep, platform: PlatformDep) -> UserRead:
    user = await service.register(session, data=body, settings=platform.settings)
    return UserRead.model_validate(user)


@users.post("/login", dependencies=[Public])
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    platform: PlatformDep,
) -> TokenPair:
    user = await service.authenticate(
        session, login=body.username, password=body.password, settings=platform.settings
    )
    pair = await service.start_session(
        session, user=user, secret=_secret(platform), settings=platform.settings
    )
    _set_session_cookies(response, request, platform, pair)
    return pair


@users.post("/refresh", dependencies=[Public])
async def refresh(
    request: Request,
    response: Response,
    session: SessionDep,
    platform: PlatformDep,
    body: RefreshRequest | None = None,
) -> TokenPair:
    """Trade a refresh token (body, or the cookie plus X-CSRF-Token) for a new pair."""
    secret = _secret(platform)
    if body is not None:
        token = body.refresh_token
    else:
        token = request.cookies.get(REFRESH_COOKIE, "")
        if not token:
            raise Unauthorized("No refresh token")
        _check_csrf(request, secret, token)
    pair = await service.rotate_session(
        session, token=token, secret=secret, settings=platform.settings, cache=platform.cache
    )
    _set_session_cookies(response, request, platform, pair)
    return pair


@users.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    user: CurrentUser, request: Request, session: SessionDep, platform: PlatformDep
) -> Response:
    """End this session: its refresh tokens and its access tokens stop working."""
    families = await service.revoke_sessions(session, family=user.sid)
    await session.commit()
    await service.publish_revoked_sessions(platform.cache, families or [user.sid])
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _clear_session_cookies(response, request, platform)
    return response


@users.get("/me")
async def read_me(user: CurrentUser, session: SessionDep) -> UserRead:
    return UserRead.model_validate(await service.get(session, user_id=user.id))


@users.patch("/me")
async def update_me(body: UserUpdate, user: CurrentUser, session: SessionDep) -> UserRead:
    account = await service.get(session, user_id=user.id)
    return UserRead.model_validate(await service.update_profile(session, user=account, data=body))


@users.post("/me/password")
async def change_password(
    body: PasswordChange,
    user: CurrentUser,
    request: Request,
    response: Response,
    session: SessionDep,
    platform: PlatformDep,
) -> TokenPair:
    """Set a new password; every session ends, and this one continues with a new pair."""
    account = await service.get(session, user_id=user.id)
    revoked = await service.change_password(
        session,
        user=account,
        current=body.current_password,
        new=body.new_password,
        settings=platform.settings,
    )
    pair = await service.start_session(
        session, user=account, secret=_secret(platform), settings=platform.settings
    )
    await session.commit()
    await service.publish_revoked_sessions(platform.cache, revoked)
    _set_session_cookies(response, request, platform, pair)
    return pair


@users.get("/me/preferences")
async def read_preferences(user: CurrentUser, session: SessionDep, cache: CacheDep) -> Preferences:
    return await service.get_preferences(session, cache=cache, user_id=user.id)


@users.put("/me/preferences")
async def replace_preferences(
    body: Preferences, user: CurrentUser, session: SessionDep, cache: CacheDep
) -> Preferences:
    prefs = await service.put_preferences(session, user_id=user.id, prefs=body)
    await session.commit()
    await service.cache_preferences(cache, user_id=user.id, prefs=prefs)
    return prefs


@admin.get("/users")
async def list_users(
    _: AdminUser,
    session: SessionDep,
    q: Annotated[SearchText | None, Query(description="Part of a user name or e-mail")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> UserPage:
    found, total = await service.list_users(session, query=q, limit=limit, offset=offset)
    return UserPage(
        items=[UserRead.model_validate(u) for u in found], total=total, limit=limit, offset=offset
    )


@admin.get("/users/{user_id}")
async def read_user(user_id: UserId, _: AdminUser, session: SessionDep) -> UserRead:
    return UserRead.model_validate(await service.get(session, user_id=user_id))


@admin.patch("/users/{user_id}")
async def update_user(
    user_id: UserId,
    body: AdminUserUpdate,
    actor: AdminUser,
    session: SessionDep,
    platform: PlatformDep,
) -> UserRead:
    """Change a user's role or active flag; deactivation ends their sessions at once."""
    user, revoked = await service.admin_update(
        session, actor_id=actor.id, user_id=user_id, data=body
    )
    await session.commit()
    await service.publish_user_state(platform.cache, user)
    await service.publish_revoked_sessions(platform.cache, revoked)
    return UserRead.model_validate(user)


def routers() -> list[APIRouter]:
    return [users, admin]
