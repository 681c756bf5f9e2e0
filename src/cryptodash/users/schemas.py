"""Request and response bodies of the users domain.

Every text field refuses what could not be stored or hashed safely (control characters, lone
surrogates, more than bcrypt's 72 bytes of password), so bad input is a 422, never a 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
)

Role = Literal["user", "admin"]


def _printable(value: str) -> str:
    value.encode()  # a lone surrogate raises UnicodeEncodeError, a ValueError: 422
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError("must not contain control characters")
    return value


def _bcrypt_sized(value: str) -> str:
    if len(value.encode()) > 72:
        raise ValueError("must be at most 72 bytes in UTF-8")
    return value


Username = Annotated[
    str, StringConstraints(min_length=3, max_length=50, pattern=r"^[A-Za-z0-9_-]+$")
]
# bcrypt reads 72 bytes; longer passwords are refused rather than silently truncated.
Password = Annotated[
    str,
    StringConstraints(min_length=10, max_length=72),
    AfterValidator(_printable),
    AfterValidator(_bcrypt_sized),
]
# What a login form may send: checked for shape only, so the answer never hints at the rules.
LoginName = Annotated[
    str, StringConstraints(min_length=1, max_length=254), AfterValidator(_printable)
]
LoginPassword = Annotated[
    str, StringConstraints(min_length=1, max_length=1024), AfterValidator(_printable)
]
SearchText = Annotated[str, StringConstraints(max_length=100), AfterValidator(_printable)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Body):
    username: Username
    email: EmailStr
    password: Password


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    email: str
    role: Role
    is_active: bool
    created_at: datetime


class UserUpdate(_Body):
    """What a user may change about themselves (never role or is_active)."""

    username: Username | None = None
    email: EmailStr | None = None


class LoginRequest(_Body):
    username: LoginName = Field(description="User name or e-mail address")
    password: LoginPassword


class RefreshRequest(_Body):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class PasswordChange(_Body):
    current_password: LoginPassword
    new_password: Password


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme, not a secret
    expires_in: int


class Notifications(_Body):
    price_alerts: StrictBool = True
    sentiment_alerts: StrictBool = False
    email: StrictBool = False


class Preferences(_Body):
    """Read and written whole (PUT replaces; a missing field takes its default)."""

    theme: Literal["dark", "light", "system"] = "dark"
    currency: Literal["USD", "EUR", "GBP", "JPY", "BTC", "ETH"] = "USD"
    default_timeframe: Literal["1m", "5m", "15m", "1h", "4h", "1d"] = "1h"
    notifications: Notifications = Field(default_factory=Notifications)


class AdminUserUpdate(_Body):
    role: Role | None = None
    is_active: StrictBool | None = None


class UserPage(BaseModel):
    items: list[UserRead]
    total: int
    limit: int
    offset: int
