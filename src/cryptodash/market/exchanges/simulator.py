"""The market simulator: the demo's price source (`cryptodash up --demo`, or `simulator` in
`CRYPTODASH_EXCHANGES`). It behaves like an exchange connector — ticks with
``source: "simulator"`` through `TickPublisher`, history through the candle store — so the
rest of the platform cannot tell it from a live feed.

The model (`MarketModel`, pure and seedable) is a set of correlated geometric random walks
led by Bitcoin. Each coin's log return over ``dt`` (in years) is

    sigma_i * sqrt(dt) * (rho_i * z_btc + a_i * z_alt + sqrt(1 - rho_i² - a_i²) * e_i)

with ``z_btc`` Bitcoin's own shock, ``z_alt`` a shock shared by the altcoins and ``e_i`` the
coin's own, so corr(BTC, i) = rho_i and corr(i, j) = rho_i·rho_j + a_i·a_j (ETH/SOL ≈ 0.77,
as on real markets). Starting prices, annualised volatilities and daily volumes are realistic
for late 2025.

At first start it writes a few days of 1m candles (`CRYPTODASH_SIMULATOR_HISTORY_DAYS`) and
30 times as many days of hourly ones, with every other interval derived, ending at the
starting prices, so every chart has data at once; after a restart it fills the gap since its
last candle and continues from there.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select

from cryptodash.market import service
from cryptodash.market.candles import INTERVALS, Candle, resample
from cryptodash.market.coins import Universe
from cryptodash.market.exchanges.feed import STATUS_EVERY, FeedStatus, publish_status
from cryptodash.market.ingest import TickPublisher
from cryptodash.market.models import CandleRecord
from cryptodash.market.normalize import Tick
from cryptodash.platform.db import Database
from cryptodash.platform.logging import get_logger
from cryptodash.runtime import Platform

log = get_logger(__name__)

SOURCE = "simulator"
YEAR = 365.25 * 86_400
HOURLY_HISTORY_FACTOR = 30
"""Hourly history reaches this many times further back than the 1m history."""
WRITE_CHUNK = 64
"""Candles per transaction: small enough that requests are never held up for long (a chunk of
1,000 held SQLite's write lock for up to 450 ms under load, writes queueing behind it; one of
250, run inline, held the event loop for 25-90 ms)."""


def needed_first(interval: str, end: int, now: float) -> bool:
    """Candles written before the first tick: the forming buckets, and what the 24 h figures
    read (1h candles of the last day, 1m candles at both ends of it). The rest follows in the
    background."""
    if end > now:
        return True
    if interval == "1h":
        return end > now - 25 * 3600
    if interval == "1m":
        return end > now - 3 * 3600 or now - 25 * 3600 < end <= now - 23 * 3600
    return False


@dataclass(frozen=True, slots=True)
class Profile:
    price: float
    """Reference price in USD (late 2025): where the generated history ends."""
    volatility: float
    """Annualised volatility of log returns."""
    rho: float
    """Correlation with Bitcoin."""
    alt: float
    """Loading on the shared altcoin factor."""
    daily_volume_usd: float


PROFILES: dict[str, Profile] = {
    "bitcoin": Profile(95_000.0, 0.50, 1.00, 0.00, 30e9),
    "ethereum": Profile(3_300.0, 0.65, 0.85, 0.30, 15e9),
    "ripple": Profile(2.20, 0.85, 0.70, 0.35, 3e9),
    "binancecoin": Profile(900.0, 0.50, 0.70, 0.25, 1.5e9),
    "solana": Profile(180.0, 0.85, 0.78, 0.35, 4e9),
    "dogecoin": Profile(0.17, 0.95, 0.72, 0.35, 1.5e9),
    "tron": Profile(0.29, 0.45, 0.50, 0.20, 0.6e9),
    "cardano": Profile(0.65, 0.85, 0.74, 0.35, 0.8e9),
    "chainlink": Profile(15.0, 0.90, 0.75, 0.35, 0.6e9),
    "avalanche-2": Profile(20.0, 0.95, 0.75, 0.35, 0.5e9),
    "stellar": Profile(0.28, 0.85, 0.68, 0.35, 0.3e9),
    "sui": Profile(2.5, 1.10, 0.70, 0.35, 0.8e9),
    "hedera-hashgraph": Profile(0.18, 1.00, 0.68, 0.35, 0.25e9),
    "bitcoin-cash": Profile(480.0, 0.75, 0.72, 0.30, 0.4e9),
    "litecoin": Profile(95.0, 0.75, 0.75, 0.30, 0.5e9),
    "the-open-network": Profile(2.1, 0.80, 0.55, 0.20, 0.2e9),
    "shiba-inu": Profile(0.000012, 0.95, 0.70, 0.35, 0.25e9),
    "polkadot": Profile(3.5, 0.90, 0.76, 0.35, 0.25e9),
    "uniswap": Profile(7.5, 1.00, 0.72, 0.35, 0.3e9),
    "pepe": Profile(0.0000095, 1.20, 0.68, 0.35, 0.8e9),
    "aave": Profile(230.0, 1.00, 0.70, 0.35, 0.35e9),
    "near": Profile(2.6, 1.05, 0.72, 0.35, 0.25e9),
    "aptos": Profile(4.5, 1.05, 0.70, 0.35, 0.2e9),
    "internet-computer": Profile(5.0, 1.00, 0.66, 0.35, 0.12e9),
    "ethereum-classic": Profile(16.0, 0.85, 0.72, 0.35, 0.15e9),
    "tether": Profile(1.0, 0.004, 0.00, 0.00, 80e9),
}
DEFAULT_PROFILE = Profile(1.0, 1.0, 0.65, 0.35, 0.1e9)


def price_decimals(price: float) -> int:
    """Decimals an exchange would quote: about six significant digits, cents at least."""
    if price <= 0:
        return 2
    return max(2, min(12, 5 - math.floor(math.log10(price))))


def quantize(price: float) -> Decimal:
    return Decimal(f"{price:.{price_decimals(price)}f}")


class MarketModel:
    """Correlated random walks for some coins (pure: state and a seeded RNG, no I/O)."""

    def __init__(
        self,
        coin_ids: Sequence[str],
        *,
        seed: int | None = None,
        prices: dict[str, float] | None = None,
    ) -> None:
        self.coin_ids = tuple(coin_ids)
        self.profiles = {c: PROFILES.get(c, DEFAULT_PROFILE) for c in self.coin_ids}
        self.rng = random.Random(seed)
        self.prices = {c: (prices or {}).get(c, self.profiles[c].price) for c in self.coin_ids}
        self._idio = {
            c: math.sqrt(max(0.0, 1.0 - p.rho**2 - p.alt**2)) for c, p in self.profiles.items()
        }

    def returns(self, dt_seconds: float) -> dict[str, float]:
        """One correlated draw of log returns over `dt_seconds` (drift-corrected)."""
        gauss = self.rng.gauss
        z_btc, z_alt = gauss(0.0, 1.0), gauss(0.0, 1.0)
        years = dt_seconds / YEAR
        out = {}
        for coin_id, p in self.profiles.items():
            sigma = p.volatility * math.sqrt(years)
            shock = p.rho * z_btc + p.alt * z_alt + self._idio[coin_id] * gauss(0.0, 1.0)
            out[coin_id] = sigma * shock - 0.5 * sigma * sigma
        return out

    def step(self, dt_seconds: float) -> None:
        for coin_id, r in self.returns(dt_seconds).items():
            self.prices[coin_id] *= math.exp(r)

    def trade_size(self, coin_id: str, trades_per_day: float) -> Decimal:
        """A plausible trade size in base units (log-normal around the average trade)."""
        usd = self.profiles[coin_id].daily_volume_usd / max(trades_per_day, 1.0)
        size = usd / self.prices[coin_id] * self.rng.lognormvariate(-0.5, 1.0)
        return Decimal(f"{size:.6g}")

    def history(
        self, start: int, end: int, step: int, *, anchor_end: bool
    ) -> dict[str, list[Candle]]:
        """Candles of `step` seconds for buckets ``start <= t < end`` (aligned), continuing
        from the current prices; with `anchor_end` the paths are scaled to end at the current
        prices instead. High and low come from a Brownian-bridge style excursion."""
        steps = max(0, (end - start) // step)
        raw: dict[str, list[list[float]]] = {c: [] for c in self.coin_ids}
        level = {c: 1.0 for c in self.coin_ids}
        per_day = 86_400 / step
        for _ in range(steps):
            moves = self.returns(step)
            for coin_id, r in moves.items():
                p = self.profiles[coin_id]
                sigma = p.volatility * math.sqrt(step / YEAR)
                o = level[coin_id]
                c = o * math.exp(r)
                h = max(o, c) * math.exp(abs(self.rng.gauss(0.0, sigma)) * 0.6)
                lo = min(o, c) / math.exp(abs(self.rng.gauss(0.0, sigma)) * 0.6)
                turbulence = 1.0 + 2.0 * abs(r) / max(sigma, 1e-12)
                v_usd = p.daily_volume_usd / per_day * self.rng.lognormvariate(-0.4, 0.6)
                raw[coin_id].append([o, h, lo, c, v_usd * turbulence / 3.0])
                level[coin_id] = c
        out: dict[str, list[Candle]] = {}
        for coin_id, bars in raw.items():
            scale = self.prices[coin_id] / (level[coin_id] if anchor_end else 1.0)
            # One tick size per coin for the whole history (prices stay within a decade).
            fmt = f"{{:.{price_decimals(self.prices[coin_id])}f}}".format
            candles = []
            for index, (o, h, lo, c, v_usd) in enumerate(bars):
                mid = (o + c) / 2 * scale
                candles.append(
                    Candle(
                        start + index * step,
                        Decimal(fmt(o * scale)),
                        Decimal(fmt(h * scale)),
                        Decimal(fmt(lo * scale)),
                        Decimal(fmt(c * scale)),
                        Decimal(f"{v_usd / mid:.6g}"),
                    )
                )
            out[coin_id] = candles
            if not anchor_end and bars:
                self.prices[coin_id] = level[coin_id] * scale
        return out


def first_history(
    model: MarketModel, now: float, days: float
) -> dict[str, dict[str, list[Candle]]]:
    """A fresh history ending at the model's current prices: hourly candles for
    ``30 * days`` days, then 1m candles for the last `days` days (from a whole hour) up to the
    last closed minute; every interval per coin, forming buckets included."""
    minute_end = int(now // 60) * 60
    minute_start = int((now - days * 86_400) // 3600) * 3600
    hour_start = int((now - HOURLY_HISTORY_FACTOR * days * 86_400) // 86_400) * 86_400
    minutes = model.history(minute_start, minute_end, 60, anchor_end=True)
    opening = {c: float(bars[0].open) if bars else model.prices[c] for c, bars in minutes.items()}
    hours_model = MarketModel(model.coin_ids, seed=model.rng.getrandbits(64), prices=opening)
    older = hours_model.history(hour_start, minute_start, 3600, anchor_end=True)
    result: dict[str, dict[str, list[Candle]]] = {}
    for coin_id in model.coin_ids:
        ones = minutes[coin_id]
        hours = older[coin_id] + resample(ones, "1h")
        result[coin_id] = {
            "1m": ones,
            "5m": resample(ones, "5m"),
            "15m": resample(ones, "15m"),
            "1h": hours,
            "4h": resample(hours, "4h"),
            "1d": resample(hours, "1d"),
        }
    return result


# --------------------------------------------------------------------------- the worker


async def _last_minutes(db: Database, coin_ids: Sequence[str]) -> dict[str, Candle]:
    """Each coin's newest stored simulator 1m candle."""
    async with db.read_session() as session:
        newest = (
            select(CandleRecord.coin_id, func.max(CandleRecord.time).label("time"))
            .where(
                CandleRecord.source == SOURCE,
                CandleRecord.interval == "1m",
                CandleRecord.coin_id.in_(coin_ids),
            )
            .group_by(CandleRecord.coin_id)
            .subquery()
        )
        records = (
            await session.scalars(
                select(CandleRecord)
                .join(
                    newest,
                    (CandleRecord.coin_id == newest.c.coin_id)
                    & (CandleRecord.time == newest.c.time),
                )
                .where(CandleRecord.source == SOURCE, CandleRecord.interval == "1m")
            )
        ).all()
    return {
        r.coin_id: Candle(int(r.time.timestamp()), r.open, r.high, r.low, r.close, r.volume)
        for r in records
    }


async def _write(
    db: Database,
    history: dict[str, dict[str, list[Candle]]],
    keep: Callable[[str, int], bool],
) -> int:
    """Write the candles `keep(interval, bucket_end)` selects, in chunks of one transaction
    each so that the API keeps answering meanwhile."""
    items = [
        ((coin_id, SOURCE, interval), candle)
        for coin_id, by_interval in history.items()
        for interval, candles in by_interval.items()
        for candle in candles
        if keep(interval, candle.time + INTERVALS[interval])
    ]
    written = 0
    for index in range(0, len(items), WRITE_CHUNK):
        async with db.session() as session:
            written += await service.upsert_candles(session, items[index : index + WRITE_CHUNK])
        await asyncio.sleep(0)
    return written


async def prepare_history(
    db: Database, model: MarketModel, *, days: float, now: float | None = None
) -> asyncio.Task[int] | None:
    """Make sure the stored history of every coin reaches the last closed minute and its
    forming candles are complete, and set the model's prices to where that history ends.

    A coin without history gets a fresh one (`first_history`): the last day and the forming
    buckets are written before this returns, the rest by the returned background task. A coin
    with history gets the gap since its newest candle filled (at most `days` long).
    """
    now = now or time.time()
    at = datetime.fromtimestamp(now, UTC)
    last = await _last_minutes(db, model.coin_ids)
    background = None
    new = [c for c in model.coin_ids if c not in last]
    if new and days > 0:
        fresh = MarketModel(new, seed=model.rng.getrandbits(64), prices=model.prices)
        history = await asyncio.to_thread(first_history, fresh, now, days)
        written = await _write(db, history, lambda i, end: needed_first(i, end, now))
        log.info("simulator_history_recent", coins=len(new), candles=written)

        async def older() -> int:
            count = await _write(db, history, lambda i, end: not needed_first(i, end, now))
            log.info("simulator_history_older", coins=len(new), candles=count)
            return count

        background = asyncio.create_task(older(), name="simulator-history")
    if not last:
        return background
    known = MarketModel(
        list(last),
        seed=model.rng.getrandbits(64),
        prices={c: float(k.close) for c, k in last.items()},
    )
    start = min(c.time for c in last.values()) + 60
    end = int(now // 60) * 60
    if days > 0:
        start = max(start, int((now - days * 86_400) // 60) * 60)
    gap = await asyncio.to_thread(known.history, start, end, 60, anchor_end=False)
    async with db.session() as session:
        for coin_id, newest in last.items():
            missing = [c for c in gap.get(coin_id, []) if c.time > newest.time]
            if missing:
                await service.ingest_candles(
                    session,
                    coin_id=coin_id,
                    source=SOURCE,
                    interval="1m",
                    candles=missing,
                    now=at,
                )
            await service.rebuild_forming(session, coin_id, SOURCE, at)
            model.prices[coin_id] = known.prices[coin_id]
    if end > start:
        log.info("simulator_gap_filled", coins=len(last), minutes=(end - start) // 60)
    return background


class Simulator:
    """Emits ticks at a steady rate, round-robin over the coins; every round (one tick per
    coin) advances all prices together, so the correlation shows in what is published."""

    def __init__(
        self,
        model: MarketModel,
        publisher: TickPublisher,
        *,
        ticks_per_second: float,
    ) -> None:
        self.model = model
        self.publisher = publisher
        self.ticks_per_second = ticks_per_second
        self.sent = 0

    def _tick(self, coin_id: str, now: datetime) -> Tick:
        per_coin_per_day = self.ticks_per_second / len(self.model.coin_ids) * 86_400
        return Tick(
            coin_id,
            SOURCE,
            quantize(self.model.prices[coin_id]),
            self.model.trade_size(coin_id, per_coin_per_day),
            now,
            "USD",
        )

    async def run(self) -> None:
        coins = self.model.coin_ids
        round_seconds = len(coins) / self.ticks_per_second
        interval = 1.0 / self.ticks_per_second
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        index = 0
        while True:
            now_loop = loop.time()
            due = max(1, int((now_loop - next_at) / interval) + 1)
            if due > self.ticks_per_second:  # far behind (a stall): skip, do not burst
                next_at, due = now_loop, 1
            stamp = datetime.now(UTC)
            for _ in range(due):
                if index == 0:
                    self.model.step(round_seconds)
                await self.publisher.publish(self._tick(coins[index], stamp))
                self.sent += 1
                index = (index + 1) % len(coins)
            next_at += due * interval
            await asyncio.sleep(max(0.0, next_at - loop.time(), 0.002))


async def _report(platform: Platform, simulator: Simulator, coin_ids: Sequence[str]) -> None:
    """The simulator's line in `/api/market/sources`: always connected."""
    status = FeedStatus(SOURCE, connections=1, connections_open=1, symbols=list(coin_ids))
    status.state, status.down_since, status.connected_since = "connected", None, time.time()
    counted = 0
    while True:
        status.messages = status.ticks = simulator.sent
        status.last_message_at = time.time()
        platform.metrics.exchange_messages.labels(SOURCE).inc(simulator.sent - counted)
        counted = simulator.sent
        await publish_status(platform.cache, status)
        await asyncio.sleep(STATUS_EVERY)


async def run(platform: Platform) -> None:
    """The simulator feed worker: history first, then ticks forever."""
    settings = platform.settings
    db = platform.db
    await platform.schema_ready.wait()
    universe = Universe.from_settings(settings)
    coin_ids = [c for c in universe.ids if SOURCE in universe.sources(c)]
    model = MarketModel(coin_ids, seed=settings.simulator_seed)
    background = None
    if db is not None:
        background = await prepare_history(db, model, days=settings.simulator_history_days)
    publisher = TickPublisher(platform.bus, platform.metrics)
    simulator = Simulator(model, publisher, ticks_per_second=settings.simulator_ticks_per_second)
    platform.metrics.exchange_connection_up.labels(SOURCE).set(1)
    log.info("simulator_started", coins=len(coin_ids), ticks_per_second=simulator.ticks_per_second)
    reporter = asyncio.create_task(_report(platform, simulator, coin_ids))
    try:
        await simulator.run()
    finally:
        reporter.cancel()
        platform.metrics.exchange_connection_up.labels(SOURCE).set(0)
        if background is not None and not background.done():
            background.cancel()
        await publisher.close()
