"""Request and response bodies of the users domain."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, StringConstraints

Username = Annotated[
    str, StringConstraints(min_length=3, max_length=50, pattern=r"^[A-Za-z0-9_-]+$")
]
# bcrypt reads 72 bytes; 72 characters of ASCII is the most a password may hold unambiguously.
Password = Annotated[str, StringConstraints(min_length=10, max_length=72)]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    email: EmailStr
    password: Password
