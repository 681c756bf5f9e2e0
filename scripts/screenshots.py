"""Screenshots of every main page for the README (`docs/screenshots/*.png`).

Starts `cryptodash up --demo` on a free port with a fresh data directory, registers a user with a
portfolio and a watchlist through the API, signs in through the login form in headless Chromium
(Debian's `/usr/bin/chromium`) and photographs each page once its data has arrived.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--theme dark|light]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _browser import launch_chromium, sign_in
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "screenshots-password-1"  # noqa: S105 - a throwaway demo account
PAGES = [
    ("dashboard", "/", "Market"),
    ("coin", "/coin/?id=bitcoin", "Bitcoin"),
    ("analytics", "/analytics/", "Correlation"),
    ("sentiment", "/sentiment/", "Sentiment"),
    ("portfolio", "/portfolio/", "Allocation"),
    ("watchlist", "/watchlist/", "Watchlist"),
    ("settings", "/settings/", "Settings"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(port: int, data_dir: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CRYPTODASH_SENTIMENT_MODEL": "vader", "CRYPTODASH_LOG_LEVEL": "WARNING"}
    cli = str(Path(sys.executable).with_name("cryptodash"))
    command = [cli, "up", "--demo", "--port", str(port)]
    process = subprocess.Popen([*command, "--data-dir", data_dir], env=env, cwd=ROOT)  # noqa: S603
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            coins = httpx.get(f"http://127.0.0.1:{port}/api/market/coins", timeout=2).json()
            if all(c.get("price") is not None for c in coins.get("coins", [])):
                return process
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit("the demo server did not price its coins within 90 s")


def seed_account(base: str) -> str:
    """A user with a portfolio of three coins and a watchlist; returns the username."""
    name = f"demo_{int(time.time())}"
    with httpx.Client(base_url=base, timeout=20) as client:
        body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        client.post("/api/users/register", json=body).raise_for_status()
        login = client.post("/api/users/login", json={"username": name, "password": PASSWORD})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        prices = {c["coin_id"]: c["price"] for c in client.get("/api/market/coins").json()["coins"]}
        created = client.post("/api/portfolio", json={"name": "Long term"}, headers=headers)
        created.raise_for_status()
        portfolio = created.json()["id"]
        for coin, quantity in (("bitcoin", "0.5"), ("ethereum", "4"), ("solana", "60")):
            trade = {
                "coin_id": coin,
                "side": "buy",
                "quantity": quantity,
                "price": f"{prices[coin] * 0.9:.2f}",
                "fee": "1.50",
            }
            client.post(
                f"/api/portfolio/{portfolio}/transactions", json=trade, headers=headers
            ).raise_for_status()
        for coin in ("bitcoin", "ethereum", "cardano", "dogecoin"):
            client.post("/api/watchlist", json={"coin_id": coin}, headers=headers)
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--theme", choices=("dark", "light"), default="dark")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(port, data_dir)
        try:
            name = seed_account(base)
            with sync_playwright() as p:
                browser = launch_chromium(p)
                context = browser.new_context(
                    viewport={"width": 1360, "height": 900}, color_scheme=args.theme
                )
                page = context.new_page()
                sign_in(page, base, name, PASSWORD)
                for slug, path, text in PAGES:
                    page.goto(base + path)
                    page.get_by_text(text).first.wait_for(timeout=20_000)
                    page.wait_for_load_state("networkidle")
                    page.wait_for_timeout(2500)  # charts draw, live values arrive
                    target = args.out / f"{slug}.png"
                    page.screenshot(path=str(target), full_page=False)
                    print(target.relative_to(ROOT))
                browser.close()
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
