"""Account operations of the users domain (keyword-only, session passed in)."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cryptodash.config import Settings
from cryptodash.users.models import User, UserPreferences
from cryptodash.users.passwords import check_rounds, hash_password
from cryptodash.users.schemas import UserCreate


class AccountError(ValueError):
    pass


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
