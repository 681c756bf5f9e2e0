"""One exchange in a running process: check which of our symbols it lists, then keep its feed,
its backfiller and its health report running — and re-check the listing every hour, following
coins that come and go without a reconnect. `binance.run` and `coinbase.run` are this with
their `ExchangeSpec`; the market domain runs them as singleton workers. `backfill_history` is
the same history on demand (`cryptodash backfill`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptodash.config import Settings
from cryptodash.market.coins import Universe
from cryptodash.market.exchanges.backfill import Backfiller, CandleSource
from cryptodash.market.exchanges.feed import (
    ExchangeError,
    ExchangeFeed,
    FeedStatus,
    publish_status,
    report,
)
from cryptodash.market.ingest import TickPublisher
from cryptodash.platform.db import Database
from cryptodash.platform.logging import get_logger
from cryptodash.platform.tasks import cancel_and_wait
from cryptodash.runtime import Platform

log = get_logger(__name__)

RECHECK_EVERY = 3600.0
"""Seconds between listing checks (`exchangeInfo`, `/products`)."""
RECHECK_AFTER_FAILURE = 60.0


class ExchangeRest(CandleSource, Protocol):
    async def listed(self, symbols: Collection[str]) -> set[str]:
        """Those of `symbols` the exchange lists and trades now."""
        ...

    async def close(self) -> None: ...


class LiveFeed(Protocol):
    async def run(self) -> None: ...
    async def set_symbols(self, wanted: dict[str, str]) -> None: ...


@dataclass(frozen=True)
class ExchangeSpec:
    name: str
    rest: Callable[[Settings], ExchangeRest]
    feed: Callable[..., ExchangeFeed]
    """Called with the settings and the keyword arguments of `ExchangeFeed`."""


async def check_listing(
    rest: ExchangeRest, wanted: dict[str, str], status: FeedStatus
) -> dict[str, str] | None:
    """`wanted` (symbol → coin id) narrowed to what the exchange lists; None when the
    exchange could not be asked (the caller keeps what it has and asks again soon)."""
    try:
        listed = await rest.listed(wanted)
    except ExchangeError as exc:
        log.warning("exchange_listing_unavailable", exchange=status.exchange, error=str(exc))
        status.last_error = f"listing check failed: {exc}"
        return None
    refused = sorted(set(wanted) - listed)
    if refused:
        log.warning("exchange_symbols_not_listed", exchange=status.exchange, symbols=refused)
    status.rejected_symbols = refused
    return {symbol: coin for symbol, coin in wanted.items() if symbol in listed}


async def run_exchange(platform: Platform, spec: ExchangeSpec) -> None:
    """Everything one exchange needs, until cancelled (or until a part fails: the
    supervisor then restarts it all with backoff)."""
    settings = platform.settings
    universe = Universe.from_settings(settings)
    wanted = universe.symbols(spec.name)
    status = FeedStatus(spec.name)
    if not wanted:
        log.info("exchange_has_no_coins", exchange=spec.name)
        status.state = "idle"
        await publish_status(platform.cache, status)
        await asyncio.Event().wait()
    rest = spec.rest(settings)
    publisher = TickPublisher(platform.bus, platform.metrics)
    tasks: list[asyncio.Task[Any]] = []
    try:
        symbols = await check_listing(rest, wanted, status)
        checked = symbols is not None
        following = symbols if symbols is not None else dict(wanted)
        backfiller = None
        if platform.db is not None:
            backfiller = Backfiller(rest, platform.db, _tracked(following, universe), status=status)
        feed = spec.feed(
            settings,
            symbols=following,
            publisher=publisher,
            status=status,
            gaps=backfiller,
            metrics=platform.metrics,
        )
        tasks.append(asyncio.create_task(feed.run(), name=f"{spec.name}-feed"))
        tasks.append(asyncio.create_task(report(feed, platform.cache), name=f"{spec.name}-status"))
        if backfiller is not None:
            if settings.backfill_days > 0:
                try:
                    planned = await backfiller.plan_history(settings.backfill_days)
                    log.info("backfill_planned", exchange=spec.name, pages=planned)
                except Exception as exc:  # database not there yet: the gaps will be filled later
                    log.warning("backfill_plan_failed", exchange=spec.name, error=repr(exc))
            tasks.append(asyncio.create_task(backfiller.run(), name=f"{spec.name}-backfill"))
        tasks.append(
            asyncio.create_task(
                _recheck(rest, wanted, feed, backfiller, universe, checked, settings),
                name=f"{spec.name}-listing",
            )
        )
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a part that failed fails the worker (the supervisor restarts it)
        raise RuntimeError(f"{spec.name}: a feed task ended")
    finally:
        await cancel_and_wait(tasks)
        with contextlib.suppress(Exception):
            await publisher.close()
        await rest.close()
        platform.metrics.exchange_connection_up.labels(spec.name).set(0)
        status.state = "stopped"
        status.connections_open = 0
        with contextlib.suppress(Exception):
            await publish_status(platform.cache, status)


def _tracked(symbols: dict[str, str], universe: Universe) -> dict[str, str]:
    """Coin id → symbol of the tracked coins (the USDT rate instrument has no candles)."""
    return {coin: symbol for symbol, coin in symbols.items() if coin in universe.ids}


async def _recheck(
    rest: ExchangeRest,
    wanted: dict[str, str],
    feed: Any,
    backfiller: Backfiller | None,
    universe: Universe,
    checked: bool,
    settings: Settings,
) -> None:
    while True:
        await asyncio.sleep(RECHECK_EVERY if checked else RECHECK_AFTER_FAILURE)
        symbols = await check_listing(rest, wanted, feed.status)
        if symbols is None:
            checked = False
            continue
        checked = True
        if set(symbols) == set(feed.symbols):
            continue
        log.info(
            "exchange_symbols_changed",
            exchange=feed.exchange,
            added=sorted(set(symbols) - set(feed.symbols)),
            removed=sorted(set(feed.symbols) - set(symbols)),
        )
        await feed.set_symbols(symbols)
        if backfiller is not None:
            tracked = _tracked(feed.symbols, universe)
            new = [coin for coin in tracked if coin not in backfiller.symbols]
            backfiller.symbols = tracked
            if new and settings.backfill_days > 0:
                await backfiller.plan_history(settings.backfill_days, new)


# --------------------------------------------------------------------------- on demand


def spec_of(exchange: str) -> ExchangeSpec:
    """The `ExchangeSpec` of a live exchange module (ValueError for others)."""
    if exchange not in ("binance", "coinbase"):
        raise ValueError(f"no REST history for {exchange!r}; choose binance or coinbase")
    spec: ExchangeSpec = importlib.import_module(f"cryptodash.market.exchanges.{exchange}").SPEC
    return spec


@dataclass
class BackfillReport:
    exchange: str
    coins: int = 0
    pages: int = 0
    candles: int = 0
    failed_pages: int = 0
    not_listed: list[str] = field(default_factory=list)


async def backfill_history(
    settings: Settings,
    db: Database,
    *,
    days: float,
    exchange: str,
    coin_ids: Sequence[str] | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_page: Callable[[], None] | None = None,
) -> BackfillReport:
    """`cryptodash backfill`: the last `days` days of candles of one exchange at every
    interval, resuming after what is stored; closed buckets only (the live feed's backfiller
    completes the ones still forming)."""
    universe = Universe.from_settings(settings)
    report = BackfillReport(exchange)
    wanted = {s: c for s, c in universe.symbols(exchange).items() if c in universe.ids}
    if coin_ids:
        wanted = {s: c for s, c in wanted.items() if c in coin_ids}
    spec = spec_of(exchange)
    rest = spec.rest(settings)
    try:
        status = FeedStatus(exchange)
        listed = await check_listing(rest, wanted, status)
        symbols = listed if listed is not None else wanted
        report.not_listed = status.rejected_symbols
        backfiller = Backfiller(rest, db, _tracked(symbols, universe), status=status)
        report.coins = len(backfiller.symbols)
        report.pages = await backfiller.plan_history(days, forming=False)
        if on_plan is not None:
            on_plan(report.pages)
        if on_page is not None:
            backfiller.on_page = lambda _page, _written: on_page()
        await backfiller.run_until_done()
        report.candles = backfiller.written
        report.failed_pages = backfiller.failed_pages
        return report
    finally:
        await rest.close()
