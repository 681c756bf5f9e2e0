"""Tables owned by the market domain.

`prices` keeps one row per coin, source and second (the last price, the volume summed); raw
trades are not stored. On PostgreSQL it is range-partitioned by month (see the migration).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint
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


class CandleRecord(Base):
    """One stored candle of one coin on one source (`cryptodash.market.candles.Candle`).

    ``time`` is the bucket start. Rows of the current bucket are rewritten as ticks arrive;
    a row is final once its bucket has ended.
    """

    __tablename__ = "candles"
    __table_args__ = (Index("ix_candles_interval_time", "interval", "time"),)

    coin_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    interval: Mapped[str] = mapped_column(String(4), primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    open: Mapped[Decimal] = mapped_column(Numeric38)
    high: Mapped[Decimal] = mapped_column(Numeric38)
    low: Mapped[Decimal] = mapped_column(Numeric38)
    close: Mapped[Decimal] = mapped_column(Numeric38)
    volume: Mapped[Decimal] = mapped_column(Numeric38)


class ConsumerOffset(Base):
    """The next bus offset a market consumer has not yet written, per topic partition, and
    the newest message time (ms) applied from it.

    Written in the same transaction as the rows the messages produced, so a message that
    Kafka redelivers after a crash or a rebalance is recognised and applied once; a message
    behind the offset but newer than anything applied belongs to a log that started over (a
    broker that lost its data) and is applied.
    """

    __tablename__ = "market_consumer_offsets"

    consumer: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(String(200), primary_key=True)
    partition_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    max_timestamp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
