"""What the users domain contributes to a process: its routes (no background workers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptodash.runtime import Domain

if TYPE_CHECKING:
    from fastapi import APIRouter


def _routers() -> list[APIRouter]:
    from cryptodash.users.routes import routers

    return routers()


DOMAIN = Domain("users", routers=_routers)
