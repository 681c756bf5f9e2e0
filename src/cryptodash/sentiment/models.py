"""Tables owned by the sentiment domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cryptodash.platform.db import Base, BigIntId, UTCDateTime


class Sentiment(Base):
    __tablename__ = "sentiments"
    __table_args__ = (Index("ix_sentiments_coin_id_timestamp", "coin_id", "timestamp"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    coin_id: Mapped[str] = mapped_column(String(50))
    score: Mapped[float | None] = mapped_column(Float)
    positive_pct: Mapped[float | None] = mapped_column(Float)
    negative_pct: Mapped[float | None] = mapped_column(Float)
    neutral_pct: Mapped[float | None] = mapped_column(Float)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
