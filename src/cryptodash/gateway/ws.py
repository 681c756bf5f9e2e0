"""WebSocket endpoints: `/ws/prices`, `/ws/analytics`, `/ws/sentiment` (public) and
`/ws/portfolio` (authenticated by a first frame). The protocol is documented in the README
("Real-time"); in short, JSON text frames:

- client → `{"action": "subscribe" | "unsubscribe", "coins": [...] | ["*"]}` (analytics also
  `"interval"`; portfolio `"portfolio_id"` instead of coins), `{"action": "ping"}`, and on
  `/ws/portfolio` first `{"action": "auth", "token": "<access token>"}`; any frame may carry an
  `"id"` that the answer echoes;
- server → `subscribed` / `unsubscribed` / `authenticated` / `pong` acknowledgements, the
  channel's updates, and `{"type": "error", "code", "message"}` for a bad frame — the
  connection stays open.

A browser's `Origin` must be the gateway's own (the page it serves, whatever host and port it
is reached on) or one of `CRYPTODASH_CORS_ORIGINS`; clients that send none, such as scripts,
are let in. Tokens never travel in URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from cryptodash.auth import AuthUser, Public
from cryptodash.errors import AppError
from cryptodash.gateway.fanout import WILDCARD, Client, Topic, Update
from cryptodash.gateway.realtime import (
    ANALYTICS,
    PORTFOLIO,
    PRICES,
    SENTIMENT,
    Realtime,
    typed_frame,
)
from cryptodash.gateway.wsserver import EXTENSION
from cryptodash.market.candles import INTERVAL_NAMES
from cryptodash.market.normalize import iso_z
from cryptodash.platform.logging import get_logger

log = get_logger(__name__)

AUTH_TIMEOUT = 5.0
"""Seconds `/ws/portfolio` waits for the auth frame."""
SESSION_CHECK_SECONDS = 30.0
"""At most this long between an authenticated socket's checks that its user and session are
still valid (in-process checks run every second: `Portfolios.session_check_seconds`)."""
PORTFOLIO_REFRESH_SECONDS = 30.0
"""A subscribed portfolio is recomputed at least this often even when no price moved."""
MAX_COINS = 100
MAX_PORTFOLIOS = 20
MAX_ID_LENGTH = 64

CLOSE_UNAUTHORIZED = 4401
"""`/ws/portfolio`: the token was refused, expired, or its session or account ended."""
CLOSE_AUTH_TIMEOUT = 4408
"""`/ws/portfolio`: no auth frame within `AUTH_TIMEOUT` seconds."""
CLOSE_TRY_AGAIN = 1013
"""This process cannot check tokens or value portfolios right now."""

router = APIRouter(tags=["realtime"], dependencies=[Public])


class ProtocolError(Exception):
    """A frame the server refuses: answered with an error frame, the connection stays."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Closing(Exception):
    """The connection must end: an error frame, then a close frame with `close_code`."""

    def __init__(self, close_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.code = code
        self.message = message


def origin_allowed(origin: str | None, allowed: Sequence[str], host: str | None = None) -> bool:
    """Same-origin (the Origin's host and port are the request's `Host`), a configured CORS
    origin, or no Origin at all (not a browser). A page on another site is refused, which is
    what stops cross-site WebSocket hijacking."""
    if origin is None or origin in allowed or "*" in allowed:
        return True
    netloc = urlsplit(origin).netloc.lower()
    return bool(host) and netloc == (host or "").lower()


@router.websocket("/ws/prices")
async def prices(websocket: WebSocket) -> None:
    """Consolidated USD prices: `price_update` frames."""
    await Connection(websocket, PRICES).serve()


@router.websocket("/ws/analytics")
async def analytics(websocket: WebSocket) -> None:
    """Live indicators per coin and interval: `analytics_update` frames."""
    await Connection(websocket, ANALYTICS).serve()


@router.websocket("/ws/sentiment")
async def sentiment(websocket: WebSocket) -> None:
    """News sentiment per coin: `sentiment_update` frames."""
    await Connection(websocket, SENTIMENT).serve()


@router.websocket("/ws/portfolio")
async def portfolio(websocket: WebSocket) -> None:
    """A user's portfolios, revalued as prices move: `portfolio_update` frames."""
    await Connection(websocket, PORTFOLIO).serve()


def _ref(frame: Mapping[str, Any]) -> str | int | None:
    ref = frame.get("id")
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int) or (isinstance(ref, str) and len(ref) <= MAX_ID_LENGTH):
        return ref
    return None


class Connection:
    """One WebSocket: its reader (client frames), its sender (the outbox) and, on
    `/ws/portfolio`, its session (auth deadline, token expiry, revaluations)."""

    def __init__(self, websocket: WebSocket, channel: str) -> None:
        self.ws = websocket
        self.channel = channel
        self.realtime: Realtime = websocket.app.state.realtime
        self.platform = self.realtime.platform
        self.hub = self.realtime.hub
        self.reason = "client_closed"
        self.closing: Closing | None = None
        # /ws/portfolio
        self.user: AuthUser | None = None
        self.token: str | None = None
        self.authenticated = asyncio.Event()
        self.portfolios: dict[int, Mapping[str, Any] | None] = {}
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        assert self._client is not None
        return self._client

    async def serve(self) -> None:
        settings = self.platform.settings
        headers = self.ws.headers
        if not origin_allowed(headers.get("origin"), settings.cors_origins, headers.get("host")):
            self.platform.metrics.ws_disconnects.labels("origin_refused").inc()
            await self.ws.close(code=1008, reason="origin not allowed")  # before accept: 403
            return
        await self.ws.accept()
        raw = self.ws.scope.get("extensions", {}).get(EXTENSION)
        client = self._client = self.hub.connect(self.ws.send, self.channel, raw=raw)
        tasks = [
            asyncio.create_task(client.run(), name="ws:send"),
            asyncio.create_task(self._read(), name="ws:read"),
        ]
        if self.channel == PORTFOLIO:
            tasks.append(asyncio.create_task(self._session(), name="ws:session"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                self._note_end(task)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.hub.disconnect(client, self.reason)
        if self.closing is not None:
            await self._close(self.closing)

    def _note_end(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return  # the stall watcher stopped the sender: client.close_reason says why
        exc = task.exception()
        if isinstance(exc, Closing):
            self.closing = exc
            self.reason = exc.code
        elif isinstance(exc, WebSocketDisconnect | OSError):
            self.reason = "client_gone"
        elif exc is not None:
            self.reason = "error"
            log.error("ws_connection_failed", channel=self.channel, error=repr(exc))

    async def _close(self, closing: Closing) -> None:
        error = {"type": "error", "code": closing.code, "message": closing.message}
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await self.ws.send_text(orjson.dumps(error).decode())
                await self.ws.close(code=closing.close_code, reason=closing.code)

    # ------------------------------------------------------------------ client frames

    async def _read(self) -> None:
        client = self.client
        while True:
            await client.room()
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                self.reason = "client_closed"
                return
            text = message.get("text")
            if text is None:
                self._error("invalid_message", "Frames must be JSON text", None)
                continue
            await self._handle(text)

    async def _handle(self, text: str) -> None:
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._error("invalid_json", "Malformed JSON", None)
            return
        if not isinstance(frame, dict):
            self._error("invalid_message", "Expected a JSON object", None)
            return
        ref = _ref(frame)
        action = frame.get("action")
        handlers: dict[str, Callable[[dict[str, Any], str | int | None], Awaitable[None]]] = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "ping": self._ping,
        }
        if self.channel == PORTFOLIO:
            handlers["auth"] = self._auth
        handler = handlers.get(action) if isinstance(action, str) else None
        if handler is None:
            expected = ", ".join(sorted(handlers))
            self._error("unknown_action", f"Unknown action {action!r}; expected {expected}", ref)
            return
        try:
            await handler(frame, ref)
        except ProtocolError as exc:
            self._error(exc.code, exc.message, ref)

    def _error(self, code: str, message: str, ref: str | int | None) -> None:
        self._ack({"type": "error", "code": code, "message": message}, ref)

    def _ack(self, frame: dict[str, Any], ref: str | int | None) -> None:
        if ref is not None:
            frame["id"] = ref
        self.client.control(frame)

    async def _ping(self, frame: dict[str, Any], ref: str | int | None) -> None:
        self._ack({"type": "pong", "time": iso_z(datetime.now(UTC))}, ref)

    def _coins(self, frame: Mapping[str, Any]) -> list[str]:
        coins = frame.get("coins")
        if (
            not isinstance(coins, list)
            or not 0 < len(coins) <= MAX_COINS
            or not all(isinstance(c, str) for c in coins)
        ):
            raise ProtocolError(
                "invalid_message", '"coins" must be a list of coin ids (at most 100), or ["*"]'
            )
        if WILDCARD in coins:
            return [WILDCARD]
        unknown = [c for c in dict.fromkeys(coins) if c not in self.realtime.coin_ids]
        if unknown:
            shown = ", ".join(repr(c[:50]) for c in unknown[:5])
            raise ProtocolError("unknown_coin", f"Unknown coin {shown}; nothing was changed")
        return list(dict.fromkeys(coins))

    def _interval(self, frame: Mapping[str, Any]) -> str | None:
        if self.channel != ANALYTICS:
            return None
        interval = frame.get("interval")
        if interval is None or interval in INTERVAL_NAMES:
            return interval
        raise ProtocolError(
            "invalid_interval", f"Unknown interval; expected one of {', '.join(INTERVAL_NAMES)}"
        )

    def _topic_ack(
        self, kind: str, coins: list[str], interval: str | None, ref: str | int | None
    ) -> None:
        frame: dict[str, Any] = {"type": kind, "channel": self.channel, "coins": coins}
        if self.channel == ANALYTICS:
            frame["interval"] = interval
        self._ack(frame, ref)

    async def _subscribe(self, frame: dict[str, Any], ref: str | int | None) -> None:
        if self.channel == PORTFOLIO:
            await self._subscribe_portfolio(frame, ref)
            return
        coins, interval = self._coins(frame), self._interval(frame)
        # The ack first: the latest values of the new topics follow it.
        self._topic_ack("subscribed", coins, interval, ref)
        self.hub.subscribe(self.client, [(coin, interval) for coin in coins])

    async def _unsubscribe(self, frame: dict[str, Any], ref: str | int | None) -> None:
        if self.channel == PORTFOLIO:
            self._unsubscribe_portfolio(frame, ref)
            return
        coins, interval = self._coins(frame), self._interval(frame)
        topics: list[Topic]
        if coins == [WILDCARD]:
            # Everything (on analytics: everything of that interval, when one is given).
            topics = [t for t in self.client.topics if interval is None or t[1] == interval]
        else:
            topics = [(coin, interval) for coin in coins]
        self.hub.unsubscribe(self.client, topics)
        self._topic_ack("unsubscribed", coins, interval, ref)

    # ------------------------------------------------------------------ /ws/portfolio

    async def _auth(self, frame: dict[str, Any], ref: str | int | None) -> None:
        token = frame.get("token")
        if not isinstance(token, str) or not token:
            raise Closing(CLOSE_UNAUTHORIZED, "unauthorized", '"token" must be an access token')
        user = await self._verify(token)
        if self.user is not None and user.id != self.user.id:
            raise Closing(CLOSE_UNAUTHORIZED, "unauthorized", "A connection serves one user")
        self.user, self.token = user, token
        self.authenticated.set()
        expires = iso_z(user.expires_at) if user.expires_at else None
        self._ack({"type": "authenticated", "user_id": user.id, "expires_at": expires}, ref)

    def _token_left(self) -> float:
        """Seconds the access token has left (at most `PORTFOLIO_REFRESH_SECONDS`); closes
        with `token_expired` when it has none."""
        user = self.user
        assert user is not None
        left = PORTFOLIO_REFRESH_SECONDS
        if user.expires_at is not None:
            left = min(left, (user.expires_at - datetime.now(UTC)).total_seconds())
        if left <= 0:
            raise Closing(CLOSE_UNAUTHORIZED, "token_expired", "The access token expired")
        return left

    async def _verify(self, token: str) -> AuthUser:
        try:
            return await self.realtime.portfolios.authenticate(token)
        except AppError as exc:
            if exc.status_code == 401:
                raise Closing(CLOSE_UNAUTHORIZED, exc.code, exc.message) from None
            raise Closing(CLOSE_TRY_AGAIN, exc.code, exc.message) from None

    def _portfolio_id(self, frame: Mapping[str, Any]) -> int:
        if self.user is None:
            raise ProtocolError(
                "unauthorized", 'Authenticate first: {"action": "auth", "token": "..."}'
            )
        portfolio_id = frame.get("portfolio_id")
        if isinstance(portfolio_id, bool) or not isinstance(portfolio_id, int):
            raise ProtocolError("invalid_message", '"portfolio_id" must be an integer')
        return portfolio_id

    async def _subscribe_portfolio(self, frame: dict[str, Any], ref: str | int | None) -> None:
        portfolio_id = self._portfolio_id(frame)
        if portfolio_id not in self.portfolios and len(self.portfolios) >= MAX_PORTFOLIOS:
            raise ProtocolError("too_many_subscriptions", f"At most {MAX_PORTFOLIOS} portfolios")
        performance = await self._value(portfolio_id)
        if performance is None:
            raise ProtocolError("unknown_portfolio", f"No portfolio {portfolio_id} of yours")
        self._ack({"type": "subscribed", "channel": PORTFOLIO, "portfolio_id": portfolio_id}, ref)
        self.client.topics.add((str(portfolio_id), None))
        self.portfolios[portfolio_id] = None
        self._push(portfolio_id, performance)

    def _unsubscribe_portfolio(self, frame: dict[str, Any], ref: str | int | None) -> None:
        portfolio_id = self._portfolio_id(frame)
        self.portfolios.pop(portfolio_id, None)
        self.client.topics.discard((str(portfolio_id), None))
        self.client.drop_unwanted()
        self._ack({"type": "unsubscribed", "channel": PORTFOLIO, "portfolio_id": portfolio_id}, ref)

    async def _value(self, portfolio_id: int) -> dict[str, Any] | None:
        assert self.user is not None
        assert self.token is not None
        try:
            return await self.realtime.portfolios.performance(self.user, self.token, portfolio_id)
        except AppError as exc:
            if exc.status_code == 401:
                raise Closing(CLOSE_UNAUTHORIZED, exc.code, exc.message) from None
            log.warning("ws_portfolio_valuation_failed", portfolio_id=portfolio_id, error=repr(exc))
            raise ProtocolError("unavailable", "The portfolio cannot be valued right now") from exc
        except Exception as exc:
            log.warning("ws_portfolio_valuation_failed", portfolio_id=portfolio_id, error=repr(exc))
            raise ProtocolError("unavailable", "The portfolio cannot be valued right now") from exc

    def _push(self, portfolio_id: int, performance: dict[str, Any]) -> None:
        # Pushed when a figure changed (the valuation time alone is no news).
        figures = {k: v for k, v in performance.items() if k != "as_of"}
        if self.portfolios.get(portfolio_id) == figures:
            return
        self.portfolios[portfolio_id] = figures
        frame = typed_frame("portfolio_update", performance, portfolio_id=portfolio_id)
        self.client.offer((str(portfolio_id), None), Update.of(frame, time.time()))

    async def _session(self) -> None:
        """Auth deadline, then: token expiry, session re-checks and revaluations."""
        try:
            await asyncio.wait_for(self.authenticated.wait(), AUTH_TIMEOUT)
        except TimeoutError:
            raise Closing(
                CLOSE_AUTH_TIMEOUT,
                "auth_timeout",
                f'No {{"action": "auth"}} frame within {AUTH_TIMEOUT:g} s',
            ) from None
        interval = self.platform.settings.ws_portfolio_interval_seconds
        loop = asyncio.get_running_loop()
        checked = valued = loop.time()
        version = self.realtime.prices.version
        # Valuations read the market's cached prices, which the persister writes up to a flush
        # after the gateway saw the tick: after a move, keep valuing for a round and two
        # flushes more.
        settle = interval + 2 * self.platform.settings.market_flush_seconds
        settle_until = 0.0
        check_every = min(SESSION_CHECK_SECONDS, self.realtime.portfolios.session_check_seconds)
        while True:
            assert self.token is not None
            await asyncio.sleep(min(interval, self._token_left()))
            # Woken at the token's expiry, it is that, not a failed check of the token.
            self._token_left()
            now = loop.time()
            if now - checked >= check_every:
                checked = now
                await self._verify(self.token)
            if self.realtime.prices.version != version:
                settle_until = now + settle
            due = now <= settle_until or now - valued >= PORTFOLIO_REFRESH_SECONDS
            if self.portfolios and due:
                version, valued = self.realtime.prices.version, now
                for portfolio_id in list(self.portfolios):
                    with contextlib.suppress(ProtocolError):
                        performance = await self._value(portfolio_id)
                        if performance is not None and portfolio_id in self.portfolios:
                            self._push(portfolio_id, performance)
