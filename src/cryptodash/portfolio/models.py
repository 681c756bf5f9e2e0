"""Tables owned by the portfolio domain: the seed's (with exact decimals and BIGINT ids) and
`portfolio_transactions`, of which `portfolio_assets` holds the implied holdings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cryptodash.platform.db import Base, BigIntId, Numeric38, UTCDateTime, utcnow


class Portfolio(Base):
    __tablename__ = "portfolios"
    __table_args__ = (
        CheckConstraint("cost_basis_method IN ('fifo', 'average')", name="cost_basis_method"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    base_currency: Mapped[str] = mapped_column(String(10), default="USD", server_default="USD")
    cost_basis_method: Mapped[str] = mapped_column(
        String(10), default="fifo", server_default="fifo"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Bumped by every change to the portfolio or its transactions: it serialises writers (the
    # UPDATE takes the row lock) and stamps cached ledgers.
    revision: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class PortfolioTransaction(Base):
    __tablename__ = "portfolio_transactions"
    __table_args__ = (
        CheckConstraint("side IN ('buy', 'sell')", name="side"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("fee >= 0", name="fee_not_negative"),
        Index(None, "portfolio_id", "executed_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    portfolio_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("portfolios.id", ondelete="CASCADE")
    )
    coin_id: Mapped[str] = mapped_column(String(50))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal] = mapped_column(Numeric38)
    price: Mapped[Decimal] = mapped_column(Numeric38)
    fee: Mapped[Decimal] = mapped_column(Numeric38)
    executed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PortfolioAsset(Base):
    """Current holding per portfolio and coin, as implied by the portfolio's transactions."""

    __tablename__ = "portfolio_assets"
    __table_args__ = (UniqueConstraint("portfolio_id", "coin_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    portfolio_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("portfolios.id", ondelete="CASCADE")
    )
    coin_id: Mapped[str] = mapped_column(String(50))
    quantity: Mapped[Decimal] = mapped_column(Numeric38)
    purchase_price: Mapped[Decimal] = mapped_column(Numeric38)
    purchase_date: Mapped[datetime] = mapped_column(UTCDateTime)


class PortfolioHistory(Base):
    __tablename__ = "portfolio_history"
    __table_args__ = (UniqueConstraint("portfolio_id", "timestamp"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    portfolio_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("portfolios.id", ondelete="CASCADE")
    )
    total_value: Mapped[Decimal] = mapped_column(Numeric38)
    cost_basis: Mapped[Decimal] = mapped_column(Numeric38)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)


class WatchlistItem(Base):
    __tablename__ = "watchlist"
    __table_args__ = (UniqueConstraint("user_id", "coin_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="CASCADE"))
    coin_id: Mapped[str] = mapped_column(String(50))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
