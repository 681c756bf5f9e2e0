"""History rebuilt from transactions and stored candles (a new portfolio with old transactions
has its whole curve), the snapshots recorded after each change and by the hourly job, and the
stored snapshots standing in where a coin has no candle."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from cryptodash.portfolio import service
from cryptodash.portfolio.accounting import Trade
from cryptodash.portfolio.history import PricePath, grid, reconstruct
from cryptodash.portfolio.models import PortfolioHistory
from tests.portfolio.conftest import Env

D = Decimal
DAY = 86_400
HOUR = 3600


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def in_force(t: int, closes: dict[int, Decimal], size: int) -> Decimal | None:
    """The close in force at `t`: of the latest bucket that ended by then."""
    ended = [b for b in closes if b + size <= t]
    return closes[max(ended)] if ended else None


def expected_grid(start: float, now: float, size: int) -> list[int]:
    first = -int(-start // size) * size
    return list(range(first, int(now) + 1, size))


@dataclass
class Market:
    env: Env
    daily: dict[int, Decimal]  # bitcoin, by bucket start
    hourly: dict[int, Decimal]  # ethereum
    today: int
    this_hour: int


@pytest.fixture(scope="module")
async def market(env: Env) -> Market:
    # Daily bitcoin closes for 40 days, hourly ethereum closes for 48 hours, each close a
    # function of its bucket, so expectations hold whenever the test runs.
    now = time.time()
    today, this_hour = int(now // DAY) * DAY, int(now // HOUR) * HOUR
    daily = {today - k * DAY: D(1000 + (today - k * DAY) // DAY % 500) for k in range(1, 41)}
    hourly = {
        this_hour - k * HOUR: D(2000 + (this_hour - k * HOUR) // HOUR % 700) for k in range(1, 49)
    }
    await env.candles("bitcoin", "1d", sorted(daily.items()))
    await env.candles("ethereum", "1h", sorted(hourly.items()))
    await env.set_price("bitcoin", 1234.5)
    await env.set_price("ethereum", 2222.0)
    return Market(env, daily, hourly, today, this_hour)


async def test_a_new_portfolio_with_old_transactions_has_its_whole_curve(market: Market) -> None:
    env, today = market.env, market.today
    me = await env.account()
    pid = await env.portfolio(me)
    trades = [
        ("buy", "1", "900", today - 35 * DAY + HOUR),
        ("buy", "1", "950", today - 10 * DAY - HOUR),
        ("sell", "0.5", "1100", today - 5 * DAY + 2 * HOUR),
    ]
    for side, qty, price, at in trades:
        response = await env.trade(
            me, pid, coin_id="bitcoin", side=side, quantity=qty, price=price, executed_at=iso(at)
        )
        assert response.status_code == 201, response.text
    url = f"/api/portfolio/{pid}/history"
    body = (await env.client.get(url, params={"range": "30d"}, headers=me.headers)).json()
    assert (body["interval"], body["range"]) == ("1d", "30d")
    points = body["points"]
    now = datetime.fromisoformat(points[-1]["timestamp"]).timestamp()
    midnights = expected_grid(now - 30 * DAY, now, DAY)
    assert len(midnights) == 30
    assert [epoch(p["timestamp"]) for p in points[:-1]] == midnights
    for point, t in zip(points, midnights, strict=False):
        held = sum((D(q) if s == "buy" else -D(q) for s, q, _, at in trades if at <= t), D(0))
        cost = D(900) if t < trades[1][3] else D(1850) if t < trades[2][3] else D(1400)
        close = in_force(t, market.daily, DAY)
        assert close is not None
        assert D(point["total_value"]) == held * close, point
        assert D(point["cost_basis"]) == cost, point
    # The last point is now, at the live price: what /performance says.
    performance = await env.client.get(f"/api/portfolio/{pid}/performance", headers=me.headers)
    assert points[-1]["total_value"] == performance.json()["total_value"] == "1851.75"
    everything = (await env.client.get(url, params={"range": "all"}, headers=me.headers)).json()
    first = everything["points"][0]
    assert epoch(first["timestamp"]) == today - 34 * DAY  # the first midnight after the buy
    assert D(first["total_value"]) == in_force(today - 34 * DAY, market.daily, DAY)
    assert len(everything["points"]) == len(expected_grid(trades[0][3], now, DAY)) + 1


async def test_hourly_points_use_snapshots_where_a_coin_has_no_candle(market: Market) -> None:
    env, this_hour = market.env, market.this_hour
    me = await env.account()
    pid = await env.portfolio(me)
    bought = this_hour - 72 * HOUR - 60
    response = await env.trade(
        me, pid, coin_id="ethereum", side="buy", quantity="2", price="1900",
        executed_at=iso(bought),
    )  # fmt: skip
    assert response.status_code == 201
    # Two hourly snapshots from before the stored candles begin, as the job records them.
    snapshots = {this_hour - 60 * HOUR: D("3777.5"), this_hour - 50 * HOUR: D("3888.25")}
    assert env.platform.db is not None
    async with env.platform.db.session() as session:
        for at, total in snapshots.items():
            session.add(
                PortfolioHistory(
                    portfolio_id=pid,
                    timestamp=datetime.fromtimestamp(at, UTC),
                    total_value=total,
                    cost_basis=D(3800),
                )
            )
    body = (
        await env.client.get(
            f"/api/portfolio/{pid}/history",
            params={"interval": "1h", "range": "7d"},
            headers=me.headers,
        )
    ).json()
    now = datetime.fromisoformat(body["points"][-1]["timestamp"]).timestamp()
    hours = expected_grid(bought, now, HOUR)
    assert [epoch(p["timestamp"]) for p in body["points"][:-1]] == hours
    for point, t in zip(body["points"], hours, strict=False):
        close = in_force(t, market.hourly, HOUR)
        if t in snapshots:
            assert D(point["total_value"]) == snapshots[t]
        elif close is not None:
            assert D(point["total_value"]) == 2 * close
        else:  # no candle and no snapshot: the last trade price
            assert D(point["total_value"]) == D(3800)
        assert D(point["cost_basis"]) == D(3800)


async def test_history_edge_cases(env: Env) -> None:
    me = await env.account()
    pid = await env.portfolio(me)
    url = f"/api/portfolio/{pid}/history"
    assert (await env.client.get(url, headers=me.headers)).json()["points"] == []
    await env.trade(me, pid, coin_id="solana", side="buy", quantity="1", price="10",
                    executed_at="2020-01-01T00:00:00Z")  # fmt: skip
    too_many = await env.client.get(
        url, params={"interval": "1h", "range": "all"}, headers=me.headers
    )
    assert too_many.status_code == 422
    assert "use interval=1d" in too_many.json()["error"]["message"]
    year = await env.client.get(url, params={"interval": "1h", "range": "1y"}, headers=me.headers)
    assert year.status_code == 200
    assert len(year.json()["points"]) in (365 * 24, 365 * 24 + 1)


# --------------------------------------------------------------------------- snapshots


async def stored_snapshots(env: Env, pid: int) -> list[tuple[datetime, Decimal]]:
    assert env.platform.db is not None
    async with env.platform.db.session() as session:
        rows = await session.execute(
            select(PortfolioHistory.timestamp, PortfolioHistory.total_value)
            .where(PortfolioHistory.portfolio_id == pid)
            .order_by(PortfolioHistory.timestamp)
        )
        return [(at, total) for at, total in rows.all()]


async def test_every_change_records_a_snapshot_and_drops_the_later_ones(env: Env) -> None:
    await env.set_price("solana", 150.0)
    me = await env.account()
    pid = await env.portfolio(me)
    await env.trade(me, pid, coin_id="solana", side="buy", quantity="2", price="100",
                    executed_at="2024-03-01T00:00:00Z")  # fmt: skip
    (first,) = await stored_snapshots(env, pid)
    assert first[1] == D(300)
    assert (datetime.now(UTC) - first[0]).total_seconds() < 60
    assert env.platform.db is not None
    async with env.platform.db.session() as session:
        for day in ("2024-02-01", "2024-04-01"):
            session.add(
                PortfolioHistory(
                    portfolio_id=pid,
                    timestamp=datetime.fromisoformat(f"{day}T00:00:00+00:00"),
                    total_value=D(1),
                    cost_basis=D(1),
                )
            )
    # A backdated sell on 2024-03-15: the April snapshot described other holdings.
    await env.trade(me, pid, coin_id="solana", side="sell", quantity="1", price="120",
                    executed_at="2024-03-15T00:00:00Z")  # fmt: skip
    kept = await stored_snapshots(env, pid)
    assert [at.date().isoformat() for at, _ in kept[:1]] == ["2024-02-01"]
    assert len(kept) == 2
    assert kept[-1][1] == D(150)


async def test_the_hourly_job_snapshots_every_portfolio_with_transactions(env: Env) -> None:
    await env.set_price("cardano", 0.5)
    me = await env.account()
    traded = await env.portfolio(me)
    empty = await env.portfolio(me, name="empty")
    await env.trade(me, traded, coin_id="cardano", side="buy", quantity="100", price="0.4",
                    executed_at="2024-03-01T00:00:00Z")  # fmt: skip
    db = env.platform.db
    assert db is not None
    at = datetime.fromtimestamp(time.time() // HOUR * HOUR, UTC)
    settings = env.platform.settings
    recorded = await service.snapshot_all(db, env.platform.cache, settings=settings, at=at)
    assert recorded >= 1
    again = await service.snapshot_all(db, env.platform.cache, settings=settings, at=at)
    assert again == recorded  # the same hour again replaces, never duplicates
    assert (at, D(50)) in await stored_snapshots(env, traded)
    assert await stored_snapshots(env, empty) == []
    # The job itself: on the next boundary of its period.
    job = asyncio.create_task(
        service.run_snapshots(db, env.platform.cache, settings=settings, every=0.5)
    )
    try:

        async def snapshotted() -> bool:
            return len(await stored_snapshots(env, traded)) >= 3

        deadline = time.monotonic() + 10
        while not await snapshotted():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)


# --------------------------------------------------------------------------- pure


def test_reconstruct_applies_trades_at_or_before_each_point() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    trades = [
        Trade("bitcoin", "buy", D(1), D(10), D(1), datetime.fromtimestamp(t0 + 10, UTC), 1),
        Trade("bitcoin", "buy", D(1), D(20), D(0), datetime.fromtimestamp(t0 + 100, UTC), 2),
    ]
    times = grid(t0, t0 + 300, 100)
    assert times == [int(t0), int(t0) + 100, int(t0) + 200, int(t0) + 300]
    path = PricePath.from_closes([(int(t0) + 100, D(30))], 100)  # in force from t0 + 200
    points = reconstruct(trades, "fifo", times, {"bitcoin": path})
    summary: list[Any] = [(p.total_value, p.cost_basis, p.complete) for p in points]
    assert summary == [
        (D(0), D(0), True),
        (D(40), D(31), False),  # no close yet: the last trade price
        (D(60), D(31), True),
        (D(60), D(31), True),
    ]
    assert grid(t0 + 1, t0 + 99, 100) == []
