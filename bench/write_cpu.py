"""CPU per portfolio write, and per performance read after it: the app called in-process (no
sockets), timed with the event-loop thread's CPU clock (`time.thread_time`), as
`bench/api_cpu.py` does for cached reads.

    .venv/bin/python bench/write_cpu.py [--writes 1000] [--portfolios 32] [--rounds 3]

One user with `--portfolios` portfolios; each round adds `--writes` transactions spread over
them (a buy, then a sell of it, like `bench/api_load.py`'s writes), each followed by the
portfolio's `/performance`, which the write made stale: the app computes it (the edge's kept
answer no longer holds). Prints ms of CPU per write and per performance read, round by
round: the portfolios grow by `writes / portfolios` transactions a round, so a cost that grows
with a portfolio's history shows. SQLite in a temporary directory, in-process cache, prices
set in the cache (no exchange), the access log at the production settings (INFO, sampled).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from _common import http_scope

COINS = ("bitcoin", "ethereum", "solana")
PASSWORD = "write-bench-password-1"  # noqa: S105 - a bench user
BUY = b'{"coin_id":"bitcoin","side":"buy","quantity":"0.001","price":"50000"}'
SELL = b'{"coin_id":"bitcoin","side":"sell","quantity":"0.001","price":"50000"}'


async def request(
    app: Any, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, bytes]:
    """One request to the ASGI `app`: its status and body."""
    scope = http_scope(target, [(b"host", b"bench"), *headers])
    scope["method"] = method
    if body:
        scope["headers"] += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
    given = False

    async def receive() -> dict[str, Any]:
        nonlocal given
        if given:  # the app asks again only to watch for a disconnect
            await asyncio.Event().wait()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    status, chunks = 0, []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def main(writes: int, portfolios: int, rounds: int) -> None:
    from cryptodash.app import create_app
    from cryptodash.config import Settings
    from cryptodash.market import service as market
    from cryptodash.platform.logging import configure_logging

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    real = sys.stdout
    with open(os.devnull, "w") as null:  # noqa: ASYNC230 - once, before anything runs
        sys.stderr = null
        configure_logging(service="bench", level="INFO", json=True)
        nowhere = "http://127.0.0.1:9"  # no exchange or news source: nothing else runs
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                data_dir=Path(tmp),
                coins=",".join(COINS),
                rate_limit_user_per_min=10**9,
                rate_limit_auth_per_min=10**9,
                binance_rest_url=nowhere,
                binance_ws_url=nowhere.replace("http", "ws"),
                coinbase_rest_url=nowhere,
                coinbase_ws_url=nowhere.replace("http", "ws"),
                news_sources="",
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                platform = app.state.platform
                await platform.schema_ready.wait()
                quote = orjson.dumps({"price": 50000, "change_24h_pct": 1.0})
                for coin in COINS:
                    await platform.cache.set(market.price_key(coin), quote, 3600)
                user = {"username": "bench", "email": "b@example.com", "password": PASSWORD}
                status, _ = await request(
                    app, "POST", "/api/users/register", [], orjson.dumps(user)
                )
                assert status == 201, status
                login = {"username": "bench", "password": PASSWORD}
                status, body = await request(
                    app, "POST", "/api/users/login", [], orjson.dumps(login)
                )
                assert status == 200, body
                token = orjson.loads(body)["access_token"]
                auth = [(b"authorization", f"Bearer {token}".encode())]
                ids = []
                for n in range(portfolios):
                    name = orjson.dumps({"name": f"p{n}"})
                    status, body = await request(app, "POST", "/api/portfolio", auth, name)
                    assert status == 201, body
                    ids.append(orjson.loads(body)["id"])
                done = 0
                lines = []
                for round_ in range(rounds + 1):  # the first warms up
                    write_cpu = read_cpu = 0.0
                    for n in range(writes):
                        pid = ids[(done + n) % portfolios]
                        body = BUY if (done + n) // portfolios % 2 == 0 else SELL
                        began = time.thread_time()
                        target = f"/api/portfolio/{pid}/transactions"
                        status, answer = await request(app, "POST", target, auth, body)
                        wrote = time.thread_time()
                        assert status == 201, answer
                        target = f"/api/portfolio/{pid}/performance"
                        status, answer = await request(app, "GET", target, auth)
                        read = time.thread_time()
                        assert status == 200, answer
                        write_cpu += wrote - began
                        read_cpu += read - wrote
                    done += writes
                    if round_:
                        lines.append(
                            f"round {round_}: {1000 * write_cpu / writes:.3f} ms per write, "
                            f"{1000 * read_cpu / writes:.3f} ms per performance read after it "
                            f"({done // portfolios} transactions per portfolio at the end)"
                        )
        sys.stderr = sys.__stderr__
    for line in lines:
        print(line, file=real)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=1000, help="writes per round")
    parser.add_argument("--portfolios", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.writes, args.portfolios, args.rounds))
