"""Tables owned by the market domain.

`prices` keeps one row per coin, source and second (the last price, the volume summed); raw
trades are not stored. On PostgreSQL it is range-partitioned by month (see the migration).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cryptodash.platform.db import Base, BigIntId, Numeric38, UTCDateTime


class Price(Base):
    __tablename__ = "prices"
    __table_args__ = (
        UniqueConstraint("coin_id", "source", "timestamp"),
        Index("ix_prices_coin_id_timestamp", "coin_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    coin_id: Mapped[str] = mapped_column(String(50))
    source: Mapped[str] = mapped_column(String(20))
    quote: Mapped[str] = mapped_column(String(10), default="USD", server_default="USD")
    price: Mapped[Decimal] = mapped_column(Numeric38)
    volume: Mapped[Decimal | None] = mapped_column(Numeric38, nullable=True)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
