"""Every domain's tables on one metadata, for Alembic and the schema tests."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import MetaData

from cryptodash.platform.db import Base


def target_metadata() -> MetaData:
    # Importing the domain model modules registers their tables on Base.metadata.
    from cryptodash.market import models as _market  # noqa: F401
    from cryptodash.portfolio import models as _portfolio  # noqa: F401
    from cryptodash.sentiment import models as _sentiment  # noqa: F401
    from cryptodash.users import models as _users  # noqa: F401

    return Base.metadata


_PARTITION = re.compile(r"^prices_\d{4}_\d{2}$")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic filter: the monthly partitions of `prices` are managed by SQL, not by models."""
    return not (type_ == "table" and name is not None and _PARTITION.match(name))
