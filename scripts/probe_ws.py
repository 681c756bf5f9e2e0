"""Black-box WebSocket probe of a running cryptodash (issue 9's "Done when"): hundreds of
sockets on `/ws/prices`, each subscribed to its own coin set, then the protocol's error paths,
`/ws/analytics` with an interval, `/ws/sentiment` and the `/ws/portfolio` auth flow.

    cryptodash up --demo --port 8765 --data-dir /tmp/probe-data &
    .venv/bin/python scripts/probe_ws.py --url http://127.0.0.1:8765 --sockets 400 \
        --data-dir /tmp/probe-data

Reports: sockets that got a coin they did not ask for, sockets that got no update, error frames
and whether the socket lived on, and the latency from each `price_update`'s exchange
`timestamp` to its arrival here (p50/p99/max; client and server share this machine's clock;
each subscription's snapshot — the latest value, as old as its tick — is not counted).
`--data-dir` lets the probe sign a short-lived token with the instance's key (token expiry on
`/ws/portfolio`). Exit status 1 when something was found.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import websockets
from _report import Report
from websockets.asyncio.client import ClientConnection, connect

report = Report()
check = report.check
note = report.note


def parse_ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Socket:
    index: int
    coins: list[str]
    received: dict[str, int] = field(default_factory=dict)
    foreign: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)
    updates_after_error: int = 0
    closed: str | None = None
    got_error_at: float | None = None


async def run_socket(
    url: str, sock: Socket, stop: asyncio.Event, misbehave: str | None, ready: asyncio.Queue[int]
) -> None:
    try:
        async with connect(url, max_size=2**22, open_timeout=60, ping_interval=None) as ws:
            await ws.send(
                json.dumps({"action": "subscribe", "coins": sock.coins, "id": sock.index})
            )
            await ready.put(sock.index)
            sent_bad = False
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    raw = None
                now = time.time()
                if raw is not None:
                    frame = orjson.loads(raw)
                    kind = frame.get("type")
                    if kind == "price_update":
                        coin = frame["coin_id"]
                        sock.received[coin] = sock.received.get(coin, 0) + 1
                        if "*" not in sock.coins and coin not in sock.coins:
                            sock.foreign.add(coin)
                        # The first update of a coin is the subscription's snapshot (the
                        # latest value, as old as the last tick): not a delivery delay.
                        if sock.received[coin] > 1:
                            sock.latencies.append(now - parse_ts(frame["timestamp"]))
                            sock.arrivals.append(now)
                        if sock.got_error_at is not None:
                            sock.updates_after_error += 1
                    elif kind == "error":
                        sock.errors.append(frame)
                        sock.got_error_at = now
                    else:
                        sock.acks.append(frame)
                if misbehave and not sent_bad and sock.received:
                    sent_bad = True
                    await send_bad(ws, misbehave)
    except websockets.ConnectionClosed as exc:
        sock.closed = f"{exc.rcvd.code if exc.rcvd else None} {exc.rcvd.reason if exc.rcvd else ''}"
    except Exception as exc:
        sock.closed = repr(exc)


async def send_bad(ws: ClientConnection, kind: str) -> None:
    payloads: dict[str, str | bytes] = {
        "malformed": "{not json",
        "unknown_action": json.dumps({"action": "explode", "coins": ["bitcoin"]}),
        "unknown_coin": json.dumps({"action": "subscribe", "coins": ["notacoin", "bitcoin"]}),
        "not_object": json.dumps([1, 2, 3]),
        "binary": b"\x00\x01binary",
        "coins_not_list": json.dumps({"action": "subscribe", "coins": "bitcoin"}),
        "too_many": json.dumps({"action": "subscribe", "coins": ["bitcoin"] * 500}),
        "injection": json.dumps({"action": "subscribe", "coins": ["'; DROP TABLE prices;--"]}),
        "no_action": json.dumps({"coins": ["bitcoin"]}),
    }
    await ws.send(payloads[kind])


async def send_latency_buckets(http: str) -> dict[float, float]:
    """The server's own `ws_send_latency_seconds{channel="prices"}` buckets (cumulative)."""
    async with httpx.AsyncClient(base_url=http, timeout=30) as client:
        text = (await client.get("/metrics")).text
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith('ws_send_latency_seconds_bucket{channel="prices"'):
            bound = line.split('le="')[1].split('"')[0]
            buckets[float("inf") if bound == "+Inf" else float(bound)] = float(line.split()[-1])
    return buckets


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> str:
    total = after.get(float("inf"), 0) - before.get(float("inf"), 0)
    if total <= 0:
        return "-"
    for bound in sorted(after):
        if after[bound] - before.get(bound, 0) >= q * total:
            return f"<= {bound * 1000:g} ms" if bound != float("inf") else "> 10 s"
    return "-"


def plan_sockets(n: int, coin_ids: list[str]) -> list[tuple[Socket, str | None]]:
    """Socket i's coins and, for every 7th, the bad frame it sends (the same every run)."""
    rng = random.Random(7)
    bad_kinds = [
        "malformed",
        "unknown_action",
        "unknown_coin",
        "not_object",
        "binary",
        "coins_not_list",
        "too_many",
        "injection",
        "no_action",
    ]
    planned = []
    for i in range(n):
        coins = ["*"] if i % 10 == 0 else rng.sample(coin_ids, rng.randint(1, 4))
        bad = bad_kinds[(i // 7) % len(bad_kinds)] if i % 7 == 3 else None
        planned.append((Socket(i, coins), bad))
    return planned


def run_part(url: str, part: list[tuple[Socket, str | None]], stop_at: float) -> list[Socket]:
    """One client process: its share of the sockets until `stop_at` (wall clock)."""

    async def main() -> list[Socket]:
        stop = asyncio.Event()
        ready: asyncio.Queue[int] = asyncio.Queue()
        tasks = []
        for sock, bad in part:
            tasks.append(asyncio.create_task(run_socket(url, sock, stop, bad, ready)))
            if len(tasks) % 25 == 0:
                await asyncio.sleep(0.05)
        await asyncio.sleep(max(0.0, stop_at - time.time()))
        stop.set()
        await asyncio.gather(*tasks)
        return [sock for sock, _ in part]

    return asyncio.run(main())


async def fanout(base: str, n: int, seconds: float, coin_ids: list[str], processes: int) -> None:
    print(f"\n== /ws/prices: {n} sockets from {processes} client processes, {seconds:.0f} s")
    url = base + "/ws/prices"
    planned = plan_sockets(n, coin_ids)
    plans = [bad for _, bad in planned]
    connect_budget = 8.0
    started = time.time()
    stop_at = started + connect_budget + seconds
    steady_from = started + connect_budget  # past the connection burst
    http = base.replace("ws://", "http://").replace("wss://", "https://")
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(processes) as pool:
        parts = [
            loop.run_in_executor(pool, run_part, url, planned[i::processes], stop_at)
            for i in range(processes)
        ]
        await asyncio.sleep(connect_budget)
        before = await send_latency_buckets(http)
        results = await asyncio.gather(*parts)
        after = await send_latency_buckets(http)
    sockets = sorted((sock for part in results for sock in part), key=lambda s: s.index)
    subscribed = sum(any(a.get("type") == "subscribed" for a in s.acks) for s in sockets)
    note(f"{subscribed}/{n} sockets subscribed")
    closed = [s for s in sockets if s.closed]
    check(
        not closed,
        "no socket was closed by the server",
        f"{len(closed)} closed, e.g. {[s.closed for s in closed[:5]]}",
    )
    silent = [s for s in sockets if not s.received]
    check(
        not silent,
        "every socket got price updates",
        f"{len(silent)} got none, e.g. coins {[s.coins for s in silent[:5]]}",
    )
    foreign = [s for s in sockets if s.foreign]
    check(
        not foreign,
        "each socket got only the coins it asked for",
        f"{len(foreign)} got others, e.g. {[(s.coins, sorted(s.foreign)) for s in foreign[:3]]}",
    )
    wildcard = [s for s in sockets if s.coins == ["*"]]
    coverage = statistics.mean(len(s.received) for s in wildcard) if wildcard else 0
    note(f"'*' sockets saw {coverage:.1f} of {len(coin_ids)} coins on average")
    # Every asked-for coin arrives (over the probe's duration, at the demo tick rate).
    partial = [s for s in sockets if s.coins != ["*"] and set(s.received) != set(s.coins)]
    check(
        len(partial) <= n * 0.02,
        "subset sockets got every coin they asked for",
        f"{len(partial)} missed some, e.g. {[(s.coins, sorted(s.received)) for s in partial[:3]]}",
    )
    misbehaving = [(s, p) for s, p in zip(sockets, plans, strict=True) if p]
    by_kind: dict[str, list[str]] = {}
    for sock, plan in misbehaving:
        codes = [e.get("code") for e in sock.errors]
        by_kind.setdefault(plan or "", []).append(",".join(str(c) for c in codes) or "NONE")
        check(
            bool(sock.errors) and not sock.closed,
            f"bad frame {plan!r}: error frame, socket stays open",
            f"errors {codes} closed {sock.closed}",
        )
        check(
            sock.updates_after_error > 0,
            f"bad frame {plan!r}: updates go on after the error",
            f"{sock.updates_after_error} after",
        )
    note("error codes per bad frame: " + "; ".join(f"{k}: {v[0]}" for k, v in by_kind.items()))
    unknown_coin = [s for s, p in misbehaving if p == "unknown_coin"]
    for sock in unknown_coin:
        if "*" not in sock.coins and "bitcoin" not in sock.coins:
            check(
                "bitcoin" not in sock.received,
                "a refused subscription changed nothing",
                f"got bitcoin after unknown_coin on {sock.coins}",
            )
    latencies = [x for s in sockets for x in s.latencies]
    note(
        f"all {len(latencies)} price updates (connection burst included): latency "
        f"p50 {pct(latencies, 0.5) * 1000:.1f} ms, p99 {pct(latencies, 0.99) * 1000:.1f} ms, "
        f"max {max(latencies, default=0) * 1000:.1f} ms"
    )
    steady = [
        x for s in sockets for x, t in zip(s.latencies, s.arrivals, strict=True) if t >= steady_from
    ]
    note(
        f"measured window ({seconds:.0f} s, all sockets subscribed): {len(steady)} updates "
        f"({len(steady) / seconds:.0f}/s), latency p50 {pct(steady, 0.5) * 1000:.1f} ms, "
        f"p99 {pct(steady, 0.99) * 1000:.1f} ms, max {max(steady, default=0) * 1000:.1f} ms"
    )
    note(
        "server side in the window (ws_send_latency_seconds: tick's exchange time → handed to "
        f"the socket): p50 {bucket_quantile(before, after, 0.5)}, "
        f"p99 {bucket_quantile(before, after, 0.99)}"
    )
    check(
        max(latencies, default=0) < 2.0, "every update inside the seed's 2 s",
        f"max {max(latencies, default=0) * 1000:.0f} ms",
    )  # fmt: skip
    wl = [x for s in wildcard for x in s.latencies]
    note(f"'*' sockets: p50 {pct(wl, 0.5) * 1000:.1f} ms, p99 {pct(wl, 0.99) * 1000:.1f} ms")
    check(
        pct(steady, 0.99) < 0.5,
        "tick-to-client p99 in the window far inside 2 s (< 500 ms)",
        f"{pct(steady, 0.99) * 1000:.0f} ms",
    )


async def recv_until(ws: ClientConnection, pred: Any, timeout: float) -> dict[str, Any] | None:
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            return None
        if pred(frame):
            return dict(frame)
    return None


async def analytics(base: str) -> None:
    print("\n== /ws/analytics")
    async with connect(base + "/ws/analytics", ping_interval=None) as ws:
        await ws.send(json.dumps({"action": "subscribe", "coins": ["bitcoin"], "interval": "1m"}))
        ack = await recv_until(ws, lambda f: f.get("type") == "subscribed", 5)
        check(
            bool(ack) and ack.get("interval") == "1m",
            "subscribe with interval acknowledged",
            str(ack),
        )
        frames: list[dict[str, Any]] = []
        end = time.monotonic() + 8
        while time.monotonic() < end:
            f = await recv_until(
                ws, lambda f: f.get("type") == "analytics_update", end - time.monotonic()
            )
            if f is None:
                break
            frames.append(f)
        check(bool(frames), "analytics_update frames arrive", "none in 8 s")
        wrong = [f for f in frames if f.get("interval") != "1m" or f.get("coin_id") != "bitcoin"]
        check(not wrong, "only bitcoin 1m", str(wrong[:2]))
        await ws.send(json.dumps({"action": "subscribe", "coins": ["bitcoin"], "interval": "7m"}))
        err = await recv_until(ws, lambda f: f.get("type") == "error", 5)
        check(bool(err) and err.get("code") == "invalid_interval", "bad interval → error", str(err))
        await ws.send(json.dumps({"action": "ping", "id": "p1"}))
        pong = await recv_until(ws, lambda f: f.get("type") == "pong", 5)
        check(bool(pong) and pong.get("id") == "p1", "ping → pong with the id echoed", str(pong))


async def sentiment(base: str) -> None:
    print("\n== /ws/sentiment")
    async with connect(base + "/ws/sentiment", ping_interval=None) as ws:
        await ws.send(json.dumps({"action": "subscribe", "coins": ["*"]}))
        ack = await recv_until(ws, lambda f: f.get("type") == "subscribed", 5)
        check(bool(ack), "subscribe acknowledged", str(ack))
        upd = await recv_until(ws, lambda f: f.get("type") == "sentiment_update", 20)
        check(
            bool(upd) and "coin_id" in upd,
            "a sentiment_update arrives (latest value or new)",
            "none within 20 s",
        )
        await ws.send(json.dumps({"action": "subscribe", "coins": ["dogecoin2"]}))
        err = await recv_until(ws, lambda f: f.get("type") == "error", 5)
        check(bool(err) and err.get("code") == "unknown_coin", "unknown coin → error", str(err))


async def close_info(
    ws: ClientConnection, timeout: float
) -> tuple[list[dict[str, Any]], int | None]:
    frames: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout):
            async for raw in ws:
                frames.append(json.loads(raw))
    except TimeoutError:
        return frames, None
    except websockets.ConnectionClosed:
        pass
    return frames, ws.close_code


async def portfolio(base: str, http: str, data_dir: Path | None) -> None:
    print("\n== /ws/portfolio")
    url = base + "/ws/portfolio"
    async with connect(url, ping_interval=None) as ws:
        started = time.monotonic()
        frames, code = await close_info(ws, 10)
        took = time.monotonic() - started
        check(
            code == 4408 and any(f.get("code") == "auth_timeout" for f in frames),
            "no auth frame: auth_timeout error, close 4408 after about 5 s",
            f"code {code} frames {frames}",
        )
        check(4.5 <= took <= 7, f"…after {took:.1f} s")
    async with connect(url, ping_interval=None) as ws:
        await ws.send(json.dumps({"action": "auth", "token": "not-a-token"}))
        frames, code = await close_info(ws, 5)
        check(code == 4401, "bad token: close 4401", f"code {code} frames {frames}")
    async with connect(url, ping_interval=None) as ws:
        await ws.send(json.dumps({"action": "subscribe", "portfolio_id": 1}))
        err = await recv_until(ws, lambda f: f.get("type") == "error", 3)
        check(
            bool(err) and err.get("code") == "unauthorized",
            "subscribe before auth → error",
            str(err),
        )
    # A real user with a portfolio.
    password = "probe-password-" + secrets.token_hex(4)
    name = f"wsprobe_{secrets.token_hex(4)}"
    async with httpx.AsyncClient(base_url=http, timeout=30) as client:
        ip = {"X-Forwarded-For": f"10.77.{random.randint(0, 250)}.{random.randint(1, 250)}"}
        await client.post(
            "/api/users/register",
            json={"username": name, "email": f"{name}@example.com", "password": password},
            headers=ip,
        )
        pair = (
            await client.post(
                "/api/users/login", json={"username": name, "password": password}, headers=ip
            )
        ).json()
        auth = {"Authorization": f"Bearer {pair['access_token']}", **ip}
        p = (await client.post("/api/portfolio", json={"name": "ws probe"}, headers=auth)).json()
        tx = await client.post(
            f"/api/portfolio/{p['id']}/transactions",
            json={
                "coin_id": "bitcoin",
                "side": "buy",
                "quantity": "0.5",
                "price": "30000",
                "executed_at": datetime.now().astimezone().isoformat(),
            },
            headers=auth,
        )
        if tx.status_code >= 300:
            note(f"transaction answered {tx.status_code}: {tx.text[:200]}")
        other_name = f"wsprobe_{secrets.token_hex(4)}"
        await client.post(
            "/api/users/register",
            json={
                "username": other_name,
                "email": f"{other_name}@example.com",
                "password": password,
            },
            headers=ip,
        )
        other = (
            await client.post(
                "/api/users/login", json={"username": other_name, "password": password}, headers=ip
            )
        ).json()
    async with connect(url, ping_interval=None) as ws:
        await ws.send(json.dumps({"action": "auth", "token": pair["access_token"]}))
        ok = await recv_until(ws, lambda f: f.get("type") in ("authenticated", "error"), 5)
        check(bool(ok) and ok.get("type") == "authenticated", "good token → authenticated", str(ok))
        await ws.send(json.dumps({"action": "subscribe", "portfolio_id": p["id"]}))
        upd = await recv_until(ws, lambda f: f.get("type") == "portfolio_update", 10)
        check(
            bool(upd) and upd.get("portfolio_id") == p["id"],
            "portfolio_update arrives",
            str(upd)[:200],
        )
        await ws.send(json.dumps({"action": "subscribe", "portfolio_id": p["id"] + 100000}))
        err = await recv_until(ws, lambda f: f.get("type") == "error", 5)
        check(
            bool(err) and err.get("code") == "unknown_portfolio",
            "someone else's / no portfolio → unknown_portfolio",
            str(err),
        )
        await ws.send(json.dumps({"action": "auth", "token": other["access_token"]}))
        frames, code = await close_info(ws, 5)
        check(code == 4401, "another user's token on the same socket → 4401", f"{code} {frames}")
    if data_dir is not None and (data_dir / "jwt_secret").is_file():
        secret = (data_dir / "jwt_secret").read_text().strip()
        claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
        claims["exp"] = int(time.time()) + 3
        short = jwt.encode(claims, secret, algorithm="HS256")
        async with connect(url, ping_interval=None) as ws:
            await ws.send(json.dumps({"action": "auth", "token": short}))
            ok = await recv_until(ws, lambda f: f.get("type") == "authenticated", 5)
            check(bool(ok), "short-lived token accepted", str(ok))
            started = time.monotonic()
            frames, code = await close_info(ws, 10)
            codes = [f.get("code") for f in frames if f.get("type") == "error"]
            check(
                code == 4401 and "token_expired" in codes,
                f"token expiry closes with 4401 token_expired ({time.monotonic() - started:.1f} s)",
                f"{code} {codes}",
            )
    # Origin.
    try:
        async with connect(
            url.replace("/ws/portfolio", "/ws/prices"),
            ping_interval=None,
            origin="https://evil.example",
        ) as ws:  # type: ignore[arg-type]
            check(False, "a foreign Origin is refused", "the handshake succeeded")
    except websockets.InvalidStatus as exc:
        check(
            exc.response.status_code == 403,
            "a foreign Origin is refused (403)",
            str(exc.response.status_code),
        )
    # Token in the URL must not authenticate.
    async with connect(url + f"?token={pair['access_token']}", ping_interval=None) as ws:
        await ws.send(json.dumps({"action": "subscribe", "portfolio_id": p["id"]}))
        err = await recv_until(ws, lambda f: f.get("type") in ("error", "subscribed"), 3)
        check(bool(err) and err.get("type") == "error", "a token in the URL is ignored", str(err))


async def main_async(args: argparse.Namespace) -> int:
    http = args.url.rstrip("/")
    base = http.replace("http://", "ws://").replace("https://", "wss://")
    async with httpx.AsyncClient(base_url=http, timeout=30) as client:
        r = await client.get("/api/market/coins")
        body = r.json()
        items = body if isinstance(body, list) else body.get("coins") or body.get("items") or []
        coins = [c.get("coin_id") or c.get("id") for c in items]
    note(f"{len(coins)} coins tracked")
    steps = args.only or ["fanout", "analytics", "sentiment", "portfolio"]
    if "fanout" in steps:
        await fanout(base, args.sockets, args.seconds, coins, args.processes)
    if "analytics" in steps:
        await analytics(base)
    if "sentiment" in steps:
        await sentiment(base)
    if "portfolio" in steps:
        await portfolio(base, http, args.data_dir)
    return report.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--sockets", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--processes", type=int, default=4, help="client processes sharing the sockets"
    )
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
