"""A fake Binance spot exchange: market streams (websocket) and the REST market data a
connector uses, written from `market-protocols.md` §1, §2 and the checklist in §6.

Websocket (`ws_url`):
- paths `/ws/<stream>`, `/ws` (empty) and `/stream?streams=a/b`; the `{"stream", "data"}`
  wrapper only on `/stream` (or after `SET_PROPERTY ["combined", true]`);
- `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`, answered
  `{"result": …, "id": …}`; errors nested `{"error": {"code", "msg"}, "id"}` (code 3 for bad
  JSON with `id: null`, code 2 for bad requests and invalid streams, 0/1 for properties);
- `<symbol>@trade`, `@aggTrade` and `@miniTicker` payloads as in §1.5 (string numbers,
  integer times, no `b`/`a` in trades); other known stream names are accepted and silent;
- a ping every `ping_interval` seconds, a connection that does not pong within
  `pong_timeout` is closed; more than `max_incoming_per_second` client messages in a second
  closes with 1008; at most `max_streams` streams; a connection older than `lifetime` is
  closed (Binance's 24 h, scaled down);
- faults: `drop_all()` (abrupt, or with a close code), `server_shutdown()`, `send_raw()`
  (malformed frames, unknown events), `silence()` (no data, the socket stays open),
  `refuse_connections`.

REST (`rest_url`): `/api/v3/ping`, `/time`, `/exchangeInfo` (`symbol`/`symbols`),
`/klines` (12-element rows, limit default 500 max 1000), `/ticker/24hr` (object for `symbol`,
array otherwise); request weight per minute in `X-MBX-USED-WEIGHT-1M`; over the limit 429
with `Retry-After`, and 418 (a ban) for a client that keeps going; `-1121 Invalid symbol.`;
`rest_faults` forces the next answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse

from tests.fakes.http import HttpServer
from tests.fakes.prices import candle, decimals, price_at, text

INTERVALS = {
    "1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600,
    "2h": 7200, "4h": 14_400, "6h": 21_600, "8h": 28_800, "12h": 43_200, "1d": 86_400,
    "3d": 259_200, "1w": 604_800,
}  # fmt: skip
QUIET_STREAMS = ("bookTicker", "ticker", "avgPrice", "depth", "depth5", "depth10", "depth20")
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
DEFAULT_SYMBOLS = (
    "BTCUSDT", "ETHUSDT", "XRPUSDT", "BNBUSDT", "SOLUSDT", "DOGEUSDT", "TRXUSDT", "ADAUSDT",
    "LINKUSDT", "AVAXUSDT", "XLMUSDT", "SUIUSDT", "HBARUSDT", "BCHUSDT", "LTCUSDT", "TONUSDT",
    "SHIBUSDT", "DOTUSDT", "UNIUSDT", "PEPEUSDT", "AAVEUSDT", "NEARUSDT", "APTUSDT",
    "ICPUSDT", "ETCUSDT",
)  # fmt: skip


def base_of(symbol: str) -> str:
    return symbol[:-4] if symbol.endswith("USDT") else symbol[:-3]


@dataclass(eq=False)
class Connection:
    ws: ServerConnection
    combined: bool
    subs: set[str]
    opened_at: float = field(default_factory=time.monotonic)
    received: deque[float] = field(default_factory=deque)
    last_ticker: dict[str, float] = field(default_factory=dict)
    requests: list[Any] = field(default_factory=list)


class FakeBinance:
    def __init__(
        self,
        *,
        symbols: Iterable[str] = DEFAULT_SYMBOLS,
        halted: Iterable[str] = (),
        trades_per_second: float = 5.0,
        ping_interval: float | None = 20.0,
        pong_timeout: float | None = 60.0,
        max_incoming_per_second: int = 5,
        max_streams: int = 1024,
        lifetime: float | None = None,
        weight_limit: int = 6000,
        ban_seconds: int = 120,
        tick: float = 0.05,
    ) -> None:
        self.symbols = {s.upper() for s in symbols}
        self.halted = {s.upper() for s in halted}
        self.trades_per_second = trades_per_second
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.max_incoming_per_second = max_incoming_per_second
        self.max_streams = max_streams
        self.lifetime = lifetime
        self.weight_limit = weight_limit
        self.ban_seconds = ban_seconds
        self.tick = tick
        self.connections: set[Connection] = set()
        self.connects = 0
        self.paths: list[str] = []
        self.refuse_connections = 0
        self.silent = False
        self.trade_ids: dict[str, int] = {}
        self.trades_sent = 0
        self.rest_requests: list[tuple[str, dict[str, str]]] = []
        self.rest_faults: list[tuple[int, float]] = []
        """(status, Retry-After) answers to give the next REST requests, in order."""
        self.weight_used = 0
        self._weight_minute = 0
        self._banned_until = 0.0
        self._over_limit_calls = 0
        self._ws: Server | None = None
        self._http = HttpServer(self._app())
        self._rng = random.Random(7)
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

    async def start(self, ws_port: int = 0, rest_port: int = 0) -> FakeBinance:
        self._http.port = rest_port
        self._ws = await serve(
            self._handle,
            "127.0.0.1",
            ws_port,
            process_request=self._check_path,
            ping_interval=self.ping_interval,
            ping_timeout=self.pong_timeout,
            compression=None,
            max_queue=None,
        )
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

    async def __aenter__(self) -> FakeBinance:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ faults

    async def drop_all(self, code: int | None = None, reason: str = "") -> int:
        """Close every connection: abruptly (no close frame, as a network failure) or with a
        close code. Returns how many were closed."""
        closing = list(self.connections)
        for conn in closing:
            if code is None:
                if conn.ws.transport is not None:
                    conn.ws.transport.abort()
            else:
                await conn.ws.close(code, reason)
        return len(closing)

    async def server_shutdown(self, close_after: float = 0.2) -> None:
        """Announce a planned shutdown (`serverShutdown`) on every connection, then close."""
        event = {"e": "serverShutdown", "E": int(time.time() * 1000)}
        told = list(self.connections)
        for conn in told:
            frame = {"stream": "!serverShutdown", "data": event} if conn.combined else event
            with contextlib.suppress(ConnectionClosed):
                await conn.ws.send(orjson.dumps(frame).decode())
        await asyncio.sleep(close_after)
        for conn in told:  # connections opened since are on the "new" server
            await conn.ws.close(1001, "server shutdown")

    async def send_raw(self, frame: str | bytes) -> None:
        """Send one frame as is to every connection (malformed JSON, unknown events, …)."""
        for conn in list(self.connections):
            with contextlib.suppress(ConnectionClosed):
                await conn.ws.send(frame)

    def silence(self, on: bool = True) -> None:
        """Stop (or resume) all data frames; the connections stay open and answer pings."""
        self.silent = on

    # ------------------------------------------------------------------ websocket

    def _valid_stream(self, name: str) -> bool:
        symbol, _, kind = name.partition("@")
        if not kind or symbol != symbol.lower() or symbol.upper() not in self.symbols:
            return False
        if kind in ("trade", "aggTrade", "miniTicker") or kind in QUIET_STREAMS:
            return True
        if kind.startswith("kline_"):
            return kind[6:].split("@")[0] in INTERVALS
        return kind.startswith("depth@")

    def _parse_path(self, path: str) -> tuple[bool, list[str]] | None:
        parts = urlsplit(path)
        if parts.path in ("/ws", "/ws/"):
            return False, []
        if parts.path.startswith("/ws/"):
            return False, [parts.path[4:]]
        if parts.path in ("/stream", "/stream/"):
            raw = parse_qs(parts.query).get("streams", [""])[0]
            return True, [s for s in raw.split("/") if s]
        return None

    def _check_path(self, connection: ServerConnection, request: WsRequest) -> WsResponse | None:
        if self.refuse_connections > 0:
            self.refuse_connections -= 1
            return connection.respond(503, "Service Unavailable\n")
        parsed = self._parse_path(request.path)
        if parsed is None:
            return connection.respond(404, "Not Found\n")
        _, streams = parsed
        if len(streams) > self.max_streams or not all(map(self._valid_stream, streams)):
            return connection.respond(400, "Invalid request: invalid stream\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.paths.append(ws.request.path)
        parsed = self._parse_path(ws.request.path)
        assert parsed is not None
        combined, streams = parsed
        conn = Connection(ws, combined, set(streams))
        self.connections.add(conn)
        self.connects += 1
        pump = asyncio.create_task(self._pump(conn))
        self._tasks.add(pump)
        try:
            async for message in ws:
                now = time.monotonic()
                conn.received.append(now)
                while conn.received and conn.received[0] < now - 1.0:
                    conn.received.popleft()
                if len(conn.received) > self.max_incoming_per_second:
                    await ws.close(1008, "Too many requests")
                    break
                reply = self._control(conn, message)
                if reply is not None:
                    await ws.send(orjson.dumps(reply).decode())
        except ConnectionClosed:
            pass
        finally:
            pump.cancel()
            self._tasks.discard(pump)
            self.connections.discard(conn)

    def _control(self, conn: Connection, message: str | bytes) -> dict[str, Any] | None:
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            return _error(3, "Invalid JSON: expected value at line 1 column 1", None)
        conn.requests.append(request)
        if not isinstance(request, dict):
            return _error(3, "Invalid JSON: expected value at line 1 column 1", None)
        request_id = request.get("id")
        if "method" not in request:
            return _error(2, "Invalid request: missing field `method` at line 1 column 73", None)
        if "id" not in request or not (
            request_id is None
            or (isinstance(request_id, int) and not isinstance(request_id, bool))
            or (isinstance(request_id, str) and len(request_id) <= 36)
        ):
            return _error(2, "Invalid request: request ID must be an unsigned integer", None)
        method = request["method"]
        params = request.get("params")
        if method not in METHODS:
            return _error(
                2,
                f"Invalid request: unknown variant `{method}`, expected one of "
                "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, "
                "`GET_PROPERTY` at line 1 column 28",
                request_id,
            )
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return _error(2, "Invalid request: invalid stream", request_id)
            if method == "SUBSCRIBE":
                bad = [p for p in params if not self._valid_stream(p)]
                if bad:
                    return _error(2, f"Invalid request: invalid stream `{bad[0]}`", request_id)
                if len(conn.subs | set(params)) > self.max_streams:
                    return _error(
                        2, f"Invalid request: more than {self.max_streams} streams", request_id
                    )
                conn.subs |= set(params)
            else:
                conn.subs -= set(params)
            return {"result": None, "id": request_id}
        if method == "LIST_SUBSCRIPTIONS":
            if params:
                return _error(2, "Invalid request: too many parameters", request_id)
            return {"result": sorted(conn.subs), "id": request_id}
        if not isinstance(params, list) or not params or not isinstance(params[0], str):
            return _error(2, "Invalid request: property name must be a string", request_id)
        if params[0] != "combined":
            return _error(0, f"Unknown property (id: {request_id})", request_id)
        if method == "GET_PROPERTY":
            return {"result": conn.combined, "id": request_id}
        if len(params) != 2 or not isinstance(params[1], bool):
            return _error(1, "Invalid value type: expected Boolean", request_id)
        conn.combined = params[1]
        return {"result": None, "id": request_id}

    async def _pump(self, conn: Connection) -> None:
        """Data for the connection's streams: trades at `trades_per_second` per symbol and a
        mini ticker per symbol every second; closes the connection at `lifetime`."""
        owed: dict[str, float] = {}
        last = time.monotonic()
        with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
            while True:
                await asyncio.sleep(self.tick)
                now = time.monotonic()
                if self.lifetime is not None and now - conn.opened_at > self.lifetime:
                    await conn.ws.close(1001, "connection lifetime reached")
                    return
                elapsed, last = now - last, now
                if self.silent:
                    continue
                frames = []
                for stream in sorted(conn.subs):
                    symbol, _, kind = stream.partition("@")
                    upper = symbol.upper()
                    if kind in ("trade", "aggTrade"):
                        owed[stream] = owed.get(stream, 0.0) + elapsed * self.trades_per_second
                        while owed[stream] >= 1:
                            owed[stream] -= 1
                            frames.append((stream, self._trade(upper, kind)))
                    elif kind == "miniTicker" and now - conn.last_ticker.get(upper, 0.0) >= 1.0:
                        conn.last_ticker[upper] = now
                        frames.append((stream, self._mini_ticker(upper)))
                for stream, payload in frames:
                    frame = {"stream": stream, "data": payload} if conn.combined else payload
                    await conn.ws.send(orjson.dumps(frame).decode())

    def _trade(self, symbol: str, kind: str) -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        trade_id = self.trade_ids.get(symbol, 3_600_000_000) + 1
        self.trade_ids[symbol] = trade_id
        self.trades_sent += 1
        price = price_at(base_of(symbol), now_ms / 1000)
        quantity = self._rng.uniform(0.001, 2.0)
        payload: dict[str, Any] = {"e": kind, "E": now_ms, "s": symbol}
        if kind == "trade":
            payload["t"] = trade_id
        else:
            payload.update(a=trade_id, f=trade_id, l=trade_id)
        payload.update(
            p=text(price, decimals(price)),
            q=text(quantity),
            T=now_ms - 1,
            m=self._rng.random() < 0.5,
            M=True,
        )
        return payload

    def _mini_ticker(self, symbol: str) -> dict[str, Any]:
        now = time.time()
        asset = base_of(symbol)
        last = price_at(asset, now)
        opening = price_at(asset, now - 86_400)
        places = decimals(last)
        return {
            "e": "24hrMiniTicker",
            "E": int(now * 1000),
            "s": symbol,
            "c": text(last, places),
            "o": text(opening, places),
            "h": text(max(last, opening) * 1.01, places),
            "l": text(min(last, opening) * 0.99, places),
            "v": text(12_345.678),
            "q": text(12_345.678 * last),
        }

    # ------------------------------------------------------------------ REST

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v3/ping", self._ping),
                Route("/api/v3/time", self._time),
                Route("/api/v3/exchangeInfo", self._exchange_info),
                Route("/api/v3/klines", self._klines),
                Route("/api/v3/ticker/24hr", self._ticker_24hr),
            ]
        )

    def _json(
        self, body: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        merged = {"X-MBX-USED-WEIGHT-1M": str(self.weight_used)}
        merged.update(headers or {})
        return Response(
            orjson.dumps(body), status_code=status, headers=merged, media_type="application/json"
        )

    def _spend(self, request: Request, weight: int) -> Response | None:
        """Weight accounting, forced faults, 429 and the 418 ban, before any endpoint."""
        self.rest_requests.append((request.url.path, dict(request.query_params)))
        now = time.time()
        minute = int(now // 60)
        if minute != self._weight_minute:
            self._weight_minute, self.weight_used, self._over_limit_calls = minute, 0, 0
        if self.rest_faults:
            status, retry_after = self.rest_faults.pop(0)
            return self._refusal(status, retry_after)
        if now < self._banned_until:
            return self._refusal(418, self._banned_until - now)
        self.weight_used += weight
        if self.weight_used > self.weight_limit:
            self._over_limit_calls += 1
            if self._over_limit_calls > 3:  # kept going after the 429s
                self._banned_until = now + self.ban_seconds
                return self._refusal(418, self.ban_seconds)
            return self._refusal(429, 60 - now % 60)
        return None

    def _refusal(self, status: int, retry_after: float) -> Response:
        headers = {"Retry-After": str(max(1, round(retry_after)))}
        if status == 429:
            body = {
                "code": -1003,
                "msg": f"Too much request weight used; current limit is {self.weight_limit} "
                "request weight per 1 MINUTE. Please use WebSocket Streams for live updates "
                "to avoid polling the API.",
            }
        elif status == 418:
            until = int((time.time() + retry_after) * 1000)
            body = {
                "code": -1003,
                "msg": f"Way too much request weight used; IP banned until {until}. Please use "
                "WebSocket Streams for live updates to avoid bans.",
            }
        else:
            body = {"code": -1000, "msg": "An unknown error occurred while processing the request."}
            headers = {}
        return self._json(body, status, headers)

    def _bad(self, code: int, message: str) -> Response:
        return self._json({"code": code, "msg": message}, 400)

    async def _ping(self, request: Request) -> Response:
        return self._spend(request, 1) or self._json({})

    async def _time(self, request: Request) -> Response:
        return self._spend(request, 1) or self._json({"serverTime": int(time.time() * 1000)})

    def _symbol_info(self, symbol: str) -> dict[str, Any]:
        asset = base_of(symbol)
        return {
            "symbol": symbol,
            "status": "HALT" if symbol in self.halted else "TRADING",
            "baseAsset": asset,
            "baseAssetPrecision": 8,
            "quoteAsset": symbol[len(asset) :],
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
            "icebergAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": True,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": "0.00000001",
                    "maxPrice": "1000000.00000000",
                    "tickSize": "0.00000001",
                }
            ],
            "permissions": [],
            "permissionSets": [["SPOT", "MARGIN"]],
        }

    async def _exchange_info(self, request: Request) -> Response:
        refused = self._spend(request, 20)
        if refused:
            return refused
        params = request.query_params
        listed = sorted(self.symbols)
        if "symbol" in params:
            wanted = [params["symbol"].upper()]
        elif "symbols" in params:
            try:
                wanted = [str(s).upper() for s in orjson.loads(params["symbols"])]
            except (orjson.JSONDecodeError, TypeError):
                return self._bad(-1100, "Illegal characters found in parameter 'symbols'.")
        else:
            wanted = listed
        if any(s not in self.symbols for s in wanted):
            return self._bad(-1121, "Invalid symbol.")
        return self._json(
            {
                "timezone": "UTC",
                "serverTime": int(time.time() * 1000),
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": self.weight_limit,
                    },
                    {
                        "rateLimitType": "RAW_REQUESTS",
                        "interval": "MINUTE",
                        "intervalNum": 5,
                        "limit": 61000,
                    },
                ],
                "exchangeFilters": [],
                "symbols": [self._symbol_info(s) for s in wanted],
            }
        )

    async def _klines(self, request: Request) -> Response:
        refused = self._spend(request, 2)
        if refused:
            return refused
        params = request.query_params
        symbol = params.get("symbol", "")
        if not symbol:
            return self._bad(-1102, "Mandatory parameter 'symbol' was not sent.")
        if symbol not in self.symbols:
            return self._bad(-1121, "Invalid symbol.")
        interval = params.get("interval", "")
        if interval not in INTERVALS:
            return self._bad(-1120, "Invalid interval.")
        try:
            limit = int(params.get("limit", "500"))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            return self._bad(-1100, "Illegal characters found in a parameter.")
        if not 1 <= limit <= 1000:
            return self._bad(-1130, "Invalid data sent for a parameter.")
        size = INTERVALS[interval]
        now = time.time()
        newest = int(now // size) * size  # the forming bucket
        if end is not None:
            newest = min(newest, end // 1000 // size * size)
        if start is not None:
            first = -(-start // (size * 1000)) * size  # the first bucket opening at or after
            times = list(range(first, newest + 1, size))[:limit]
        else:
            times = list(range(newest - (limit - 1) * size, newest + 1, size))
        asset = base_of(symbol)
        rows = []
        for t in times:
            o, h, lo, c, v = candle(asset, t, size)
            places = decimals(c)
            rows.append(
                [
                    t * 1000,
                    text(o, places),
                    text(h, places),
                    text(lo, places),
                    text(c, places),
                    text(v),
                    t * 1000 + size * 1000 - 1,
                    text(v * c),
                    int(v * 10) + 1,
                    text(v / 2),
                    text(v * c / 2),
                    "0",
                ]
            )
        return self._json(rows)

    async def _ticker_24hr(self, request: Request) -> Response:
        params = request.query_params
        if "symbol" in params and "symbols" in params:
            self._spend(request, 2)
            return self._bad(-1101, "Parameter 'symbol' and 'symbols' cannot be sent together.")
        if "symbol" in params:
            wanted = [params["symbol"].upper()]
        elif "symbols" in params:
            try:
                wanted = [str(s).upper() for s in orjson.loads(params["symbols"])]
            except (orjson.JSONDecodeError, TypeError):
                return self._bad(-1100, "Illegal characters found in parameter 'symbols'.")
        else:
            wanted = sorted(self.symbols)
        count = len(wanted)
        weight = 2 if "symbol" in params or count <= 20 else 40 if count <= 100 else 80
        if "symbol" not in params and "symbols" not in params:
            weight = 80
        refused = self._spend(request, weight)
        if refused:
            return refused
        if any(s not in self.symbols for s in wanted):
            return self._bad(-1121, "Invalid symbol.")
        now = time.time()
        stats = [self._stats(s, now) for s in wanted]
        return self._json(stats[0] if "symbol" in params else stats)

    def _stats(self, symbol: str, now: float) -> dict[str, Any]:
        asset = base_of(symbol)
        last, opening = price_at(asset, now), price_at(asset, now - 86_400)
        places = decimals(last)
        change = last - opening
        return {
            "symbol": symbol,
            "priceChange": text(change, places),
            "priceChangePercent": f"{change / opening * 100:.3f}",
            "weightedAvgPrice": text((last + opening) / 2, places),
            "prevClosePrice": text(opening, places),
            "lastPrice": text(last, places),
            "lastQty": text(0.0015),
            "bidPrice": text(last * 0.9999, places),
            "bidQty": text(1.9),
            "askPrice": text(last, places),
            "askQty": text(0.42),
            "openPrice": text(opening, places),
            "highPrice": text(max(last, opening) * 1.01, places),
            "lowPrice": text(min(last, opening) * 0.99, places),
            "volume": text(24_510.33),
            "quoteVolume": text(24_510.33 * last),
            "openTime": int((now - 86_400) * 1000),
            "closeTime": int(now * 1000),
            "firstId": 3_598_000_000,
            "lastId": self.trade_ids.get(symbol, 3_600_000_000),
            "count": 2_000_002,
        }


def _error(code: int, message: str, request_id: Any) -> dict[str, Any]:
    return {"error": {"code": code, "msg": message}, "id": request_id}
