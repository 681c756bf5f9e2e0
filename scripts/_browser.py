"""What the browser scripts share: Debian's Chromium under Playwright, and signing in through
the login form as a visitor would (by its labels and the button's name).

The scripts run as `.venv/bin/python scripts/X.py`, so this folder is on `sys.path` and they
import it as `_browser`.
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = "/usr/bin/chromium"  # Debian's (`make chromium`), never `playwright install`
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


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Chromium with nothing of its own on the network (no QUIC, no background
    fetches), so every request the page makes is the page's."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def submit_login(page: Page, name: str, password: str) -> None:
    """Fill the login form on the current page (user name or e-mail, password) and press its
    button; waits for nothing."""
    page.get_by_label(re.compile("user ?name|e-?mail", re.I)).first.fill(name)
    page.get_by_label(re.compile("password", re.I)).first.fill(password)
    page.get_by_role("button", name=re.compile("log ?in|sign in", re.I)).click()


def sign_in(page: Page, base: str, name: str, password: str, timeout: float = 15_000) -> None:
    """Sign in at `base`/login/ and wait until the page shows the user's name (ms)."""
    page.goto(base + "/login/")
    submit_login(page, name, password)
    page.get_by_text(name).first.wait_for(timeout=timeout)
