"""The live connectors against the fake exchanges (real websockets on local ports): ticks for
every symbol, and recovery from everything an exchange does to a connection — drops, close
codes, `serverShutdown`, silence, the lifetime limit, garbage frames, refused subscriptions,
sequence gaps — without ever ending the feed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from cryptodash.market.exchanges.binance import BinanceFeed
from cryptodash.market.exchanges.coinbase import CoinbaseFeed
from cryptodash.market.exchanges.feed import ExchangeFeed, FeedQuirks
from tests.fakes import FakeBinance, FakeCoinbase
from tests.helpers import eventually
from tests.market.exchanges.conftest import Gaps, Sink

FAST = FeedQuirks(lifetime=3600, stale_after=5.0, backoff_first=0.2, backoff_max=1.0)
SLOW_BACKOFF = FeedQuirks(lifetime=3600, stale_after=5.0, backoff_first=60.0, backoff_max=60.0)
BINANCE = {"BTCUSDT": "bitcoin", "ETHUSDT": "ethereum", "SOLUSDT": "solana"}
COINBASE = {"BTC-USD": "bitcoin", "ETH-USD": "ethereum", "USDT-USD": "tether"}


@contextlib.asynccontextmanager
async def running(feed: ExchangeFeed) -> AsyncIterator[ExchangeFeed]:
    task = asyncio.create_task(feed.run())
    try:
        yield feed
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert not task.done() or task.cancelled()


def has_ticks(sink: Sink, coins: list[str], after: int = 0) -> Callable[[], bool]:
    return lambda: all(sink.of(c)[after:] for c in coins)


def binance_feed(fake: FakeBinance, **kwargs: Any) -> tuple[BinanceFeed, Sink, Gaps]:
    sink, gaps = Sink(), Gaps()
    options: dict[str, Any] = {"symbols": BINANCE, "quirks": FAST}
    options.update(kwargs)
    feed = BinanceFeed(ws_url=fake.ws_url, publisher=sink, gaps=gaps, **options)
    return feed, sink, gaps


def coinbase_feed(fake: FakeCoinbase, **kwargs: Any) -> tuple[CoinbaseFeed, Sink, Gaps]:
    sink, gaps = Sink(), Gaps()
    options: dict[str, Any] = {"symbols": COINBASE, "quirks": FAST}
    options.update(kwargs)
    feed = CoinbaseFeed(ws_url=fake.ws_url, publisher=sink, gaps=gaps, **options)
    return feed, sink, gaps


# --------------------------------------------------------------------------- Binance


async def test_binance_ticks_for_every_symbol_then_heals_an_abrupt_drop() -> None:
    async with FakeBinance(symbols=BINANCE) as fake:
        feed, sink, gaps = binance_feed(fake)
        async with running(feed):
            await eventually(has_ticks(sink, list(BINANCE.values())), timeout=20)
            assert fake.paths[0].startswith("/stream?streams=")
            streams = set(fake.paths[0].split("=", 1)[1].split("/"))
            assert streams == {f"{s.lower()}@{c}" for s in BINANCE for c in ("trade", "miniTicker")}
            assert feed.status.connected
            assert feed.status.state == "connected"
            before = len(sink.ticks)

            assert await fake.drop_all() == 1  # no close frame: a network failure
            await eventually(lambda: fake.connects == 2 and feed.status.connected, timeout=20)
            await eventually(lambda: len(sink.ticks) > before + 10, timeout=20)
            assert feed.status.reconnects == 1
            assert "dropped" in (feed.status.last_error or "")
            await eventually(lambda: gaps.noted, timeout=20)
            coins, since, until = gaps.noted[0]
            assert coins == set(BINANCE.values())
            assert since < until


async def test_binance_server_shutdown_and_lifetime_reconnect_without_backoff() -> None:
    async with FakeBinance(symbols=BINANCE) as fake:
        feed, _, _ = binance_feed(fake, quirks=SLOW_BACKOFF)
        async with running(feed):
            await eventually(lambda: feed.status.connected, timeout=20)
            await fake.server_shutdown()
            # A backoff of 30-60 s would miss this: the planned reconnect is immediate.
            await eventually(lambda: fake.connects == 2 and feed.status.connected, timeout=20)
    async with FakeBinance(symbols=BINANCE) as fake:
        rotating = FeedQuirks(lifetime=1.5, stale_after=5.0, backoff_first=60.0)
        feed, _sink, _ = binance_feed(fake, quirks=rotating)
        async with running(feed):
            await eventually(lambda: fake.connects >= 3, timeout=30)  # replaced every 1.5 s
            assert feed.status.last_error is not None
            assert "lifetime" in feed.status.last_error


async def test_binance_close_codes_and_silence_lead_to_a_reconnect() -> None:
    async with FakeBinance(symbols=BINANCE) as fake:
        feed, sink, _ = binance_feed(fake, quirks=FeedQuirks(3600, 1.5, 0.2, 1.0))
        async with running(feed):
            await eventually(lambda: feed.status.connected, timeout=20)
            await fake.drop_all(1008, "Too many requests")
            await eventually(lambda: fake.connects == 2 and feed.status.connected, timeout=20)
            assert "1008" in (feed.status.last_error or "")
            fake.silence()  # socket open, pings answered, but no data: the watchdog acts
            await eventually(lambda: fake.connects >= 3, timeout=20)
            assert "stale" in (feed.status.last_error or "")
            fake.silence(False)
            count = len(sink.ticks)
            await eventually(lambda: len(sink.ticks) > count, timeout=20)


async def test_binance_survives_refused_connections_with_backoff() -> None:
    async with FakeBinance(symbols=BINANCE) as fake:
        fake.refuse_connections = 3  # HTTP 503 at the handshake
        feed, sink, _ = binance_feed(fake)
        async with running(feed):
            await eventually(has_ticks(sink, ["bitcoin"]), timeout=30)
            assert feed.status.reconnects >= 3
            assert fake.connects == 1


async def test_binance_garbage_frames_are_counted_not_fatal() -> None:
    async with FakeBinance(symbols=BINANCE) as fake:
        feed, sink, _ = binance_feed(fake)
        async with running(feed):
            await eventually(lambda: feed.status.connected, timeout=20)
            await fake.send_raw('{"stream":"btcusdt@trade","data":{"e":"trade","p":')
            await fake.send_raw(b"\x00\xff binary")
            await fake.send_raw('{"stream":"btcusdt@weird","data":{"e":"somethingNew","E":1}}')
            await fake.send_raw('{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT"}}')
            await eventually(lambda: feed.status.malformed >= 3, timeout=20)
            await eventually(lambda: feed.status.ignored >= 1, timeout=20)
            count = len(sink.ticks)
            await eventually(lambda: len(sink.ticks) > count + 5, timeout=20)
            assert fake.connects == 1


async def test_binance_live_subscribe_unsubscribe_within_the_message_rate() -> None:
    # Pings every 0.2 s that must be answered within 0.5 s, and the 5 messages/s limit.
    async with FakeBinance(symbols=BINANCE, ping_interval=0.2, pong_timeout=0.5) as fake:
        feed, sink, _ = binance_feed(fake, symbols={"BTCUSDT": "bitcoin"})
        async with running(feed):
            await eventually(lambda: feed.status.connected, timeout=20)
            for _ in range(4):  # 16 control messages: more than 5 a second if unpaced
                await feed.set_symbols(BINANCE)
                await feed.set_symbols({"BTCUSDT": "bitcoin"})
                await feed.set_symbols({"ETHUSDT": "ethereum"})
                await feed.set_symbols(BINANCE)
            (conn,) = fake.connections
            assert conn.subs == {
                f"{s.lower()}@{c}" for s in BINANCE for c in ("trade", "miniTicker")
            }
            methods = [r["method"] for r in conn.requests]
            assert methods.count("SUBSCRIBE") >= 8
            assert methods.count("UNSUBSCRIBE") >= 8
            assert fake.connects == 1  # never dropped for rate or for a missing pong
            count = len(sink.of("solana"))
            await eventually(lambda: len(sink.of("solana")) > count, timeout=20)
            assert await feed.control(feed.shards[0], "LIST_SUBSCRIPTIONS") == sorted(conn.subs)

            await feed.set_symbols({**BINANCE, "FOOUSDT": "foo"})  # not on the exchange
            assert feed.status.rejected_symbols == ["FOOUSDT"]
            assert "FOOUSDT" not in feed.symbols
            assert fake.connects == 1


async def test_binance_shards_connections_beyond_the_stream_cap() -> None:
    symbols = {"BTCUSDT": "bitcoin", "ETHUSDT": "ethereum", "SOLUSDT": "solana",
               "XRPUSDT": "ripple", "ADAUSDT": "cardano"}  # fmt: skip
    listed = [*symbols, "DOGEUSDT", "LINKUSDT"]
    async with FakeBinance(symbols=listed, max_streams=4) as fake:
        feed, sink, _ = binance_feed(fake, symbols=symbols)
        feed.shard_size = 2  # 2 symbols x 2 streams = the fake's cap of 4
        async with running(feed):
            await eventually(has_ticks(sink, list(symbols.values())), timeout=20)
            assert len(fake.connections) == 3
            assert all(len(c.subs) <= 4 for c in fake.connections)
            await feed.set_symbols({**symbols, "DOGEUSDT": "dogecoin", "LINKUSDT": "chainlink"})
            await eventually(lambda: len(fake.connections) == 4, timeout=20)
            await eventually(has_ticks(sink, ["dogecoin", "chainlink"]), timeout=20)
            assert feed.status.connections == 4
            await eventually(lambda: feed.status.connected, timeout=20)


# --------------------------------------------------------------------------- Coinbase


async def test_coinbase_subscribes_and_follows_usdt() -> None:
    async with FakeCoinbase(products=COINBASE) as fake:
        feed, sink, _ = coinbase_feed(fake)
        async with running(feed):
            await eventually(has_ticks(sink, list(COINBASE.values())), timeout=20)
            (conn,) = fake.connections
            assert conn.requests[0] == {
                "type": "subscribe",
                "product_ids": sorted(COINBASE),
                "channels": ["heartbeat", "ticker"],
            }
            assert {t.quote for t in sink.ticks} == {"USD"}
            assert 0.99 < float(sink.of("tether")[-1].price) < 1.01
            assert feed.status.last_error is None


async def test_coinbase_sequence_gap_is_a_gap() -> None:
    async with FakeCoinbase(products=COINBASE) as fake:
        feed, sink, gaps = coinbase_feed(fake)
        async with running(feed):
            await eventually(has_ticks(sink, ["bitcoin"]), timeout=20)
            assert gaps.noted == []
            fake.skip_sequence("BTC-USD", 5)
            await eventually(lambda: gaps.noted, timeout=20)
            assert gaps.noted[0][0] == {"bitcoin"}
            assert fake.connects == 1  # a gap is repaired from REST, not by reconnecting


async def test_coinbase_refused_product_is_dropped_and_the_rest_flows() -> None:
    async with FakeCoinbase(products=COINBASE) as fake:
        feed, sink, _ = coinbase_feed(fake, symbols={**COINBASE, "XYZ-USD": "xyz"})
        async with running(feed):
            await eventually(has_ticks(sink, ["bitcoin", "tether"]), timeout=20)
            assert feed.status.rejected_symbols == ["XYZ-USD"]
            assert fake.connects == 2
            assert "XYZ-USD is not a valid product" in (feed.status.last_error or "") or (
                feed.status.connected
            )


async def test_coinbase_heartbeats_keep_a_quiet_feed_alive_and_drops_heal() -> None:
    async with FakeCoinbase(products=COINBASE, trades_per_second=0) as fake:
        feed, sink, gaps = coinbase_feed(fake, quirks=FeedQuirks(3600, 1.5, 0.2, 1.0))
        async with running(feed):
            await eventually(lambda: feed.status.connected, timeout=20)
            await asyncio.sleep(3)  # twice the stale limit without a single trade
            assert fake.connects == 1
            assert feed.status.last_message_at is not None
            await fake.drop_all(1011, "ErrSlowConsume")
            await eventually(lambda: fake.connects == 2 and feed.status.connected, timeout=20)
            await eventually(lambda: gaps.noted, timeout=20)
            assert gaps.noted[0][0] == set(COINBASE.values())
            assert sink.ticks == []


async def test_coinbase_live_changes_use_subscribe_and_unsubscribe() -> None:
    async with FakeCoinbase(products=COINBASE) as fake:
        feed, sink, _ = coinbase_feed(fake, symbols={"BTC-USD": "bitcoin"})
        async with running(feed):
            await eventually(lambda: feed.status.connected, timeout=20)
            await feed.set_symbols({"ETH-USD": "ethereum"})
            await eventually(has_ticks(sink, ["ethereum"]), timeout=20)
            (conn,) = fake.connections
            await eventually(lambda: set(conn.subs.get("ticker", ())) == {"ETH-USD"}, timeout=20)
            assert [r["type"] for r in conn.requests] == ["subscribe", "unsubscribe", "subscribe"]


# --------------------------------------------------------------------------- the fakes


async def test_fake_coinbase_drops_a_client_that_does_not_subscribe() -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with FakeCoinbase(subscribe_within=0.3) as fake, connect(fake.ws_url) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)


async def test_fake_binance_enforces_its_message_rate() -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with FakeBinance(symbols=BINANCE) as fake, connect(fake.ws_url + "/ws") as ws:

        async def flood() -> None:
            for n in range(20):
                await ws.send(f'{{"method":"LIST_SUBSCRIPTIONS","id":{n}}}')
            while True:
                await asyncio.wait_for(ws.recv(), 10)

        with pytest.raises(ConnectionClosed) as closed:
            await flood()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
