"""Account operations of the users domain (keyword-only, session passed in).

Sessions: a login starts a refresh-token family (`sid`); each refresh rotates the token, and a
rotated token presented again revokes the whole family. Access tokens carry their family, so
revoking a family (logout, reuse, password change, deactivation) ends its access tokens too.

Who may act is decided per request from the *current* state of the user and the session, not
from the token's claims: `get_auth_state` reads `user:auth:{id}` and `user:session:{sid}` from
the cache (one round trip) and falls back to the database. The users service writes those keys
through at every change after committing it, so every service — in split mode too, through
Redis — refuses a deactivated user or a revoked session on its next request. The entries live
`AUTH_STATE_TTL` seconds, which bounds how stale one can be when a write-through was lost
(Redis down at that moment) or raced a reader.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cryptodash.config import Settings
from cryptodash.errors import Conflict, Forbidden, NotFound, Unauthorized
from cryptodash.platform.cache import Cache
from cryptodash.platform.db import Database
from cryptodash.users import tokens
from cryptodash.users.models import RefreshToken, User, UserPreferences
from cryptodash.users.passwords import check_rounds, hash_password, rounds_of, verify_password
from cryptodash.users.schemas import (
    AdminUserUpdate,
    Preferences,
    TokenPair,
    UserCreate,
    UserUpdate,
)

AUTH_STATE_TTL = 60.0
PREFS_TTL = 600.0
BAD_CREDENTIALS = "Invalid username or password"


class AccountError(ValueError):
    pass


# --------------------------------------------------------------------------- auth state


@dataclass(frozen=True)
class AuthState:
    active: bool
    role: str
    session_revoked: bool


def user_state_key(user_id: int) -> str:
    return f"user:auth:{user_id}"


def session_state_key(sid: str) -> str:
    return f"user:session:{sid}"


def prefs_key(user_id: int) -> str:
    return f"user:prefs:{user_id}"


def _user_state(user: User | None) -> bytes:
    if user is None:
        return orjson.dumps({"active": False, "role": "user"})
    return orjson.dumps({"active": user.is_active, "role": user.role})


def _loads(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


async def get_auth_state(*, cache: Cache, db: Database, user_id: int, sid: str) -> AuthState:
    """The user's current active flag and role, and whether this session was revoked."""
    state, _ = await get_auth_state_with(cache=cache, db=db, user_id=user_id, sid=sid, also=())
    return state


async def get_auth_state_with(
    *, cache: Cache, db: Database, user_id: int, sid: str, also: Sequence[str]
) -> tuple[AuthState, list[bytes | None]]:
    """`get_auth_state`, and the values of the cache keys `also`, read in the same lookup (one
    round trip to Redis)."""
    raw_user, raw_session, *values = await cache.get_many(
        [user_state_key(user_id), session_state_key(sid), *also]
    )
    user_state, session_state = _loads(raw_user), _loads(raw_session)
    if user_state is not None and session_state is not None:
        state = AuthState(
            active=bool(user_state.get("active")),
            role=str(user_state.get("role")),
            session_revoked=bool(session_state.get("revoked", True)),
        )
        return state, values
    async with db.session(writes=False) as session:  # a read: no queue for the write lock
        user = await session.get(User, user_id)
        revoked = bool(
            await session.scalar(
                select(
                    exists().where(
                        RefreshToken.family_id == sid, RefreshToken.revoked_at.is_not(None)
                    )
                )
            )
        )
    await cache.set_many(
        {
            user_state_key(user_id): _user_state(user),
            session_state_key(sid): orjson.dumps({"revoked": revoked}),
        },
        AUTH_STATE_TTL,
    )
    if user is None:
        return AuthState(active=False, role="user", session_revoked=True), values
    return AuthState(active=user.is_active, role=user.role, session_revoked=revoked), values


async def publish_user_state(cache: Cache, user: User) -> None:
    """Write-through after a committed change of role or active flag."""
    await cache.set(user_state_key(user.id), _user_state(user), AUTH_STATE_TTL)


async def publish_revoked_sessions(cache: Cache, families: list[str]) -> None:
    """Write-through after committed revocations: the families' access tokens stop at once."""
    if families:
        revoked = orjson.dumps({"revoked": True})
        await cache.set_many({session_state_key(sid): revoked for sid in families}, AUTH_STATE_TTL)


# --------------------------------------------------------------------------- passwords

_dummy_hashes: dict[int, str] = {}


async def _dummy_hash(rounds: int) -> str:
    """A hash to check unknown users' passwords against, so they take as long as known ones."""
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = await asyncio.to_thread(
            hash_password, secrets.token_urlsafe(16), rounds
        )
    return _dummy_hashes[rounds]


async def _verify(password: str, password_hash: str) -> bool:
    # bcrypt is ~0.25 s of CPU at cost 12: off the event loop.
    return await asyncio.to_thread(verify_password, password, password_hash)


async def _hash(password: str, settings: Settings) -> str:
    rounds = check_rounds(settings.bcrypt_rounds, settings.env)
    return await asyncio.to_thread(hash_password, password, rounds)


# --------------------------------------------------------------------------- accounts


async def _find_taken(
    session: AsyncSession, *, username: str | None, email: str | None, exclude_id: int | None
) -> str | None:
    conditions = []
    if username is not None:
        conditions.append(func.lower(User.username) == username.lower())
    if email is not None:
        conditions.append(User.email == email.lower())
    if not conditions:
        return None
    query = select(User).where(or_(*conditions))
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    taken = (await session.scalars(query.limit(1))).first()
    if taken is None:
        return None
    if username is not None and taken.username.lower() == username.lower():
        return "username"
    return "email"


async def _flush_unique(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request took the name between check and insert
        raise Conflict("Username or e-mail already registered") from exc


async def register(session: AsyncSession, *, data: UserCreate, settings: Settings) -> User:
    taken = await _find_taken(session, username=data.username, email=data.email, exclude_id=None)
    if taken:
        raise Conflict(f"That {taken} is already registered", details={"field": taken})
    user = User(
        username=data.username,
        email=data.email.lower(),
        password_hash=await _hash(data.password, settings),
        role="user",
    )
    session.add(user)
    await _flush_unique(session)
    defaults = Preferences().notifications.model_dump()
    session.add(UserPreferences(user_id=user.id, notifications=defaults))
    return user


async def get(session: AsyncSession, *, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} not found")
    return user


async def authenticate(
    session: AsyncSession, *, login: str, password: str, settings: Settings
) -> User:
    """The user with that name (or e-mail) and password; 401 alike for an unknown user and a
    wrong password, in the same time. Rehashes when the configured cost was raised."""
    dummy = await _dummy_hash(check_rounds(settings.bcrypt_rounds, settings.env))
    if "@" in login:
        condition = User.email == login.lower()
    else:
        condition = func.lower(User.username) == login.lower()
    user = (await session.scalars(select(User).where(condition).limit(1))).first()
    if user is None:
        await _verify(password, dummy)
        raise Unauthorized(BAD_CREDENTIALS)
    if not await _verify(password, user.password_hash):
        raise Unauthorized(BAD_CREDENTIALS)
    if not user.is_active:
        raise Forbidden("This account is deactivated", code="account_disabled")
    if rounds_of(user.password_hash) < settings.bcrypt_rounds:
        user.password_hash = await _hash(password, settings)
    return user


async def update_profile(session: AsyncSession, *, user: User, data: UserUpdate) -> User:
    username = data.username
    email = data.email.lower() if data.email is not None else None
    taken = await _find_taken(session, username=username, email=email, exclude_id=user.id)
    if taken:
        raise Conflict(f"That {taken} is already registered", details={"field": taken})
    if username is not None:
        user.username = username
    if email is not None:
        user.email = email
    await _flush_unique(session)
    return user


async def change_password(
    session: AsyncSession, *, user: User, current: str, new: str, settings: Settings
) -> list[str]:
    """Set a new password and revoke every session; returns the revoked families."""
    if not await _verify(current, user.password_hash):
        raise Forbidden("The current password is wrong", code="wrong_password")
    user.password_hash = await _hash(new, settings)
    return await revoke_sessions(session, user_id=user.id)


async def list_users(
    session: AsyncSession, *, query: str | None, limit: int, offset: int
) -> tuple[list[User], int]:
    statement = select(User)
    if query:
        needle = query.lower()
        statement = statement.where(
            or_(
                func.lower(User.username).contains(needle, autoescape=True),
                User.email.contains(needle, autoescape=True),
            )
        )
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    users = await session.scalars(statement.order_by(User.id).limit(limit).offset(offset))
    return list(users), int(total or 0)


async def admin_update(
    session: AsyncSession, *, actor_id: int, user_id: int, data: AdminUserUpdate
) -> tuple[User, list[str]]:
    """Change a user's role or active flag; deactivating revokes their sessions."""
    user = await get(session, user_id=user_id)
    if user.id == actor_id and (data.role == "user" or data.is_active is False):
        raise Conflict("Administrators cannot demote or deactivate themselves")
    if data.role is not None:
        user.role = data.role
    revoked: list[str] = []
    if data.is_active is not None:
        user.is_active = data.is_active
        if not data.is_active:
            revoked = await revoke_sessions(session, user_id=user.id)
    await session.flush()
    return user, revoked


# --------------------------------------------------------------------------- sessions


async def _issue_pair(
    session: AsyncSession, *, user: User, family: str, secret: str, settings: Settings
) -> TokenPair:
    # Spent and revoked tokens are kept until they expire (a replay must still be recognised);
    # after that their JWT is refused anyway, so the rows can go.
    await session.execute(
        delete(RefreshToken).where(
            RefreshToken.user_id == user.id, RefreshToken.expires_at < datetime.now(UTC)
        )
    )
    access, _ = tokens.issue(
        secret,
        user_id=user.id,
        role=user.role,
        type="access",
        sid=family,
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    refresh, claims = tokens.issue(
        secret,
        user_id=user.id,
        role=user.role,
        type="refresh",
        sid=family,
        ttl_seconds=settings.refresh_token_ttl_seconds,
    )
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family,
            token_hash=tokens.fingerprint(refresh),
            expires_at=claims.expires_at,
        )
    )
    await session.flush()
    return TokenPair(
        access_token=access, refresh_token=refresh, expires_in=settings.access_token_ttl_seconds
    )


async def start_session(
    session: AsyncSession, *, user: User, secret: str, settings: Settings
) -> TokenPair:
    """A new token family for a fresh login."""
    return await _issue_pair(
        session, user=user, family=tokens.new_session_id(), secret=secret, settings=settings
    )


async def rotate_session(
    session: AsyncSession, *, token: str, secret: str, settings: Settings, cache: Cache
) -> TokenPair:
    """Trade a refresh token for a new pair. A token already used (or from a revoked family)
    revokes its whole family, commits that, and is refused."""
    try:
        claims = tokens.decode(secret, token, expected="refresh")
    except tokens.InvalidToken as exc:
        raise Unauthorized("Invalid refresh token") from exc
    row = (
        await session.scalars(
            select(RefreshToken).where(RefreshToken.token_hash == tokens.fingerprint(token))
        )
    ).first()
    if row is None or row.user_id != claims.user_id or row.family_id != claims.sid:
        raise Unauthorized("Invalid refresh token")
    # One conditional UPDATE: of two concurrent refreshes with one token, exactly one wins.
    claimed = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == row.id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        families = await revoke_sessions(session, family=row.family_id)
        # Committed here, not by the request: the revocation must outlive the 401 below.
        await session.commit()
        await publish_revoked_sessions(cache, families or [row.family_id])
        raise Unauthorized("Refresh token was already used; the session is revoked")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Invalid refresh token")
    return await _issue_pair(
        session, user=user, family=row.family_id, secret=secret, settings=settings
    )


async def revoke_sessions(
    session: AsyncSession, *, user_id: int | None = None, family: str | None = None
) -> list[str]:
    """Revoke a family, or every family of a user; returns the families touched."""
    condition = (
        RefreshToken.family_id == family if family is not None else RefreshToken.user_id == user_id
    )
    families = list(
        (
            await session.scalars(
                select(RefreshToken.family_id)
                .where(condition, RefreshToken.revoked_at.is_(None))
                .distinct()
            )
        ).all()
    )
    await session.execute(
        update(RefreshToken)
        .where(condition, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    return families


# --------------------------------------------------------------------------- preferences


async def get_preferences(session: AsyncSession, *, cache: Cache, user_id: int) -> Preferences:
    cached = _loads(await cache.get(prefs_key(user_id)))
    if cached is not None:
        try:
            return Preferences.model_validate(cached)
        except ValidationError:
            pass
    row = await session.get(UserPreferences, user_id)
    prefs = Preferences() if row is None else _prefs_from_row(row)
    await cache.set(prefs_key(user_id), prefs.model_dump_json().encode(), PREFS_TTL)
    return prefs


def _prefs_from_row(row: UserPreferences) -> Preferences:
    try:
        return Preferences.model_validate(
            {
                "theme": row.theme,
                "currency": row.currency,
                "default_timeframe": row.default_timeframe,
                "notifications": row.notifications or {},
            }
        )
    except ValidationError:
        return Preferences()  # a row written by an older version: show the defaults


async def put_preferences(
    session: AsyncSession, *, user_id: int, prefs: Preferences
) -> Preferences:
    row = await session.get(UserPreferences, user_id)
    if row is None:
        row = UserPreferences(user_id=user_id)
        session.add(row)
    row.theme = prefs.theme
    row.currency = prefs.currency
    row.default_timeframe = prefs.default_timeframe
    row.notifications = prefs.notifications.model_dump()
    await session.flush()
    return prefs


async def cache_preferences(cache: Cache, *, user_id: int, prefs: Preferences) -> None:
    await cache.set(prefs_key(user_id), prefs.model_dump_json().encode(), PREFS_TTL)


# --------------------------------------------------------------------------- admin CLI


async def make_admin(
    session: AsyncSession, *, username: str, email: str, password: str, settings: Settings
) -> str:
    """Create an admin, or promote the existing user with that username or e-mail."""
    try:
        data = UserCreate(username=username, email=email, password=password)
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        raise AccountError(problems) from exc
    existing = await session.scalar(
        select(User).where(
            or_(
                func.lower(User.username) == data.username.lower(),
                func.lower(User.email) == data.email.lower(),
            )
        )
    )
    if existing is not None:
        existing.role = "admin"
        existing.is_active = True
        return f"promoted existing user {existing.username!r} (id {existing.id}) to admin"
    rounds = check_rounds(settings.bcrypt_rounds, settings.env)
    user = User(
        username=data.username,
        email=data.email.lower(),
        password_hash=hash_password(data.password, rounds),
        role="admin",
    )
    session.add(user)
    await session.flush()
    session.add(UserPreferences(user_id=user.id, notifications={}))
    return f"created admin {user.username!r} (id {user.id})"
