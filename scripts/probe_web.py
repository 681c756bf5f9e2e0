"""Black-box browser probe of a running cryptodash (issue 10's "Done when"): headless Chromium
driven as a first-time visitor — by what the page shows (labels, roles, text), never by the
app's source.

    cryptodash up --demo --port 8765 --data-dir /tmp/probe-data &
    .venv/bin/python scripts/probe_web.py --url http://127.0.0.1:8765

Checks: the dashboard shows prices that change and the "Simulated data" notice; a new user
registers through the form by its labels, signs out and logs in again; the coin page draws its
chart; the theme switch is remembered after a reload; a 375 px wide screen is usable (no
sideways scrolling, prices visible); and over the whole visit no console error, no page error,
no failed request and no 4xx/5xx response. Measures navigation → first price on screen (own
MutationObserver, and the app's `cryptodash:first-price` mark when it sets one) and the
gzipped JavaScript the dashboard loaded. Exit status 1 when something was found.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import re
import secrets
import statistics
import sys
import time
from typing import Any
from urllib.parse import quote

from _browser import launch_chromium, submit_login
from _report import Report
from playwright.sync_api import Browser, BrowserContext, Page, Response, sync_playwright

PRICE = r"\$\s?\d[\d,]*(\.\d+)?"
# Records when a price first appears in a table cell (ms after navigation start).
FIRST_PRICE_OBSERVER = """
(() => {
  const price = /\\$\\s?\\d[\\d,]*\\.\\d+/;
  const look = () => {
    if (window.__probeFirstPrice) return true;
    for (const cell of document.querySelectorAll('td, [role="cell"], [role="gridcell"]')) {
      if (price.test(cell.textContent || '')) {
        window.__probeFirstPrice = performance.now();
        return true;
      }
    }
    return false;
  };
  new MutationObserver((_, observer) => { if (look()) observer.disconnect(); })
    .observe(document, { subtree: true, childList: true, characterData: true });
})();
"""

report = Report()
check = report.check
note = report.note


class Watch:
    """Everything that went wrong in a context: console errors, page errors, failed requests
    and error responses."""

    def __init__(self, context: BrowserContext) -> None:
        self.problems: list[str] = []
        self.scripts: dict[str, bytes] = {}
        self.aborted = 0
        context.on("page", self.attach)
        for page in context.pages:
            self.attach(page)

    def attach(self, page: Page) -> None:
        page.on(
            "console",
            lambda m: (
                self.problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None
            ),
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", self.failed)
        page.on("response", self.response)

    def failed(self, request: Any) -> None:
        # ERR_ABORTED is the page's own doing, not a failure: a navigation cancels what the
        # page still had in flight (the visitor clicked on), and Chromium reports every HEAD
        # fetch as aborted over CDP even when it resolved with 200 (the same against
        # `python -m http.server`; Next's export-mode prefetch sends one per link). Counted.
        if "ERR_ABORTED" in (request.failure or ""):
            self.aborted += 1
            return
        self.problems.append(f"request failed: {request.method} {request.url} {request.failure}")

    def summary(self) -> str:
        return "; ".join(self.problems[:6])

    def response(self, response: Response) -> None:
        if response.status >= 400:
            method = response.request.method
            self.problems.append(f"HTTP {response.status}: {method} {response.url}")
        if response.request.resource_type == "script":
            with contextlib.suppress(Exception):  # a body no longer there (navigation)
                self.scripts[response.url] = response.body()


def price_texts(page: Page) -> list[str]:
    texts: list[str] = page.eval_on_selector_all("tr", "rows => rows.map(r => r.textContent || '')")
    return [t for t in texts if re.search(PRICE, t)]


def dashboard(browser: Browser, base: str, runs: int) -> None:
    print("\n== Dashboard: live prices, demo notice, first price, JavaScript")
    firsts: list[float] = []
    marks: list[float] = []
    js_gz: list[int] = []
    for run in range(runs):
        context = browser.new_context()
        context.add_init_script(FIRST_PRICE_OBSERVER)
        watch = Watch(context)
        page = context.new_page()
        page.goto(base + "/", wait_until="commit")
        page.wait_for_function("() => window.__probeFirstPrice", timeout=15_000)
        firsts.append(page.evaluate("() => window.__probeFirstPrice"))
        mark = page.evaluate(
            "() => (performance.getEntriesByName('cryptodash:first-price')[0] || {}).startTime"
        )
        if mark:
            marks.append(mark)
        if run == 0:
            page.wait_for_load_state("networkidle")
            notice = page.get_by_text(re.compile("simulated data", re.I))
            check(notice.count() > 0 and notice.first.is_visible(), "'Simulated data' is visible")
            before = price_texts(page)
            check(len(before) >= 5, f"the price table lists coins ({len(before)} with a price)")
            changed = False
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not changed:
                page.wait_for_timeout(500)
                changed = price_texts(page) != before
            check(changed, "prices change on screen without a reload", "no change in 15 s")
            search = page.get_by_role("searchbox")
            if search.count() == 0:
                search = page.get_by_placeholder(re.compile("search", re.I))
            if check(search.count() > 0, "a search box"):
                search.first.fill("eth")
                page.wait_for_timeout(400)
                rows = price_texts(page)
                check(
                    0 < len(rows) < len(before) and all("eth" in r.lower() for r in rows),
                    "searching 'eth' narrows the list to matching coins",
                    f"{len(rows)} rows: {[r[:30] for r in rows[:4]]}",
                )
                search.first.fill("")
            sortable = page.get_by_role("button", name=re.compile("24h|change", re.I))
            if sortable.count():
                sortable.first.click()
                page.wait_for_timeout(300)
                check(bool(price_texts(page)), "sorting by change keeps the rows")
        page.wait_for_timeout(300)
        js_gz.append(sum(len(gzip.compress(b, 6)) for b in watch.scripts.values()))
        check(not watch.problems, f"dashboard load {run + 1}: no errors", watch.summary())
        context.close()
    note(
        f"navigation → first price on screen: median {statistics.median(firsts):.0f} ms "
        f"(runs: {', '.join(f'{x:.0f}' for x in firsts)})"
    )
    if marks:
        note(f"app mark cryptodash:first-price: median {statistics.median(marks):.0f} ms")
    check(statistics.median(firsts) < 1000, "first live price under 1 s (median)")
    note(f"gzipped JavaScript loaded by the dashboard: {statistics.median(js_gz) / 1024:.1f} KiB")


def account(browser: Browser, base: str) -> None:
    print("\n== Register through the form, sign out, log in")
    context = browser.new_context()
    watch = Watch(context)
    page = context.new_page()
    page.goto(base + "/")
    link = page.get_by_role("link", name=re.compile("register|sign up|create account", re.I))
    if not check(link.count() > 0, "a way to register from the dashboard"):
        page.goto(base + "/register/")
    else:
        link.first.click()
    page.wait_for_url(re.compile("register"))
    name = f"newbie_{secrets.token_hex(3)}"
    password = "a-long-password-" + secrets.token_hex(3)
    # Inline validation first: a too-short password.
    page.get_by_label(re.compile("user ?name", re.I)).fill(name)
    page.get_by_label(re.compile("e-?mail", re.I)).fill(f"{name}@example.com")
    password_fields = page.get_by_label(re.compile("password", re.I))
    password_fields.first.fill("short")
    page.get_by_role("button", name=re.compile("register|sign up|create", re.I)).click()
    page.wait_for_timeout(500)
    check(
        page.get_by_text(re.compile("10 characters|at least 10", re.I)).count() > 0,
        "a short password is explained inline",
    )
    for i in range(password_fields.count()):
        password_fields.nth(i).fill(password)
    page.get_by_role("button", name=re.compile("register|sign up|create", re.I)).click()
    try:
        page.get_by_text(name).first.wait_for(timeout=10_000)
        signed_in = True
    except Exception:
        signed_in = False
    check(signed_in, "after registering the user is signed in (their name shows)", page.url)
    # A duplicate name shows the server's message.
    out = page.get_by_role("button", name=re.compile("sign out|log ?out", re.I))
    if check(out.count() > 0, "a sign-out button"):
        out.first.click()
        page.wait_for_timeout(500)
    page.goto(base + "/register/")
    page.get_by_label(re.compile("user ?name", re.I)).fill(name)
    page.get_by_label(re.compile("e-?mail", re.I)).fill(f"other_{name}@example.com")
    fields = page.get_by_label(re.compile("password", re.I))
    for i in range(fields.count()):
        fields.nth(i).fill(password)
    page.get_by_role("button", name=re.compile("register|sign up|create", re.I)).click()
    page.wait_for_timeout(1500)
    check(
        page.get_by_text(re.compile("taken|exists|already", re.I)).count() > 0,
        "registering a taken name shows the server's message",
    )
    # The 409 of that attempt is expected: not counted as a problem.
    watch.problems = [p for p in watch.problems if "409" not in p and "Conflict" not in p]
    page.goto(base + "/login/")
    submit_login(page, name, "wrong-password-123")
    page.wait_for_timeout(1500)
    check(
        page.get_by_text(re.compile("invalid|incorrect|wrong", re.I)).count() > 0,
        "a wrong password shows an error",
    )
    watch.problems = [p for p in watch.problems if "401" not in p]
    submit_login(page, name, password)
    try:
        page.get_by_text(name).first.wait_for(timeout=10_000)
        ok = True
    except Exception:
        ok = False
    check(ok, "logging in with the new account works", page.url)
    page.reload()
    page.wait_for_timeout(1500)
    check(page.get_by_text(name).count() > 0, "the session survives a reload")
    check(not watch.problems, "no errors while registering and logging in", watch.summary())
    context.close()


def redirects(browser: Browser, base: str) -> None:
    print("\n== Login ?next= stays on this site")
    context = browser.new_context()
    page = context.new_page()
    name = f"redir_{secrets.token_hex(3)}"
    password = "a-long-password-" + secrets.token_hex(3)
    page.request.post(
        base + "/api/users/register",
        data={"username": name, "email": f"{name}@example.com", "password": password},
    )
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    for target in (
        "//evil.example/x",
        "https://evil.example/x",
        "/\\evil.example/x",
        "/%2F%2Fevil.example",
        "javascript:alert(1)",
        "/coin/?id=bitcoin",
    ):
        context.clear_cookies()
        page.goto(base + "/login/?next=" + quote(target, safe=""))
        submit_login(page, name, password)
        page.wait_for_timeout(2000)
        landed = page.url
        check(
            landed.startswith(base + "/") and not dialogs,
            f"next={target!r} lands on this site", f"{landed} dialogs {dialogs}",
        )  # fmt: skip
        if target.startswith("/coin"):
            check("/coin/" in landed, "a same-site next= is followed", landed)
        out = page.get_by_role("button", name=re.compile("sign out|log ?out", re.I))
        if out.count():
            out.first.click()
            page.wait_for_timeout(300)
    context.close()


def coin_page(browser: Browser, base: str) -> None:
    print("\n== Coin page")
    context = browser.new_context()
    watch = Watch(context)
    page = context.new_page()
    page.goto(base + "/")
    link = page.get_by_role("link", name=re.compile("bitcoin", re.I))
    if check(link.count() > 0, "the dashboard links to Bitcoin"):
        link.first.click()
    else:
        page.goto(base + "/coin/?id=bitcoin")
    page.wait_for_url(re.compile("coin"))
    page.wait_for_timeout(3000)
    drawn = page.evaluate(
        """() => [...document.querySelectorAll('canvas')].filter(c => {
              if (c.width < 50 || c.height < 50) return false;
              const ctx = c.getContext('2d');
              if (!ctx) return false;
              const data = ctx.getImageData(0, 0, c.width, c.height).data;
              const colours = new Set();
              for (let i = 0; i < data.length; i += 4 * 97)
                colours.add(data[i] << 16 | data[i + 1] << 8 | data[i + 2]);
              return colours.size > 3;
           }).length"""
    )
    check(drawn > 0, f"the chart draws ({drawn} canvases with content)")
    buttons = page.get_by_role("button", name=re.compile("^(1m|5m|15m|1h|4h|1d)$", re.I))
    check(buttons.count() >= 4, f"timeframe buttons ({buttons.count()})")
    if buttons.count():
        buttons.last.click()
        page.wait_for_timeout(1500)
    for name in ("RSI", "MACD"):
        toggle = page.get_by_label(re.compile(name, re.I))
        if toggle.count() == 0:
            toggle = page.get_by_role("button", name=re.compile(name, re.I))
        if toggle.count():
            toggle.first.click()
            page.wait_for_timeout(800)
    check(bool(re.search(PRICE, page.inner_text("body"))), "the coin page shows a price")
    check(not watch.problems, "no errors on the coin page", "; ".join(watch.problems[:6]))
    page.goto(base + "/coin/?id=not-a-coin")
    page.wait_for_timeout(2000)
    body = page.inner_text("body").lower()
    check(
        "not found" in body or "unknown" in body or "no such" in body,
        "an unknown coin says so",
        body[:200],
    )
    context.close()


def theme(browser: Browser, base: str) -> None:
    print("\n== Theme switch remembered")
    context = browser.new_context()
    watch = Watch(context)
    page = context.new_page()
    page.goto(base + "/")
    background = "() => getComputedStyle(document.body).backgroundColor"
    before = page.evaluate(background)
    switch = page.get_by_role("button", name=re.compile("theme|dark|light", re.I))
    if switch.count() == 0:
        switch = page.get_by_role("switch", name=re.compile("theme|dark|light", re.I))
    if not check(switch.count() > 0, "a theme switch"):
        context.close()
        return
    switch.first.click()
    page.wait_for_timeout(400)
    after = page.evaluate(background)
    check(after != before, "the theme changes", f"{before} → {after}")
    page.reload()
    page.wait_for_timeout(800)
    check(page.evaluate(background) == after, "the choice survives a reload")
    page.goto(base + "/login/")
    check(page.evaluate(background) == after, "and applies on another page")
    check(not watch.problems, "no errors", "; ".join(watch.problems[:5]))
    context.close()


def phone(browser: Browser, base: str) -> None:
    print("\n== 375 px wide")
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True,
                                  has_touch=True)  # fmt: skip
    watch = Watch(context)
    page = context.new_page()
    for path in ("/", "/coin/?id=ethereum", "/login/", "/register/"):
        page.goto(base + path)
        page.wait_for_timeout(2000)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        check(width <= 376, f"{path}: no sideways scrolling", f"scrollWidth {width}")
        if path == "/":
            check(bool(price_texts(page)) or bool(re.search(PRICE, page.inner_text("body"))),
                  "/: prices visible")  # fmt: skip
            notice = page.get_by_text(re.compile("simulated data", re.I))
            check(notice.count() > 0 and notice.first.is_visible(), "/: demo notice visible")
            nav = page.get_by_role("link", name=re.compile("log ?in|sign in", re.I))
            menu = page.get_by_role("button", name=re.compile("menu|navigation", re.I))
            check(
                (nav.count() > 0 and nav.first.is_visible()) or menu.count() > 0,
                "/: the way to sign in is reachable",
            )
        if path in ("/login/", "/register/"):
            field = page.get_by_label(re.compile("password", re.I)).first
            box = field.bounding_box()
            check(bool(box) and box["x"] >= 0 and box["x"] + box["width"] <= 376,
                  f"{path}: the form fits")  # fmt: skip
    check(not watch.problems, "no errors at 375 px", "; ".join(watch.problems[:5]))
    context.close()


def keyboard(browser: Browser, base: str) -> None:
    print("\n== Keyboard")
    context = browser.new_context()
    page = context.new_page()
    page.goto(base + "/")
    page.keyboard.press("Tab")
    focused: Any = page.evaluate("() => document.activeElement?.textContent")
    check(bool(focused and focused.strip()), "the first Tab focuses something named", str(focused))
    context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--runs", type=int, default=5, help="dashboard loads to time")
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    base = args.url.rstrip("/")
    steps = {
        "dashboard": lambda b: dashboard(b, base, args.runs),
        "account": lambda b: account(b, base),
        "redirects": lambda b: redirects(b, base),
        "coin": lambda b: coin_page(b, base),
        "theme": lambda b: theme(b, base),
        "phone": lambda b: phone(b, base),
        "keyboard": lambda b: keyboard(b, base),
    }
    with sync_playwright() as p:
        browser = launch_chromium(p)
        for name, step in steps.items():
            if args.only and name not in args.only:
                continue
            try:
                step(browser)
            except Exception as exc:  # a step that could not go on is a finding
                check(False, f"{name}: the visit could not go on", repr(exc)[:300])
        browser.close()
    sys.exit(report.finish())


if __name__ == "__main__":
    main()
