"""The portfolio and watchlist pages in a real headless Chromium against a real
`cryptodash up --demo` (the fixtures of `test_browser.py`): a new user registers from the
portfolio page's prompt, creates a portfolio, adds a buy through the form by its labels, sees the
figures and allocation move with the market, edits and deletes it, imports a CSV with a bad row,
exports; the watchlist follows live prices of exactly its coins. No console errors, no 404s.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.web import test_browser as shared
from tests.web.test_browser import Page

# The server, browser and tab of the main browser suite (a module-scoped server per module).
base_url = shared.base_url
browser = shared.browser
market = shared.market
tab = shared.tab

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


def _register_from_prompt(tab: Page, path: str) -> str:
    """Open `path` signed out, follow its prompt to register, land back on `path`."""
    from playwright.sync_api import expect

    page = tab.page
    username = f"pf_{uuid.uuid4().hex[:8]}"
    page.goto(path)
    prompt = page.get_by_test_id("sign-in-prompt")
    expect(prompt).to_be_visible()
    prompt.get_by_role("link", name="Create an account").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_test_id("signed-in-user")).to_have_text(username)
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    return username


def _expected_refusals(tab: Page, base_url: str, *paths: str) -> None:
    """Chromium logs every 4xx answer as a console error: the 422s this test provokes on
    purpose are dropped (each path at most once), anything else stays and fails the test."""
    for path in paths:
        pattern = re.compile(r"status of 422 .*at " + re.escape(base_url) + path)
        hits = [error for error in tab.errors if pattern.search(error)]
        assert len(hits) <= 1, tab.errors
        if hits:
            tab.errors.remove(hits[0])


def _money(text: str) -> str:
    assert re.fullmatch(r"[\u2212+]?\$[\d,]+\.\d{2}", text), text
    return text


def test_portfolio_from_registration_to_export(tab: Page, base_url: str, market: str) -> None:
    from playwright.sync_api import expect

    page = tab.page
    not_found: list[str] = []
    page.on("response", lambda r: not_found.append(r.url) if r.status == 404 else None)
    portfolio_frames: list[str] = []
    page.on(
        "websocket",
        lambda ws: (
            ws.on("framesent", lambda payload: portfolio_frames.append(str(payload)))
            if ws.url.endswith("/ws/portfolio")
            else None
        ),
    )
    _register_from_prompt(tab, "/portfolio/")

    # Empty state: the first portfolio.
    page.get_by_label("Portfolio name").fill("Long term")
    page.get_by_role("button", name="Create portfolio").click()
    expect(page.get_by_label("Portfolio", exact=True)).to_have_value(re.compile(r"^\d+$"))
    expect(page.get_by_text("No transactions yet")).to_be_visible()

    # Client-side checks of the decimal inputs, then a refusal only the server can make (a sell
    # of coins not held) shown next to its field, then the buy.
    page.get_by_role("button", name="+ Add transaction").click()
    form = page.get_by_role("form", name="Add transaction")
    form.get_by_label("Coin", exact=True).select_option(market)
    form.get_by_label("Side").select_option("sell")
    form.get_by_label("Quantity").fill("1e3")
    form.get_by_label("Price per coin (USD)").fill("12,5")
    form.get_by_role("button", name="Add transaction").click()
    expect(form.get_by_text("no exponent")).to_be_visible()
    expect(form.get_by_text("Use a point for decimals")).to_be_visible()
    form.get_by_label("Quantity").fill("0.5")
    form.get_by_label("Price per coin (USD)").fill("100.10")
    form.get_by_role("button", name="Add transaction").click()
    quantity = form.get_by_label("Quantity")
    expect(quantity).to_have_attribute("aria-invalid", "true")
    described = quantity.get_attribute("aria-describedby")
    assert described
    expect(page.locator(f"[id='{described}']")).to_contain_text("cannot go negative")
    form.get_by_label("Side").select_option("buy")
    form.get_by_label("Fee (USD)").fill("1.5")
    form.get_by_role("button", name="Add transaction").click()
    expect(form).to_be_hidden()
    _expected_refusals(tab, base_url, r"/api/portfolio/\d+/transactions\b")

    # Figures, allocation, history and the table.
    row = page.locator("tbody tr[data-testid^=tx-]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("0.5")
    expect(row).to_contain_text("$100.10")
    expect(page.get_by_test_id("figure-cost-basis")).to_have_text("$51.55")  # 0.5 * 100.10 + 1.5
    value = _money(page.get_by_test_id("figure-value").inner_text())
    expect(page.get_by_test_id(f"allocation-{market}")).to_contain_text("100.0%")
    expect(page.get_by_test_id("allocation-pie").locator("path.recharts-sector")).to_have_count(1)
    expect(page.get_by_test_id("history-chart").locator("canvas").first).to_be_visible()
    page.get_by_role("button", name="7D").click()
    expect(page.get_by_role("button", name="7D")).to_have_attribute("aria-pressed", "true")
    # Risk on hourly closes: the demo's day of history is enough to measure.
    page.get_by_role("button", name="Hourly").click()
    expect(page.get_by_role("button", name="Hourly")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("risk-volatility")).to_have_text(re.compile(r"^\d+\.\d%$"))

    # The value moves with the market over /ws/portfolio (the auth frame carries the token).
    expect(page.get_by_test_id("portfolio-live")).to_have_attribute("data-live", "true")
    page.wait_for_function(
        """(before) => document.querySelector('[data-testid=figure-value]').innerText !== before""",
        arg=value,
        timeout=20_000,
    )
    sent = [json.loads(frame) for frame in portfolio_frames]
    assert sent[0]["action"] == "auth"
    assert isinstance(sent[0]["token"], str)
    assert sent[0]["token"]
    assert any(frame.get("action") == "subscribe" for frame in sent)

    # Edit: only the quantity changes.
    page.get_by_role("button", name=re.compile(r"^Edit buy of ")).click()
    edit = page.get_by_role("form", name="Edit transaction")
    edit.get_by_label("Quantity").fill("0.25")
    edit.get_by_role("button", name="Save changes").click()
    expect(edit).to_be_hidden()
    expect(page.get_by_test_id("figure-cost-basis")).to_have_text("$26.53")  # 26.525
    expect(row).to_contain_text("0.25")

    # Delete, with a confirmation.
    page.get_by_role("button", name=re.compile(r"^Delete buy of ")).click()
    page.get_by_role("button", name="Confirm delete").click()
    expect(page.get_by_text("No transactions yet")).to_be_visible()
    expect(page.get_by_test_id("figure-value")).to_have_text("$0.00")

    # CSV import: a bad row names its line and nothing is imported; a good file imports.
    upload = page.get_by_label("CSV file to import")
    bad = (
        "executed_at,coin_id,side,quantity,price,fee\n"
        f"2024-01-05T10:00:00Z,{market},buy,2,100,0\n"
        f"2024-01-06T10:00:00Z,{market},buy,-1,100,0\n"
    )
    upload.set_input_files({"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()})
    page.get_by_role("button", name="Import CSV").click()
    expect(page.get_by_test_id("import-error-line-3")).to_contain_text("quantity")
    expect(page.get_by_test_id("import-error-line-3")).to_contain_text("greater than 0")
    expect(page.get_by_text("No transactions yet")).to_be_visible()
    _expected_refusals(tab, base_url, r"/api/portfolio/\d+/transactions/import")
    good = bad.replace(",-1,", ",1,")
    upload.set_input_files({"name": "good.csv", "mimeType": "text/csv", "buffer": good.encode()})
    page.get_by_role("button", name="Import CSV").click()
    expect(page.get_by_test_id("import-result")).to_contain_text("Imported 2 transactions")
    expect(row).to_have_count(2)
    expect(page.get_by_test_id("figure-cost-basis")).to_have_text("$300.00")

    # Export downloads the same trades.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export CSV").click()
    download = download_info.value
    assert re.fullmatch(r"portfolio-\d+-transactions\.csv", download.suggested_filename)
    path = download.path()
    assert path is not None
    lines = path.read_text().strip().splitlines()
    assert lines[0] == "executed_at,coin_id,side,quantity,price,fee"
    assert len(lines) == 3
    assert all(market in line for line in lines[1:])

    # Rename, then a second portfolio reached from the dashboard's "+ Portfolio".
    page.get_by_role("button", name="Rename").click()
    page.get_by_label("Portfolio name").fill("Renamed")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_label("Portfolio", exact=True).locator("option:checked")).to_have_text(
        "Renamed"
    )
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    quick = page.get_by_test_id(f"row-{market}").get_by_role("link", name=re.compile("portfolio"))
    quick.click()
    expect(page).to_have_url(re.compile(rf"/portfolio/\?add={market}$"))
    form = page.get_by_role("form", name="Add transaction")
    expect(form.get_by_label("Coin", exact=True)).to_have_value(market)
    expect(form.get_by_label("Price per coin (USD)")).not_to_have_value("")
    form.get_by_role("button", name="Cancel").click()
    expect(page).to_have_url(re.compile(r"/portfolio/$"))

    # Delete the portfolio: back to the empty state.
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Delete Renamed").click()
    expect(page.get_by_label("Portfolio name")).to_be_visible()
    assert not_found == []


def test_watchlist_follows_live_prices_of_its_coins(tab: Page, market: str) -> None:
    from playwright.sync_api import expect

    page = tab.page
    subscriptions: list[dict[str, object]] = []

    def watch(ws: object) -> None:
        if ws.url.endswith("/ws/prices"):  # type: ignore[attr-defined]
            ws.on("framesent", lambda payload: subscriptions.append(json.loads(payload)))  # type: ignore[attr-defined]

    page.on("websocket", watch)
    _register_from_prompt(tab, "/watchlist/")
    expect(page.get_by_text("No coins watched yet")).to_be_visible()
    page.get_by_label("Coin to watch").select_option(market)
    page.get_by_role("button", name="Add to watchlist").click()
    price = page.get_by_test_id(f"watch-price-{market}")
    expect(price).to_have_text(re.compile(r"^\$[\d,.]+$"))
    expect(page.get_by_test_id("watchlist-live")).to_have_attribute("data-live", "true")
    before = price.inner_text()
    page.wait_for_function(
        """([id, before]) =>
            document.querySelector(`[data-testid=watch-price-${id}]`).innerText !== before""",
        arg=[market, before],
        timeout=20_000,
    )
    assert {"action": "subscribe", "coins": [market]} in subscriptions
    page.get_by_role("button", name=re.compile(r"^Remove .* from watchlist$")).click()
    expect(page.get_by_text("No coins watched yet")).to_be_visible()
    # The coin is offered again.
    expect(page.get_by_label("Coin to watch").locator(f"option[value={market}]")).to_have_count(1)


def test_portfolio_pages_fit_a_phone_in_light_theme(browser: object, base_url: str) -> None:
    from playwright.sync_api import expect

    phone = Page(browser, base_url, viewport={"width": 375, "height": 800}, color_scheme="light")
    page = phone.page
    for path in ("/portfolio/", "/watchlist/"):
        page.goto(path)
        expect(page.get_by_test_id("sign-in-prompt")).to_be_visible()
        assert not page.evaluate("document.documentElement.classList.contains('dark')")
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    # The prompt's sign-in link returns to the page, query included.
    page.goto("/portfolio/?add=bitcoin")
    href = (
        page.get_by_test_id("sign-in-prompt")
        .get_by_role("link", name="Sign in")
        .get_attribute("href")
    )
    assert href == "/login/?next=%2Fportfolio%2F%3Fadd%3Dbitcoin"
    phone.close_without_errors()
