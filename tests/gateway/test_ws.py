"""The WebSocket protocol over a real server (uvicorn as the CLI runs it, in-process bus):
subscriptions and acks, error frames that leave the connection open, keepalive, Origin,
the analytics and sentiment channels, authentication on /ws/portfolio, metrics, and a slow
reader next to a fast one on real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from cryptodash.gateway import ws as ws_module
from cryptodash.gateway.fanout import Update
from cryptodash.gateway.realtime import Realtime
from cryptodash.market.ingest import publish_tick
from cryptodash.market.normalize import make_tick
from cryptodash.runtime import Platform
from cryptodash.users import tokens
from tests.apps import make_settings, serving
from tests.helpers import eventually
from tests.users.accounts import Account, new_account

ORIGIN = "http://127.0.0.1:8000"


@pytest.fixture
async def server(data_dir: Path) -> AsyncIterator[tuple[FastAPI, str]]:
    settings = make_settings(
        data_dir,
        demo=True,
        simulator_history_days=0,
        simulator_ticks_per_second=0.001,  # one bitcoin tick at start, then quiet
        ws_stall_seconds=1.0,
        ws_portfolio_interval_seconds=0.1,
    )
    async with serving(settings) as (app, base):
        await asyncio.wait_for(realtime_of(app).subscribed.wait(), 20)
        yield app, base


def realtime_of(app: FastAPI) -> Realtime:
    realtime: Realtime = app.state.realtime
    return realtime


def platform_of(app: FastAPI) -> Platform:
    platform: Platform = app.state.platform
    return platform


async def send(ws: ClientConnection, frame: Any) -> None:
    await ws.send(frame if isinstance(frame, str | bytes) else orjson.dumps(frame).decode())


async def receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def receive_until(
    ws: ClientConnection, done: Callable[[dict[str, Any]], bool], timeout: float = 5.0
) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not frames or not done(frames[-1]):
            frames.append(await receive(ws))
    return frames


async def silent(ws: ClientConnection, seconds: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    return False


async def frames_within(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every frame that arrives within `seconds`."""
    frames: list[dict[str, Any]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                frames.append(orjson.loads(await ws.recv()))
    return frames


async def tick(app: FastAPI, coin: str, price: float, source: str = "coinbase") -> None:
    quote = "USDT" if source == "binance" else "USD"
    at = datetime.now(UTC)
    await publish_tick(platform_of(app).bus, make_tick(coin, source, price, 1, at, quote))


def metric(app: FastAPI, name: str, **labels: str) -> float:
    return platform_of(app).metrics.registry.get_sample_value(name, labels) or 0.0


async def test_subscribe_gets_acked_and_only_the_coins_asked_for(
    server: tuple[FastAPI, str],
) -> None:
    app, base = server
    async with connect(f"{base}/ws/prices") as ws:
        await send(ws, {"action": "subscribe", "coins": ["ethereum", "solana"], "id": 7})
        assert await receive(ws) == {
            "type": "subscribed",
            "channel": "prices",
            "coins": ["ethereum", "solana"],
            "id": 7,
        }
        await tick(app, "cardano", 0.5)
        await tick(app, "ethereum", 3000.5)
        frame = await receive(ws)
        assert frame["type"] == "price_update"
        assert frame["coin_id"] == "ethereum"
        assert frame["price"] == 3000.5
        assert frame["source"] == "coinbase"
        assert frame["sources"] == ["coinbase"]
        assert "change_24h" in frame
        assert frame["timestamp"].endswith("Z")
        # The consolidated price: the median of the fresh sources, USDT at 1:1 without a rate.
        await tick(app, "ethereum", 3001.5, source="binance")
        frame = await receive(ws)
        assert (frame["price"], frame["source"]) == (3001.0, "binance")
        assert frame["sources"] == ["binance", "coinbase"]

        await send(ws, {"action": "unsubscribe", "coins": ["ethereum"]})
        assert (await receive(ws))["type"] == "unsubscribed"
        await tick(app, "ethereum", 3010)
        await tick(app, "solana", 150)
        assert (await receive(ws))["coin_id"] == "solana"
        assert await silent(ws)


async def test_wildcard_subscription_starts_with_the_latest_prices(
    server: tuple[FastAPI, str],
) -> None:
    app, base = server
    await tick(app, "litecoin", 80)
    await tick(app, "polkadot", 4)
    await eventually(lambda: realtime_of(app).hub.latest("prices", ("polkadot", None)))
    async with connect(f"{base}/ws/prices") as ws:
        await send(ws, {"action": "subscribe", "coins": ["*"]})
        assert (await receive(ws))["coins"] == ["*"]
        seen = {}
        while "litecoin" not in seen or "polkadot" not in seen:
            frame = await receive(ws)
            seen[frame["coin_id"]] = frame["price"]
        assert (seen["litecoin"], seen["polkadot"]) == (80, 4)
        await tick(app, "uniswap", 7)
        frames = await receive_until(ws, lambda f: f["coin_id"] == "uniswap")
        assert frames[-1]["price"] == 7
        await send(ws, {"action": "unsubscribe", "coins": ["*"]})
        # Frames already on their way (the hub sends when a price or 24 h change moves) may
        # come first; nothing after the acknowledgement.
        frames = await receive_until(ws, lambda f: f["type"] != "price_update")
        assert frames[-1]["type"] == "unsubscribed"
        await tick(app, "uniswap", 8)
        assert await silent(ws)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ({"coins": ["bitcoin"]}, "unknown_action"),
        ({"action": "dance"}, "unknown_action"),
        ({"action": "subscribe"}, "invalid_message"),
        ({"action": "subscribe", "coins": "bitcoin"}, "invalid_message"),
        ({"action": "subscribe", "coins": []}, "invalid_message"),
        ({"action": "subscribe", "coins": [1]}, "invalid_message"),
        ({"action": "subscribe", "coins": ["bitcoin", "notacoin"]}, "unknown_coin"),
        (b"\x00binary", "invalid_message"),
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_connection_stays(
    server: tuple[FastAPI, str], frame: Any, code: str
) -> None:
    app, base = server
    async with connect(f"{base}/ws/prices") as ws:
        await send(ws, frame)
        error = await receive(ws)
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["message"]
        await send(ws, {"action": "ping", "id": "after"})
        assert (await receive(ws))["type"] == "pong"
        if code == "unknown_coin":  # nothing of a refused request was subscribed
            await tick(app, "bitcoin", 100_000)
            assert await silent(ws)


async def test_keepalive_protocol_ping_and_application_ping(server: tuple[FastAPI, str]) -> None:
    _, base = server
    async with connect(f"{base}/ws/sentiment", ping_interval=None) as ws:
        pong = await ws.ping()
        await asyncio.wait_for(pong, 5)
        await send(ws, {"action": "ping", "id": 1})
        frame = await receive(ws)
        assert frame["type"] == "pong"
        assert frame["id"] == 1
        assert frame["time"].endswith("Z")


async def test_origin_must_be_the_gateways_own_or_a_cors_origin(
    server: tuple[FastAPI, str],
) -> None:
    app, base = server
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{base}/ws/prices", additional_headers={"Origin": "https://evil.test"}):
            pass
    assert refused.value.response.status_code == 403
    assert metric(app, "ws_disconnects_total", reason="origin_refused") == 1
    async with connect(f"{base}/ws/prices", additional_headers={"Origin": ORIGIN}) as ws:
        await send(ws, {"action": "ping"})
        assert (await receive(ws))["type"] == "pong"
    # The page the gateway serves itself, on whatever host and port it is reached.
    own = base.replace("ws://", "http://")
    async with connect(f"{base}/ws/prices", additional_headers={"Origin": own}) as ws:
        await send(ws, {"action": "ping"})
        assert (await receive(ws))["type"] == "pong"
    # Same host, another port: another origin.
    other_port = own.rsplit(":", 1)[0] + ":1"
    with pytest.raises(InvalidStatus):
        async with connect(f"{base}/ws/prices", additional_headers={"Origin": other_port}):
            pass


async def test_analytics_by_coin_and_interval(server: tuple[FastAPI, str]) -> None:
    app, base = server
    bus = platform_of(app).bus

    async def publish(coin: str, interval: str, sma: float) -> None:
        update = {"coin_id": coin, "interval": interval, "time": "2025-01-01T00:00:00Z",
                  "close": 1.0, "live": True, "values": {"sma_20": sma}}  # fmt: skip
        await bus.publish("analytics_updates", coin, update, schema="analytics_update.v1")

    # Ethereum, not bitcoin: the simulator's one tick at start (bitcoin) may reach the
    # analytics pipeline after the sockets subscribe, whenever the feed happens to start.
    async with (
        connect(f"{base}/ws/analytics") as hourly,
        connect(f"{base}/ws/analytics") as every,
    ):
        await send(hourly, {"action": "subscribe", "coins": ["ethereum"], "interval": "1h"})
        assert (await receive(hourly))["interval"] == "1h"
        await send(every, {"action": "subscribe", "coins": ["ethereum"]})
        assert (await receive(every))["interval"] is None
        await send(hourly, {"action": "subscribe", "coins": ["ethereum"], "interval": "2h"})
        assert (await receive(hourly))["code"] == "invalid_interval"
        await publish("ethereum", "1m", 1.0)
        await publish("solana", "1h", 2.0)
        await publish("ethereum", "1h", 3.0)
        frame = await receive(hourly)
        assert frame["type"] == "analytics_update"
        assert (frame["coin_id"], frame["interval"], frame["values"]) == (
            "ethereum",
            "1h",
            {"sma_20": 3.0},
        )
        got = [await receive(every), await receive(every)]
        assert [(f["interval"], f["values"]["sma_20"]) for f in got] == [("1m", 1.0), ("1h", 3.0)]
        assert await silent(hourly)


async def test_sentiment_is_forwarded_per_coin(server: tuple[FastAPI, str]) -> None:
    app, base = server
    async with connect(f"{base}/ws/sentiment") as ws:
        await send(ws, {"action": "subscribe", "coins": ["solana"]})
        assert (await receive(ws))["type"] == "subscribed"
        bus = platform_of(app).bus
        await bus.publish("sentiment_updates", "bitcoin", {"coin_id": "bitcoin", "score": 0.1})
        await bus.publish("sentiment_updates", "solana", {"coin_id": "solana", "score": -0.4})
        frame = await receive(ws)
        assert frame == {"type": "sentiment_update", "coin_id": "solana", "score": -0.4}
        # The app's own sentiment pipeline may publish solana meanwhile; never bitcoin.
        assert {f["coin_id"] for f in await frames_within(ws, 0.3)} <= {"solana"}


async def test_metrics_count_clients_frames_latency_and_disconnects(
    server: tuple[FastAPI, str],
) -> None:
    app, base = server
    async with connect(f"{base}/ws/prices") as ws:
        await send(ws, {"action": "subscribe", "coins": ["aave"]})
        await receive(ws)
        assert metric(app, "ws_clients", channel="prices") == 1
        await tick(app, "aave", 300)
        await receive(ws)
    await eventually(lambda: metric(app, "ws_clients", channel="prices") == 0)
    assert metric(app, "ws_messages_sent_total", channel="prices") >= 2
    assert metric(app, "ws_send_latency_seconds_count", channel="prices") >= 1
    assert metric(app, "ws_disconnects_total", reason="client_closed") >= 1
    async with httpx.AsyncClient(base_url=base.replace("ws://", "http://")) as client:
        text = (await client.get("/metrics")).text
    for name in ("ws_clients", "ws_messages_sent_total", "ws_messages_conflated_total",
                 "ws_disconnects_total", "ws_send_latency_seconds_bucket"):  # fmt: skip
        assert name in text


async def test_many_clients_each_get_only_their_coins(server: tuple[FastAPI, str]) -> None:
    app, base = server
    coins = ["ethereum", "solana", "cardano", "dogecoin", "chainlink"]
    sockets = []
    try:
        for n in range(150):
            ws = await connect(f"{base}/ws/prices")
            sockets.append(ws)
            await send(ws, {"action": "subscribe", "coins": [coins[n % 5], coins[(n + 1) % 5]]})
        for ws in sockets:
            assert (await receive(ws))["type"] == "subscribed"
        for price, coin in enumerate(coins, start=1):
            await tick(app, coin, price)
        for n, ws in enumerate(sockets):
            got = {(await receive(ws))["coin_id"] for _ in range(2)}
            assert got == {coins[n % 5], coins[(n + 1) % 5]}
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))


def _small_buffer_socket(base: str) -> socket.socket:
    host, port = base.removeprefix("ws://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    return sock


async def test_a_reader_that_stops_gets_conflated_then_dropped_and_others_keep_up(
    server: tuple[FastAPI, str],
) -> None:
    """Real sockets: one client stops reading (a small receive buffer fills up); the hub goes
    on at full speed for the other, the stuck one holds at most one frame per coin, and it is
    dropped once its socket has taken nothing for `ws_stall_seconds`."""
    app, base = server
    realtime = realtime_of(app)
    stuck_sock = _small_buffer_socket(base)
    hub = realtime.hub
    async with connect(
        f"{base}/ws/prices", sock=stuck_sock, max_queue=1, close_timeout=0.5
    ) as stuck:
        await send(stuck, {"action": "subscribe", "coins": ["*"]})
        assert (await receive(stuck))["type"] == "subscribed"
        (stuck_client,) = [c for c in hub.clients if c.channel == "prices"]
        reader = await connect(f"{base}/ws/prices")
        await send(reader, {"action": "subscribe", "coins": ["*"]})
        assert (await receive(reader))["type"] == "subscribed"
        padding = "x" * 2000  # big frames fill the socket buffers quickly
        coins = list(realtime.coin_ids)
        received = 0
        for round_ in range(150):
            for coin in coins:
                frame = {"type": "price_update", "coin_id": coin, "price": round_, "pad": padding}
                hub.publish("prices", (coin, None), Update.of(frame))
            async with asyncio.timeout(10):  # the reader keeps up round by round
                for _ in coins:
                    await reader.recv()
                    received += 1
        assert received == 150 * len(coins)
        assert all(c.queued <= len(coins) for c in hub.clients)
        assert metric(app, "ws_messages_conflated_total", channel="prices") > 0
        assert stuck_client.queued > 0
        # Nothing more arrives for the stuck one: after ws_stall_seconds it is dropped.
        await eventually(lambda: stuck_client not in hub.clients, timeout=10)
        assert metric(app, "ws_disconnects_total", reason="stalled") == 1
        await send(reader, {"action": "ping"})
        frames = await receive_until(reader, lambda f: f["type"] == "pong")
        assert frames[-1]["type"] == "pong"
        await reader.close()


# --------------------------------------------------------------------------- /ws/portfolio


@pytest.fixture
async def portfolio_server(
    server: tuple[FastAPI, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FastAPI, str, httpx.AsyncClient]]:
    app, base = server
    monkeypatch.setattr(ws_module, "AUTH_TIMEOUT", 2.0)  # short, yet answerable when loaded
    monkeypatch.setattr(ws_module, "SESSION_CHECK_SECONDS", 0.2)
    async with httpx.AsyncClient(base_url=base.replace("ws://", "http://")) as client:
        yield app, base, client


async def new_portfolio(client: httpx.AsyncClient, owner: Account, bitcoins: str) -> int:
    created = await client.post("/api/portfolio", json={"name": "main"}, headers=owner.headers)
    assert created.status_code == 201, created.text
    portfolio_id = int(created.json()["id"])
    trade = {"coin_id": "bitcoin", "side": "buy", "quantity": bitcoins, "price": "50000"}
    bought = await client.post(
        f"/api/portfolio/{portfolio_id}/transactions", json=trade, headers=owner.headers
    )
    assert bought.status_code == 201, bought.text
    return portfolio_id


async def closed_with(ws: ClientConnection, timeout: float = 5.0) -> tuple[int, list[Any]]:
    frames = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                frames.append(orjson.loads(await ws.recv()))
    except ConnectionClosed:
        pass
    assert ws.close_code is not None
    return ws.close_code, frames


async def test_portfolio_needs_an_auth_frame_within_the_deadline(
    portfolio_server: tuple[FastAPI, str, httpx.AsyncClient],
) -> None:
    app, base, _ = portfolio_server
    async with connect(f"{base}/ws/portfolio") as ws:
        await send(ws, {"action": "subscribe", "portfolio_id": 1})
        error = await receive(ws)
        assert (error["type"], error["code"]) == ("error", "unauthorized")
        code, frames = await closed_with(ws)
    assert code == 4408
    assert frames[-1]["code"] == "auth_timeout"
    assert metric(app, "ws_disconnects_total", reason="auth_timeout") == 1


@pytest.mark.parametrize("token", ["garbage", "", 42])
async def test_a_refused_token_closes_with_4401(
    portfolio_server: tuple[FastAPI, str, httpx.AsyncClient], token: Any
) -> None:
    _, base, _ = portfolio_server
    async with connect(f"{base}/ws/portfolio") as ws:
        await send(ws, {"action": "auth", "token": token})
        code, frames = await closed_with(ws)
    assert code == 4401
    assert frames[-1]["type"] == "error"


async def test_portfolio_updates_follow_prices_for_the_owner_only(
    portfolio_server: tuple[FastAPI, str, httpx.AsyncClient],
) -> None:
    """The real portfolio domain: valued by its service at the market's cached prices."""
    app, base, client = portfolio_server
    me = await new_account(client)
    other = await new_account(client)
    mine = await new_portfolio(client, me, "2")
    theirs = await new_portfolio(client, other, "1")
    # The simulator's own source: its one tick at start-up is replaced, not averaged with.
    await tick(app, "bitcoin", 60_000, source="simulator")
    async with connect(f"{base}/ws/portfolio") as ws:
        await send(ws, {"action": "auth", "token": me.access, "id": "a"})
        ack = await receive(ws)
        assert (ack["type"], ack["user_id"], ack["id"]) == ("authenticated", me.id, "a")
        assert ack["expires_at"].endswith("Z")
        await send(ws, {"action": "subscribe", "portfolio_id": theirs})
        assert (await receive(ws))["code"] == "unknown_portfolio"  # 404, not 403: no leak
        await send(ws, {"action": "subscribe", "portfolio_id": "1"})
        assert (await receive(ws))["code"] == "invalid_message"
        await send(ws, {"action": "subscribe", "portfolio_id": mine})
        assert await receive(ws) == {
            "type": "subscribed",
            "channel": "portfolio",
            "portfolio_id": mine,
        }
        first = await receive(ws)
        assert first["type"] == "portfolio_update"
        assert first["portfolio_id"] == mine
        assert [a["coin_id"] for a in first["assets"]] == ["bitcoin"]
        await tick(app, "bitcoin", 61_000, source="simulator")
        frames = await receive_until(ws, lambda f: float(f["total_value"]) == 122_000, 15)
        assert float(frames[-1]["unrealized_gain"]) == 22_000
        await send(ws, {"action": "unsubscribe", "portfolio_id": mine})
        frames = await receive_until(ws, lambda f: f["type"] == "unsubscribed")
        await tick(app, "bitcoin", 62_000, source="simulator")
        assert await silent(ws, 1.0)


async def test_an_expired_token_closes_the_socket_and_reauth_extends_it(
    portfolio_server: tuple[FastAPI, str, httpx.AsyncClient],
) -> None:
    app, base, client = portfolio_server
    me = await new_account(client)
    secret = platform_of(app).jwt_secret
    assert secret is not None

    def short(seconds: int) -> str:
        """A token for `seconds` (exp is whole seconds: valid for seconds-1 to seconds)."""
        claims = tokens.decode(secret, me.access, expected="access")
        token, _ = tokens.issue(
            secret, user_id=me.id, role="user", type="access", sid=claims.sid, ttl_seconds=seconds
        )
        return token

    # Lifetimes of seconds, not one: a loaded machine may take a second to answer a frame.
    async with connect(f"{base}/ws/portfolio") as ws:
        await send(ws, {"action": "auth", "token": short(4)})
        answer = await receive(ws)
        assert answer["type"] == "authenticated", answer
        await send(ws, {"action": "auth", "token": me.access})  # a fresh token, before expiry
        assert (await receive(ws))["type"] == "authenticated"
        assert await silent(ws, 5.0)  # still open past the first token's expiry
    async with connect(f"{base}/ws/portfolio") as ws:
        await send(ws, {"action": "auth", "token": short(4)})
        answer = await receive(ws)
        assert answer["type"] == "authenticated", answer
        code, frames = await closed_with(ws, timeout=10.0)
    assert code == 4401
    assert frames[-1]["code"] == "token_expired"
    assert metric(app, "ws_disconnects_total", reason="token_expired") == 1


async def test_logging_out_ends_the_socket_and_another_user_cannot_take_it_over(
    portfolio_server: tuple[FastAPI, str, httpx.AsyncClient],
) -> None:
    _, base, client = portfolio_server
    me = await new_account(client)
    other = await new_account(client)
    async with connect(f"{base}/ws/portfolio") as ws:
        await send(ws, {"action": "auth", "token": me.access})
        assert (await receive(ws))["type"] == "authenticated"
        await send(ws, {"action": "auth", "token": other.access})
        code, _ = await closed_with(ws)
    assert code == 4401
    async with connect(f"{base}/ws/portfolio") as ws:
        await send(ws, {"action": "auth", "token": me.access})
        assert (await receive(ws))["type"] == "authenticated"
        response = await client.post("/api/users/logout", headers=me.headers)
        assert response.status_code == 204
        code, frames = await closed_with(ws)
    assert code == 4401
    assert frames[-1]["type"] == "error"


async def test_deactivation_closes_an_open_portfolio_socket_at_once(
    server: tuple[FastAPI, str],
) -> None:
    """No shortened check interval here: the product's own. A deactivated user's socket is
    closed within a few seconds (it was up to 30 s: the black-box probe of issue 5)."""
    app, base = server
    async with httpx.AsyncClient(base_url=base.replace("ws://", "http://")) as client:
        admin = await new_account(client, app, admin=True)
        user = await new_account(client)
        portfolio_id = await new_portfolio(client, user, "1")
        async with connect(f"{base}/ws/portfolio") as ws:
            await send(ws, {"action": "auth", "token": user.access})
            assert (await receive(ws))["type"] == "authenticated"
            await send(ws, {"action": "subscribe", "portfolio_id": portfolio_id})
            assert (await receive(ws))["type"] == "subscribed"
            deactivated = await client.patch(
                f"/api/admin/users/{user.id}", json={"is_active": False}, headers=admin.headers
            )
            assert deactivated.status_code == 200
            code, frames = await closed_with(ws, timeout=5.0)
    assert code == 4401
    assert frames[-1]["code"] == "account_disabled"


async def test_a_split_gateway_values_through_the_portfolio_service(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The split gateway has no database: it checks the token's signature itself and asks the
    portfolio service (here an all-in-one process) with the user's own token."""
    monkeypatch.setattr(ws_module, "SESSION_CHECK_SECONDS", 0.2)
    secret = "p" * 48
    backend_settings = make_settings(data_dir, jwt_secret=secret, ws_portfolio_interval_seconds=0.1)
    async with serving(backend_settings) as (backend, backend_base):
        http = backend_base.replace("ws://", "http://")
        gateway_settings = make_settings(
            data_dir / "gw",
            jwt_secret=secret,
            portfolio_url=http,
            ws_portfolio_interval_seconds=0.1,
        )
        async with (
            serving(gateway_settings, service="gateway") as (gateway, gateway_base),
            httpx.AsyncClient(base_url=http) as client,
        ):
            assert platform_of(gateway).db is None
            me, other = await new_account(client), await new_account(client)
            mine, theirs = (
                await new_portfolio(client, me, "3"),
                await new_portfolio(client, other, "1"),
            )
            await set_cached_price(backend, "bitcoin", 70_000)
            async with connect(f"{gateway_base}/ws/portfolio") as ws:
                await send(ws, {"action": "auth", "token": me.access})
                assert (await receive(ws))["user_id"] == me.id
                await send(ws, {"action": "subscribe", "portfolio_id": theirs})
                assert (await receive(ws))["code"] == "unknown_portfolio"
                await send(ws, {"action": "subscribe", "portfolio_id": mine})
                assert (await receive(ws))["type"] == "subscribed"
                update = await receive(ws)
                assert (update["type"], float(update["total_value"])) == (
                    "portfolio_update",
                    210_000,
                )
                assert (
                    await client.post("/api/users/logout", headers=me.headers)
                ).status_code == 204
                code, frames = await closed_with(ws)
            assert code == 4401
            assert frames[-1]["type"] == "error"
            async with connect(f"{gateway_base}/ws/portfolio") as ws:
                await send(ws, {"action": "auth", "token": "forged"})
                code, _ = await closed_with(ws)
            assert code == 4401


async def set_cached_price(app: FastAPI, coin: str, price: float) -> None:
    """What the market persister writes: the coin's `price:{coin}` entry."""
    from cryptodash.market import service as market
    from cryptodash.platform.cache import set_json

    entry = {"coin_id": coin, "price": price, "change_24h_pct": 0.0, "stale": False}
    await set_json(platform_of(app).cache, market.price_key(coin), entry, 3600)
