"""Web app figures: gzipped JavaScript the dashboard loads, and time from navigation to the
first live price in headless Chromium on localhost.

    .venv/bin/python bench/frontend.py [--runs 7] [--url http://127.0.0.1:8000]

Needs a built export (`make frontend`). Without --url it starts `cryptodash up --demo` on a
free port with a fresh data dir. Each run opens a fresh browser context (empty cache).

- JS (build): the `<script src>` chunks of `frontend/out/index.html` (and of the other pages'
  `index.html`), gzipped at level 6.
- JS (browser): every script response the page fetched before its first live price, gzipped.
- first price: the app's `cryptodash:first-price` performance mark (navigation start → the
  price table rendered with prices); first change: navigation start → a price on screen moved.
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import clean_env
from _common import demo_server as bench_server

ROOT = Path(__file__).resolve().parents[1]
EXPORT = ROOT / "frontend" / "out"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6))


def build_js(page: str = "index.html") -> tuple[int, int, int]:
    html = (EXPORT / page).read_text()
    # noModule scripts (legacy polyfills) are never loaded by a modern browser.
    sources = sorted(set(re.findall(r'<script src="(/_next/[^"]+\.js)"(?! noModule)', html)))
    raw = [(EXPORT / src.lstrip("/")).read_bytes() for src in sources]
    return len(sources), sum(len(b) for b in raw), sum(gz(b) for b in raw)


@contextmanager
def demo_server() -> Iterator[str]:
    """`cryptodash up --demo` serving this build, with a fresh data dir; yields its URL once
    it lists coins."""
    env = clean_env(
        drop=("JWT_SECRET",),
        CRYPTODASH_FRONTEND_DIR=str(EXPORT),
        CRYPTODASH_RATE_LIMIT_ANON_PER_MIN="100000",
    )
    with (
        tempfile.TemporaryDirectory() as data_dir,
        bench_server(
            Path(data_dir), env, ready=lambda _http, coins: bool(coins), timeout=60, poll=0.1
        ) as server,
    ):
        yield server.base


CHANGED = """(before) => {
    const now = [...document.querySelectorAll('tbody [data-testid^=price-]')].map(e => e.innerText);
    return now.length > 0 && now.some((text, i) => text !== before[i]);
}"""


def browser_runs(url: str, runs: int) -> tuple[list[float], list[float], list[int]]:
    from playwright.sync_api import sync_playwright

    firsts: list[float] = []
    changes: list[float] = []
    js_sizes: list[int] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        for _ in range(runs + 1):  # the first run warms the server and is dropped
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            scripts: list[object] = []
            page.on(
                "response",
                lambda r, scripts=scripts: (
                    scripts.append(r) if r.request.resource_type == "script" else None
                ),
            )
            page.goto(url + "/")
            page.wait_for_function(
                "() => performance.getEntriesByName('cryptodash:first-price').length > 0",
                timeout=30_000,
            )
            first = page.evaluate(
                "() => performance.getEntriesByName('cryptodash:first-price')[0].startTime"
            )
            before = page.locator("tbody [data-testid^=price-]").all_inner_texts()
            page.wait_for_function(CHANGED, arg=before, timeout=30_000)
            changed = page.evaluate("() => performance.now()")
            js = sum(gz(r.body()) for r in scripts)  # type: ignore[attr-defined]
            context.close()
            firsts.append(first)
            changes.append(changed)
            js_sizes.append(js)
        browser.close()
    return firsts[1:], changes[1:], js_sizes[1:]


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.0f} ms "
        f"(min {min(values):.0f}, max {max(values):.0f}; {len(values)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--url", help="an already running server instead of a fresh demo")
    args = parser.parse_args()
    if not (EXPORT / "index.html").is_file():
        raise SystemExit("no build: run `make frontend` first")
    count, raw, packed = build_js()
    print(
        f"dashboard JS (build): {count} scripts, {raw / 1024:.0f} KiB raw, "
        f"{packed / 1024:.1f} KiB gzipped"
    )
    for page in ("coin", "analytics", "sentiment", "settings", "portfolio", "watchlist"):
        if (EXPORT / page / "index.html").is_file():
            count, raw, packed = build_js(f"{page}/index.html")
            print(
                f"/{page}/ JS (build): {count} scripts, {raw / 1024:.0f} KiB raw, "
                f"{packed / 1024:.1f} KiB gzipped"
            )
    if args.url:
        firsts, changes, js = browser_runs(args.url.rstrip("/"), args.runs)
    else:
        with demo_server() as url:
            firsts, changes, js = browser_runs(url, args.runs)
    print(f"dashboard JS (browser, to first price): {statistics.median(js) / 1024:.1f} KiB gzipped")
    print(f"navigation → first price:  {summary(firsts)}")
    print(f"navigation → first change: {summary(changes)}")


if __name__ == "__main__":
    main()
