"""A fake Coinbase Exchange: the websocket feed and the REST market data a connector uses,
written from `market-protocols.md` §3.1, §3.3 and the checklist in §6.

Websocket (`ws_url`, no path):
- a client that has not sent `subscribe` within `subscribe_within` seconds is disconnected;
- `subscribe` / `unsubscribe` with root `product_ids` and channels as names or
  `{"name", "product_ids"}`; each answered with `subscriptions` listing everything subscribed;
  an unknown product or channel: `{"type":"error","message":"Failed to subscribe",
  "reason":"… is not a valid product"}` and nothing of that request is subscribed;
- `heartbeat` every `heartbeat_interval` seconds per product, `ticker` per trade, `matches`
  starting with `last_match`; `sequence` increases by exactly one per message per product,
  across channels — `skip_sequence` makes a gap;
- unknown message types are answered with an error; faults: `drop_all()`, `send_raw()`
  (malformed frames, unknown types), `silence()`.

REST (`rest_url`): `/products`, `/products/{id}`, `/products/{id}/candles` (`[time, low,
high, open, close, volume]` as JSON numbers, newest first; granularities 60…86400; more than
300 buckets → 400; `start`/`end` ISO-8601 or Unix seconds, both or neither), `/time`; a
public rate limit (`requests_per_second`, burst `burst`) answered with 429; `rest_faults`
forces the next answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.fakes.http import HttpServer
from tests.fakes.prices import candle, decimals, price_at

CHANNELS = ("heartbeat", "ticker", "matches", "ticker_batch", "level2_batch", "status")
GRANULARITIES = (60, 300, 900, 3600, 21_600, 86_400)
DEFAULT_PRODUCTS = (
    "BTC-USD", "ETH-USD", "XRP-USD", "SOL-USD", "DOGE-USD", "ADA-USD", "LINK-USD", "AVAX-USD",
    "XLM-USD", "SUI-USD", "HBAR-USD", "BCH-USD", "LTC-USD", "SHIB-USD", "DOT-USD", "UNI-USD",
    "PEPE-USD", "AAVE-USD", "NEAR-USD", "APT-USD", "ICP-USD", "ETC-USD", "USDT-USD",
)  # fmt: skip


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time_param(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass(eq=False)
class Connection:
    ws: ServerConnection
    subs: dict[str, set[str]] = field(default_factory=dict)
    """Channel → product ids."""
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[Any] = field(default_factory=list)


class FakeCoinbase:
    def __init__(
        self,
        *,
        products: Iterable[str] = DEFAULT_PRODUCTS,
        offline: Iterable[str] = (),
        trades_per_second: float = 5.0,
        heartbeat_interval: float = 1.0,
        subscribe_within: float = 5.0,
        requests_per_second: float = 10.0,
        burst: int = 15,
        tick: float = 0.05,
    ) -> None:
        self.products = {p.upper() for p in products}
        self.offline = {p.upper() for p in offline}
        self.trades_per_second = trades_per_second
        self.heartbeat_interval = heartbeat_interval
        self.subscribe_within = subscribe_within
        self.requests_per_second = requests_per_second
        self.burst = burst
        self.tick = tick
        self.connections: set[Connection] = set()
        self.connects = 0
        self.silent = False
        self.sequences: dict[str, int] = {}
        self.trade_ids: dict[str, int] = {}
        self.trades_sent = 0
        self.rest_requests: list[tuple[str, dict[str, str]]] = []
        self.rest_faults: list[tuple[int, float]] = []
        """(status, Retry-After — 0 for none) answers to give the next REST requests."""
        self.rate_limited = 0
        self._tokens = float(burst)
        self._tokens_at = time.monotonic()
        self._skips: dict[str, int] = {}
        self._ws: Server | None = None
        self._http = HttpServer(self._app())
        self._rng = random.Random(11)
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    @property
    def ws_url(self) -> str:
        assert self._ws is not None
        port = next(iter(self._ws.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self._http.port}"

    async def start(self, ws_port: int = 0, rest_port: int = 0) -> FakeCoinbase:
        self._http.port = rest_port
        self._ws = await serve(self._handle, "127.0.0.1", ws_port, compression=None, max_queue=None)
        await self._http.start()
        return self

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._ws is not None:
            self._ws.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.wait_closed(), 5)
        await self._http.stop()

    async def __aenter__(self) -> FakeCoinbase:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ faults

    async def drop_all(self, code: int | None = None, reason: str = "") -> int:
        closing = list(self.connections)
        for conn in closing:
            if code is None:
                if conn.ws.transport is not None:
                    conn.ws.transport.abort()
            else:
                await conn.ws.close(code, reason)
        return len(closing)

    def skip_sequence(self, product: str, count: int = 1) -> None:
        """The product's next message jumps `count` sequence numbers (dropped messages)."""
        self._skips[product] = self._skips.get(product, 0) + count

    async def send_raw(self, frame: str | bytes) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(ConnectionClosed):
                await conn.ws.send(frame)

    def silence(self, on: bool = True) -> None:
        self.silent = on

    # ------------------------------------------------------------------ websocket

    def _next_sequence(self, product: str) -> int:
        sequence = self.sequences.get(product, 90_000_000_000) + 1 + self._skips.pop(product, 0)
        self.sequences[product] = sequence
        return sequence

    async def _handle(self, ws: ServerConnection) -> None:
        conn = Connection(ws)
        self.connections.add(conn)
        self.connects += 1
        pump = asyncio.create_task(self._pump(conn))
        self._tasks.add(pump)
        try:
            async for message in ws:
                for reply in self._control(conn, message):
                    await ws.send(orjson.dumps(reply).decode())
        except ConnectionClosed:
            pass
        finally:
            pump.cancel()
            self._tasks.discard(pump)
            self.connections.discard(conn)

    def _control(self, conn: Connection, message: str | bytes) -> list[dict[str, Any]]:
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            return [{"type": "error", "message": "Malformed JSON"}]
        conn.requests.append(request)
        kind = request.get("type") if isinstance(request, dict) else None
        if kind not in ("subscribe", "unsubscribe"):
            return [{"type": "error", "message": f"Unknown message type {kind!r}"}]
        root = [str(p).upper() for p in request.get("product_ids") or []]
        wanted: dict[str, list[str]] = {}
        for channel in request.get("channels") or []:
            if isinstance(channel, str):
                wanted[channel] = root
            elif isinstance(channel, dict) and "name" in channel:
                ids = [str(p).upper() for p in channel.get("product_ids") or []]
                wanted[str(channel["name"])] = ids or root
        if kind == "subscribe":
            for name, ids in wanted.items():
                if name not in CHANNELS:
                    return [_refusal(f"{name} is not a valid channel")]
                for product in ids:
                    if product not in self.products:
                        return [_refusal(f"{product} is not a valid product")]
            if not wanted:
                return [_refusal("no channels given")]
            replies: list[dict[str, Any]] = []
            for name, ids in wanted.items():
                new = set(ids) - conn.subs.get(name, set())
                conn.subs.setdefault(name, set()).update(ids)
                if name == "matches":
                    replies += [self._match(p, last=True) for p in sorted(new)]
            conn.subscribed.set()
            return [self._subscriptions(conn), *replies]
        for name, ids in wanted.items():
            if name in conn.subs:
                if ids:
                    conn.subs[name] -= set(ids)
                if not ids or not conn.subs[name]:
                    del conn.subs[name]
        return [self._subscriptions(conn)]

    def _subscriptions(self, conn: Connection) -> dict[str, Any]:
        return {
            "type": "subscriptions",
            "channels": [
                {"name": name, "product_ids": sorted(ids)}
                for name, ids in sorted(conn.subs.items())
            ],
        }

    async def _pump(self, conn: Connection) -> None:
        with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
            try:
                await asyncio.wait_for(conn.subscribed.wait(), self.subscribe_within)
            except TimeoutError:
                await conn.ws.close(1000, "subscribe within 5 seconds")
                return
            owed: dict[str, float] = {}
            beats: dict[str, float] = {}
            last = time.monotonic()
            while True:
                await asyncio.sleep(self.tick)
                now = time.monotonic()
                elapsed, last = now - last, now
                if self.silent:
                    continue
                frames = []
                for product in sorted(conn.subs.get("heartbeat", ())):
                    if now - beats.get(product, 0.0) >= self.heartbeat_interval:
                        beats[product] = now
                        frames.append(self._heartbeat(product))
                trading = conn.subs.get("ticker", set()) | conn.subs.get("matches", set())
                for product in sorted(trading):
                    owed[product] = owed.get(product, 0.0) + elapsed * self.trades_per_second
                    while owed[product] >= 1:
                        owed[product] -= 1
                        if product in conn.subs.get("matches", ()):
                            frames.append(self._match(product))
                        if product in conn.subs.get("ticker", ()):
                            frames.append(self._ticker(product))
                for frame in frames:
                    await conn.ws.send(orjson.dumps(frame).decode())

    def _heartbeat(self, product: str) -> dict[str, Any]:
        return {
            "type": "heartbeat",
            "sequence": self._next_sequence(product),
            "last_trade_id": self.trade_ids.get(product, 700_000_000),
            "product_id": product,
            "time": iso(time.time()),
        }

    def _trade(self, product: str) -> tuple[int, float, float, float]:
        now = time.time()
        trade_id = self.trade_ids.get(product, 700_000_000) + 1
        self.trade_ids[product] = trade_id
        self.trades_sent += 1
        return trade_id, now, price_at(product.split("-")[0], now), self._rng.uniform(0.001, 2)

    def _ticker(self, product: str) -> dict[str, Any]:
        trade_id, now, price, size = self._trade(product)
        asset = product.split("-")[0]
        places = decimals(price)
        opening = price_at(asset, now - 86_400)
        return {
            "type": "ticker",
            "sequence": self._next_sequence(product),
            "product_id": product,
            "price": f"{price:.{places}f}",
            "open_24h": f"{opening:.{places}f}",
            "volume_24h": "9876.54321098",
            "low_24h": f"{min(price, opening) * 0.99:.{places}f}",
            "high_24h": f"{max(price, opening) * 1.01:.{places}f}",
            "volume_30d": "312345.67890123",
            "best_bid": f"{price * 0.9999:.{places}f}",
            "best_bid_size": "0.25000000",
            "best_ask": f"{price:.{places}f}",
            "best_ask_size": "0.04000000",
            "side": self._rng.choice(["buy", "sell"]),
            "time": iso(now),
            "trade_id": trade_id,
            "last_size": f"{size:.8f}",
        }

    def _match(self, product: str, *, last: bool = False) -> dict[str, Any]:
        trade_id, now, price, size = self._trade(product)
        return {
            "type": "last_match" if last else "match",
            "trade_id": trade_id,
            "sequence": self._next_sequence(product),
            "maker_order_id": str(uuid.UUID(int=self._rng.getrandbits(128))),
            "taker_order_id": str(uuid.UUID(int=self._rng.getrandbits(128))),
            "time": iso(now),
            "product_id": product,
            "size": f"{size:.8f}",
            "price": f"{price:.{decimals(price)}f}",
            "side": self._rng.choice(["buy", "sell"]),
        }

    # ------------------------------------------------------------------ REST

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/time", self._time),
                Route("/products", self._products),
                Route("/products/{product_id}", self._product),
                Route("/products/{product_id}/candles", self._candles),
            ]
        )

    def _json(
        self, body: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return Response(
            orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
        )

    def _admit(self, request: Request) -> Response | None:
        self.rest_requests.append((request.url.path, dict(request.query_params)))
        if self.rest_faults:
            status, retry_after = self.rest_faults.pop(0)
            headers = {"Retry-After": str(round(retry_after))} if retry_after else None
            message = "Public rate limit exceeded" if status == 429 else "Internal server error"
            return self._json({"message": message}, status, headers)
        now = time.monotonic()
        self._tokens = min(
            self.burst, self._tokens + (now - self._tokens_at) * self.requests_per_second
        )
        self._tokens_at = now
        if self._tokens < 1:
            self.rate_limited += 1
            return self._json({"message": "Public rate limit exceeded"}, 429)
        self._tokens -= 1
        return None

    def _product_info(self, product: str) -> dict[str, Any]:
        base, quote = product.split("-")
        return {
            "id": product,
            "base_currency": base,
            "quote_currency": quote,
            "quote_increment": "0.01",
            "base_increment": "0.00000001",
            "display_name": f"{base}/{quote}",
            "min_market_funds": "1",
            "margin_enabled": False,
            "post_only": False,
            "limit_only": False,
            "cancel_only": False,
            "status": "offline" if product in self.offline else "online",
            "status_message": "",
            "trading_disabled": False,
            "fx_stablecoin": base == "USDT",
            "auction_mode": False,
        }

    async def _time(self, request: Request) -> Response:
        now = time.time()
        return self._admit(request) or self._json({"iso": iso(now), "epoch": now})

    async def _products(self, request: Request) -> Response:
        return self._admit(request) or self._json(
            [self._product_info(p) for p in sorted(self.products)]
        )

    async def _product(self, request: Request) -> Response:
        refused = self._admit(request)
        if refused:
            return refused
        product = request.path_params["product_id"].upper()
        if product not in self.products:
            return self._json({"message": "NotFound"}, 404)
        return self._json(self._product_info(product))

    async def _candles(self, request: Request) -> Response:
        refused = self._admit(request)
        if refused:
            return refused
        product = request.path_params["product_id"].upper()
        if product not in self.products:
            return self._json({"message": "NotFound"}, 404)
        params = request.query_params
        try:
            granularity = int(params.get("granularity", "60"))
        except ValueError:
            granularity = 0
        if granularity not in GRANULARITIES:
            return self._json({"message": "Unsupported granularity"}, 400)
        now = time.time()
        try:
            if "start" in params and "end" in params:
                start, end = _time_param(params["start"]), _time_param(params["end"])
            else:
                start, end = now - 299 * granularity, now
        except ValueError:
            return self._json({"message": "Invalid start or end"}, 400)
        if end < start:
            return self._json({"message": "start must be before end"}, 400)
        if int(end - start) // granularity + 1 > 300:
            return self._json(
                {
                    "message": "granularity too small for the requested time range. Count of "
                    "aggregations requested exceeds 300"
                },
                400,
            )
        first = -(-int(start) // granularity) * granularity
        last = int(min(end, now) // granularity) * granularity
        asset = product.split("-")[0]
        rows = []
        for t in range(last, first - 1, -granularity):  # newest first
            o, h, lo, c, v = candle(asset, t, granularity)
            rows.append([t, round(lo, 10), round(h, 10), round(o, 10), round(c, 10), round(v, 8)])
        return self._json(rows)


def _refusal(reason: str) -> dict[str, Any]:
    return {"type": "error", "message": "Failed to subscribe", "reason": reason}
