"""The web app's WebSocket client in a real browser, against a stand-in `/ws/prices` that
speaks the documented protocol (issue 9 builds the real one): subscribe on connect, prices
patched live, status "Live", and resubscribe after the server drops the socket."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from cryptodash.gateway.frontend import serve_frontend
from tests.helpers import free_port
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, EXPORT

pytestmark = pytest.mark.e2e

T0 = "2025-01-01T00:00:00.000Z"
COINS = [
    {
        "coin_id": coin_id,
        "symbol": symbol,
        "name": name,
        "price": price,
        "change_24h_pct": 1.5,
        "volume_24h": 10.0,
        "high_24h": price * 1.1,
        "low_24h": price * 0.9,
        "updated_at": "2025-01-01T00:00:00.000Z",
        "sources": {
            "simulator": {"price": price, "quote": "USD", "updated_at": "2025-01-01T00:00:00.000Z"}
        },
    }
    for coin_id, symbol, name, price in [
        ("bitcoin", "BTC", "Bitcoin", 100.0),
        ("ethereum", "ETH", "Ethereum", 10.0),
    ]
]


class StandIn:
    """A server with just what the dashboard calls, and a scripted /ws/prices."""

    def __init__(self) -> None:
        self.subscriptions: list[dict[str, Any]] = []
        # Set by the test once it saw the first connection's last price: on a slow machine
        # the drop came before the browser's text was checked.
        self.drop_first = threading.Event()
        self.app = FastAPI()
        self.app.add_api_route("/api/meta", self.meta)
        self.app.add_api_route("/api/market/coins", lambda: {"coins": COINS})
        self.app.add_api_route("/api/market/{coin_id}/candles", self.candles)
        self.app.add_api_websocket_route("/ws/prices", self.prices)
        serve_frontend(self.app, EXPORT)

    @staticmethod
    def meta() -> dict[str, Any]:
        return {
            "demo": True,
            "version": "test",
            "services": ["market"],
            "streams": ["prices"],
            "exchanges": [],
        }

    @staticmethod
    def candles(coin_id: str) -> dict[str, Any]:
        return {
            "coin_id": coin_id,
            "interval": "1h",
            "source": "simulator",
            "quote": "USD",
            "candles": [],
        }

    async def prices(self, websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            self.subscriptions.append(await websocket.receive_json())
            connection = len(self.subscriptions)
            # The first connection sends three prices and drops once the test saw them; the second
            # keeps going.
            for step in range(3 if connection == 1 else 200):
                price = 1000.0 * connection + step
                await websocket.send_json(
                    {
                        "type": "price_update",
                        "coin_id": "bitcoin",
                        "price": price,
                        "timestamp": f"2030-01-01T00:{connection:02d}:{step % 60:02d}.000Z",
                        "change_24h": 2.5,
                        "source": "simulator",
                    }
                )
                await asyncio.sleep(0.1)
            if connection == 1:  # the server runs in another thread than the test
                await asyncio.to_thread(self.drop_first.wait, 30)
            await websocket.close()
        except WebSocketDisconnect:
            pass


@pytest.fixture(scope="module")
def stand_in() -> Iterator[tuple[str, StandIn]]:
    assert (EXPORT / "index.html").is_file(), "build the web app first: make frontend"
    server_app = StandIn()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(server_app.app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", server_app
    server.should_exit = True
    thread.join(10)


def test_prices_stream_over_the_socket_and_it_resubscribes(stand_in: tuple[str, StandIn]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, server = stand_in
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url + "/")
        expect(page.get_by_test_id("stream-status")).to_have_text("Live")
        expect(page.get_by_test_id("price-bitcoin")).to_have_text("$1,002.00")
        server.drop_first.set()
        # Dropped after three frames: reconnects with backoff, subscribes again, moves on.
        expect(page.get_by_test_id("price-bitcoin")).to_have_text(
            re.compile(r"^\$2,0\d\d\.00$"), timeout=10_000
        )
        expect(page.get_by_test_id("stream-status")).to_have_text("Live")
        expect(page.get_by_test_id("price-ethereum")).to_have_text("$10.00")
        browser.close()
    assert server.subscriptions[:2] == [{"action": "subscribe", "coins": ["*"]}] * 2
    assert errors == []
