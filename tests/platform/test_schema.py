"""Migrations on SQLite and PostgreSQL: up to head, down to base, up again; exact decimals and
aware timestamps on both engines; monthly partitions of `prices` on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from cryptodash.market.models import Price
from cryptodash.models import include_name, target_metadata
from cryptodash.platform import schema
from cryptodash.platform.db import Database

SEED_TABLES = {
    "users",
    "user_preferences",
    "portfolios",
    "portfolio_assets",
    "portfolio_history",
    "watchlist",
    "prices",
    "sentiments",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    db = Database(url)
    try:
        yield db
    finally:
        await db.close()


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    return {name for name in names if not name.startswith("prices_")} - {"alembic_version"}


async def test_upgrade_downgrade_upgrade(database: Database) -> None:
    assert not (await schema.status(database.engine)).up_to_date
    await schema.upgrade(database.engine)
    assert (await schema.status(database.engine)).up_to_date
    assert await table_names(database) >= SEED_TABLES

    await schema.downgrade(database.engine, "base")
    assert await table_names(database) == set()
    assert (await schema.status(database.engine)).current == frozenset()

    await schema.upgrade(database.engine)
    assert (await schema.status(database.engine)).up_to_date


async def test_models_match_the_migrations(database: Database) -> None:
    await schema.upgrade(database.engine)

    def diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        return list(compare_metadata(context, target_metadata()))

    async with database.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_decimals_are_exact_and_timestamps_aware(database: Database) -> None:
    await schema.upgrade(database.engine)
    micro = Decimal("0.000001234567890123")
    big = Decimal("12345678901234567890.123456789012345678")
    at = datetime(2026, 11, 28, 12, 0, 1, tzinfo=UTC)
    async with database.session() as session:
        session.add(
            Price(coin_id="pepe", source="binance", quote="USDT", price=micro, timestamp=at)
        )
        session.add(
            Price(
                coin_id="bitcoin",
                source="binance",
                quote="USDT",
                price=big,
                volume=micro,
                timestamp=at,
            )
        )
    async with database.session() as session:
        rows = {p.coin_id: p for p in (await session.scalars(select(Price))).all()}
    assert rows["pepe"].price == micro
    assert rows["bitcoin"].price == big
    assert rows["bitcoin"].volume == micro
    assert rows["pepe"].timestamp == at
    assert rows["pepe"].timestamp.tzinfo is not None


async def test_one_price_row_per_coin_source_second(database: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    await schema.upgrade(database.engine)
    at = datetime(2026, 11, 28, 12, 0, 1, tzinfo=UTC)
    async with database.session() as session:
        session.add(Price(coin_id="bitcoin", source="binance", price=Decimal(1), timestamp=at))
    with pytest.raises(IntegrityError):
        async with database.session() as session:
            session.add(Price(coin_id="bitcoin", source="binance", price=Decimal(2), timestamp=at))
    async with database.session() as session:
        session.add(Price(coin_id="bitcoin", source="coinbase", price=Decimal(2), timestamp=at))


@pytest.mark.integration
async def test_prices_are_partitioned_by_month_ahead(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        await schema.upgrade(db.engine)
        async with db.engine.connect() as conn:
            partitions = (
                (
                    await conn.execute(
                        text(
                            "SELECT c.relname FROM pg_inherits i"
                            " JOIN pg_class c ON c.oid = i.inhrelid"
                            " WHERE i.inhparent = 'prices'::regclass ORDER BY 1"
                        )
                    )
                )
                .scalars()
                .all()
            )
        assert len(partitions) == 6  # two months back, this month, three ahead
        now = datetime.now(UTC)
        async with db.session() as session:
            for offset_days in (-40, 0, 70):
                session.add(
                    Price(
                        coin_id="bitcoin",
                        source="binance",
                        price=Decimal("1.5"),
                        timestamp=now + timedelta(days=offset_days),
                    )
                )
        async with db.engine.begin() as conn:
            # Called again (as the maintenance job does), it creates only what is missing.
            created = await conn.scalar(text("SELECT cryptodash_ensure_price_partitions(2, 4)"))
        assert created == 1
    finally:
        await db.close()
