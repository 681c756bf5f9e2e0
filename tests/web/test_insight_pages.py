"""The analytics, sentiment and settings pages in a real headless Chromium against a real
`cryptodash up --demo` (the fixtures of test_browser.py): the indicator chart and the
correlation heatmap draw and a timeframe change refetches, live values arrive over
/ws/analytics, the sentiment page lists labelled articles with safe links and filters, and
settings persist across a reload and a password change lets the user sign in with the new
password — with no console errors anywhere.
"""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from tests.web.test_browser import Page, base_url, browser, market, tab  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e


def _coins(base: str) -> list[str]:
    return [coin["coin_id"] for coin in httpx.get(f"{base}/api/market/coins").json()["coins"]]


def test_analytics_draws_chart_and_heatmap_and_a_timeframe_change_refetches(
    tab: Page,  # noqa: F811
    base_url: str,  # noqa: F811
    market: str,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    coins = _coins(base_url)
    page = tab.page
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Analytics").click()
    expect(page).to_have_url(re.compile(r"/analytics/$"))
    expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()

    chart = page.get_by_test_id("candle-chart")
    expect(chart.locator("canvas").first).to_be_visible()
    # Overlays and the RSI and MACD panes the explorer picks by default.
    expect(chart).to_have_attribute("aria-label", re.compile(r"with RSI 14 and MACD"))
    heatmap = page.get_by_test_id("correlation-heatmap")
    expect(heatmap).to_be_visible()
    cells = page.get_by_test_id("heatmap-cell")
    expect(cells).to_have_count(len(coins) ** 2)
    # A coin with itself, on the diagonal: the number shown, its meaning for screen readers.
    expect(cells.first.locator("[aria-hidden]")).to_have_text("1.00")
    expect(cells.first).to_have_accessible_name(
        re.compile(r"^(\w+) and \1: 1\.00, strong positive$")
    )
    assert cells.first.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    expect(page.get_by_test_id("volatility-ranking").locator("tbody tr")).to_have_count(len(coins))
    expect(page.get_by_test_id("signals").locator("li")).to_have_count(5)

    # A timeframe change asks the server again, for the chart and for the heatmap.
    timeframe = page.get_by_role("group", name="Timeframe")
    with (
        page.expect_response(
            lambda r: "/indicators?" in r.url and "interval=5m" in r.url and r.status == 200
        ),
        page.expect_response(
            lambda r: "/correlation?" in r.url and "interval=5m" in r.url and r.status == 200
        ),
    ):
        timeframe.get_by_role("button", name="5m", exact=True).click()
    expect(timeframe.get_by_role("button", name="5m", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.locator("[data-interval='5m']").get_by_test_id("candle-chart")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"· 5m$"))).to_be_visible()
    # The heatmap's own controls.
    with page.expect_response(lambda r: "/correlation?" in r.url and "interval=15m" in r.url):
        page.get_by_label("Heatmap timeframe").select_option("15m")
    with page.expect_response(lambda r: "/correlation?" in r.url and "window=60" in r.url):
        page.locator("#correlation-window").select_option("60")
    expect(cells).to_have_count(len(coins) ** 2)

    # Another coin and an indicator pane off.
    page.locator("#analytics-coin").select_option(coins[1])
    page.get_by_label("MACD 12, 26, 9").uncheck()
    expect(chart).to_have_attribute("aria-label", re.compile(r"with RSI 14$"))

    # Live values over /ws/analytics: 1m values change every second in the demo.
    timeframe.get_by_role("button", name="1m", exact=True).click()
    expect(page.get_by_test_id("live-values-badge")).to_have_text("Live", timeout=20_000)


def test_analytics_fits_a_phone(browser: object, base_url: str, market: str) -> None:  # noqa: F811
    from playwright.sync_api import expect

    phone = Page(browser, base_url, viewport={"width": 375, "height": 800})
    page = phone.page
    page.goto("/analytics/")
    expect(page.get_by_test_id("candle-chart").locator("canvas").first).to_be_visible()
    expect(page.get_by_test_id("correlation-heatmap")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.goto("/sentiment/")
    expect(page.get_by_test_id("sentiment-scores")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    phone.close_without_errors()


def _wait_for_articles(base: str) -> list[dict[str, object]]:
    deadline = time.monotonic() + 60
    while True:
        articles = httpx.get(f"{base}/api/sentiment/news?limit=100").json()["articles"]
        if articles:
            return list(articles)
        assert time.monotonic() < deadline, "the demo news source published nothing"
        time.sleep(0.5)


def test_sentiment_shows_scores_and_labelled_articles(
    tab: Page,  # noqa: F811
    base_url: str,  # noqa: F811
    market: str,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    articles = _wait_for_articles(base_url)
    page = tab.page
    page.goto("/sentiment/")
    expect(page.get_by_test_id("sentiment-model")).to_contain_text("vader")
    scores = page.get_by_test_id("sentiment-scores")
    expect(scores.locator("tbody tr")).to_have_count(len(_coins(base_url)))
    expect(scores).to_contain_text(re.compile("[+\u2212]\\d\\.\\d\\d"))  # signed scores
    expect(page.get_by_test_id("scores-live")).to_have_text("Live")
    expect(page.get_by_test_id("sentiment-trend-chart").locator("canvas").first).to_be_visible()

    feed = page.get_by_test_id("article-list")
    items = feed.get_by_test_id("article")
    expect(items.first).to_be_visible()
    labels = set(feed.get_by_test_id("article-label").all_inner_texts())
    assert labels
    assert labels <= {"positive", "negative", "neutral"}
    link = items.first.get_by_role("link")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("href", re.compile(r"^https?://"))

    # Filters: a label (in the browser), a kind and a coin (asked of the server).
    page.locator("#feed-label").select_option("negative")
    expect(items.first.or_(page.get_by_text(re.compile(r"^None of the")))).to_be_visible()
    assert set(page.get_by_test_id("article-label").all_inner_texts()) <= {"negative"}
    page.locator("#feed-label").select_option("all")
    with page.expect_response(lambda r: "/api/sentiment/news?" in r.url and "kind=news" in r.url):
        page.locator("#feed-kind").select_option("news")
    page.locator("#feed-kind").select_option("all")
    coin = next(str(a["coins"][0]) for a in articles if a["coins"])  # type: ignore[index]
    with page.expect_response(lambda r: f"coin_id={coin}" in r.url):
        page.locator("#feed-coin").select_option(coin)
    expect(items.first).to_be_visible()

    # Scores per kind and window.
    with page.expect_response(
        lambda r: "/api/sentiment/overview?" in r.url and "kind=social" in r.url
    ):
        page.get_by_role("group", name="Sources").get_by_role("button", name="Social").click()
    with page.expect_response(
        lambda r: "/api/sentiment/overview?" in r.url and "window=7d" in r.url
    ):
        page.get_by_role("group", name="Window").get_by_role("button", name="7d").click()


def test_settings_persist_and_a_new_password_signs_in(
    tab: Page,  # noqa: F811
    base_url: str,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    username = f"set_{uuid.uuid4().hex[:8]}"
    old, new = "first password 123", "second password 456"
    registered = httpx.post(
        f"{base_url}/api/users/register",
        json={"username": username, "email": f"{username}@example.com", "password": old},
    )
    assert registered.status_code == 201, registered.text
    page = tab.page

    # Signed out: a prompt, and signing in comes back here.
    page.goto("/settings/")
    page.get_by_role("main").get_by_role("link", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/login/\?next=%2Fsettings%2F$"))
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(old)
    # A new account (still on the defaults) takes this browser's theme: light here.
    assert not page.evaluate("document.documentElement.classList.contains('dark')")
    with page.expect_response(
        lambda r: r.url.endswith("/api/users/me/preferences") and r.request.method == "PUT"
    ):
        page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/settings/$"))
    expect(page.get_by_label("Light", exact=True)).to_be_checked()

    dark = page.evaluate("document.documentElement.classList.contains('dark')")
    other = "Light" if dark else "Dark"
    page.get_by_label(other, exact=True).check()
    page.get_by_label("Default timeframe").select_option("4h")
    page.get_by_label("Sentiment alerts").check()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_test_id("preferences-status")).to_have_text("Preferences saved.")
    assert page.evaluate("document.documentElement.classList.contains('dark')") is (not dark)

    page.reload()
    expect(page.get_by_label(other, exact=True)).to_be_checked()
    expect(page.get_by_label("Default timeframe")).to_have_value("4h")
    expect(page.get_by_label("Sentiment alerts")).to_be_checked()
    assert page.evaluate("document.documentElement.classList.contains('dark')") is (not dark)
    token = httpx.post(
        f"{base_url}/api/users/login", json={"username": username, "password": old}
    ).json()["access_token"]
    stored = httpx.get(
        f"{base_url}/api/users/me/preferences", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert (stored["theme"], stored["default_timeframe"]) == (other.lower(), "4h")
    assert stored["notifications"]["sentiment_alerts"] is True
    # The header's theme switch writes the choice back to the account.
    flipped = "Dark" if other == "Light" else "Light"
    with page.expect_response(
        lambda r: r.url.endswith("/api/users/me/preferences") and r.request.method == "PUT"
    ):
        page.get_by_role("button", name=f"Switch to {flipped.lower()} theme").click()
    page.reload()
    expect(page.get_by_label(flipped, exact=True)).to_be_checked()
    other = flipped
    # The default timeframe is what the charts open with.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Analytics").click()
    expect(
        page.get_by_role("group", name="Timeframe").get_by_role("button", name="4h", exact=True)
    ).to_have_attribute("aria-pressed", "true")

    # Password: the API's rules inline, the server's refusal shown, then the change.
    page.goto("/settings/")
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Repeat the new password").fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("At least 10 characters.")).to_be_visible()
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("Repeat the new password").fill(new)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("The current password is wrong.")).to_be_visible()
    # Chromium logs the refused request (403) as a console error: expected here, once.
    refused = f"403 (Forbidden) at {base_url}/api/users/me/password"
    page.get_by_label("Current password").fill(old)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_test_id("password-status")).to_contain_text("Password changed")
    # This session carries on with the new pair; the reload restores it.
    page.reload()
    expect(page.get_by_test_id("signed-in-user")).to_have_text(username)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("main").get_by_role("link", name="Sign in")).to_be_visible()
    assert (
        httpx.post(
            f"{base_url}/api/users/login", json={"username": username, "password": old}
        ).status_code
        == 401
    )
    page.goto("/login/?next=/settings/")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(new)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/settings/$"))
    expect(page.get_by_test_id("signed-in-user")).to_have_text(username)
    expect(page.get_by_label(other, exact=True)).to_be_checked()
    assert sum(refused in error for error in tab.errors) <= 1, tab.errors
    tab.errors[:] = [error for error in tab.errors if refused not in error]
