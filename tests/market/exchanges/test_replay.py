"""Replay: recorded frames in the exchanges' real wire formats (`recorded/*.jsonl`) through
each connector's own frame handler, no network — what becomes a tick, what is ignored, what is
malformed, and what ends the connection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cryptodash.market.exchanges.binance import BinanceFeed
from cryptodash.market.exchanges.coinbase import CoinbaseFeed
from cryptodash.market.exchanges.feed import ConnectionLost, FeedQuirks, Shard
from tests.market.exchanges.conftest import Gaps, Sink, frames

QUIRKS = FeedQuirks(lifetime=3600)
D = Decimal


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def test_binance_combined_stream_replay() -> None:
    sink = Sink()
    symbols = {"BTCUSDT": "bitcoin", "ETHUSDT": "ethereum", "SOLUSDT": "solana", "PEPEUSDT": "pepe"}
    feed = BinanceFeed(ws_url="ws://unused", symbols=symbols, publisher=sink, quirks=QUIRKS)
    shard = Shard(0, sorted(symbols))
    await feed.handshake(None, shard)  # type: ignore[arg-type]  # Binance sends nothing
    lines = frames("binance_stream.jsonl")
    for line in lines[:-1]:
        await feed.on_frame(line, shard)
    with pytest.raises(ConnectionLost) as lost:
        await feed.on_frame(lines[-1], shard)  # serverShutdown: reconnect at once
    assert lost.value.reason == "server_shutdown"

    summary = [(t.coin_id, t.price, t.volume, t.timestamp, t.quote) for t in sink.ticks]
    assert summary == [
        ("bitcoin", D("67012.35"), D("0.0015"), at(1718000000120), "USDT"),
        ("ethereum", D("3521.4"), D("1.25"), at(1718000000148), "USDT"),  # legacy b/a fields
        # BTC's mini ticker is skipped (its trades carry the price); SOL has no trades: the
        # mini ticker's last price stands in, without volume, at the event time.
        ("solana", D("151.22"), D("0"), at(1718000001000), "USDT"),
        ("pepe", D("0.00001234"), D("81000000"), at(1718000001499), "USDT"),
        ("bitcoin", D("67013"), D("0.25"), at(1718000000198), "USDT"),  # aggTrade
    ]
    assert all(t.source == "binance" for t in sink.ticks)
    # DOGE (not followed), the kline, the bookTicker (no `e`) and the unknown blockTrade.
    assert feed.status.ignored == 4
    # Bad price, zero price, no trade time, truncated JSON, and an array of three numbers.
    assert feed.status.malformed == 7
    assert feed.status.ticks == 5
    assert feed.status.last_message_at is not None


async def test_binance_control_answers_resolve_their_requests() -> None:
    feed = BinanceFeed(ws_url="ws://unused", symbols={}, publisher=Sink(), quirks=QUIRKS)
    shard = Shard(0, [])
    await feed.handshake(None, shard)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    ok, listing, refused = loop.create_future(), loop.create_future(), loop.create_future()
    shard.state["acks"].update({7: ok, 8: listing, 9: refused})
    for line in frames("binance_stream.jsonl")[11:14]:
        await feed.on_frame(line, shard)
    assert ok.result() is None
    assert listing.result() == ["btcusdt@trade", "btcusdt@miniTicker"]
    with pytest.raises(Exception, match="invalid stream"):
        refused.result()
    assert shard.state["acks"] == {}


async def test_coinbase_feed_replay() -> None:
    sink, gaps = Sink(), Gaps()
    symbols = {"BTC-USD": "bitcoin", "ETH-USD": "ethereum", "USDT-USD": "tether"}
    feed = CoinbaseFeed(
        ws_url="ws://unused", symbols=symbols, publisher=sink, quirks=QUIRKS, gaps=gaps
    )
    shard = Shard(0, sorted(symbols))
    feed.reset(shard)
    for line in frames("coinbase_feed.jsonl"):
        await feed.on_frame(line, shard)

    summary = [(t.coin_id, t.price, t.volume, t.timestamp.isoformat()) for t in sink.ticks]
    assert summary == [
        ("bitcoin", D("67010.12"), D("0.0015"), "2024-06-10T06:13:21.456789+00:00"),
        ("tether", D("1.00012"), D("250.5"), "2024-06-10T06:13:21.500000+00:00"),
        ("bitcoin", D("67011.00"), D("0.5"), "2024-06-10T06:13:22.000001+00:00"),
        # The repeated 679 is stale and dropped; 690 after 680 is a gap, and still a price.
        ("bitcoin", D("67020.00"), D("0.25"), "2024-06-10T06:13:25+00:00"),
        ("ethereum", D("3521.4"), D("2"), "2024-06-10T06:13:26.100000+00:00"),
    ]
    assert all((t.source, t.quote) == ("coinbase", "USD") for t in sink.ticks)
    assert [coins for coins, _, _ in gaps.noted] == [{"bitcoin"}]
    _, since, until = gaps.noted[0]
    assert since <= until
    assert shard.state["seq"] == {
        "BTC-USD": 90012345691,
        "USDT-USD": 5012,
        "ETH-USD": 3301,
    }
    # The stale ticker, match, status, rfq_match (unknown types) and DOGE (not followed).
    assert feed.status.ignored == 5
    # A negative price, truncated JSON, and a JSON array.
    assert feed.status.malformed == 3
    # An error after the handshake is reported, not fatal.
    assert feed.status.last_error == "coinbase: Failed to subscribe"
