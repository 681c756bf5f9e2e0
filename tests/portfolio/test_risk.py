"""Risk of the current mix: the pure figures against plain NumPy, and the route over stored
candles (a bitcoin-only portfolio has beta 1 to bitcoin)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from cryptodash.portfolio.risk import measure
from tests.portfolio.conftest import Env

DAY = 86_400


def walk(seed: int, n: int, start: float, sigma: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(rng.normal(0, sigma, n)))


def test_measure_against_numpy() -> None:
    window = 30
    btc = walk(1, window + 1, 60000, 0.03)
    eth = walk(2, window + 1, 3000, 0.04)
    closes = np.vstack([btc, eth])
    quantities = [0.5, 4.0]
    figures = measure(closes, quantities, btc, window=window, periods_per_year=365)
    mix = 0.5 * btc + 4.0 * eth
    r_mix, r_btc = np.diff(np.log(mix)), np.diff(np.log(btc))
    assert figures.volatility == pytest.approx(np.std(r_mix, ddof=1) * math.sqrt(365), rel=1e-9)
    peak = np.maximum.accumulate(mix)
    assert figures.max_drawdown == pytest.approx(np.max((peak - mix) / peak), rel=1e-9)
    beta = np.cov(r_mix, r_btc, ddof=1)[0, 1] / np.var(r_btc, ddof=1)
    assert figures.beta == pytest.approx(beta, rel=1e-9)
    corr = np.corrcoef(np.diff(np.log(closes), axis=1))
    assert np.allclose(np.array(figures.correlation, dtype=float), corr, rtol=1e-9)
    assert figures.coin_volatility[1] == pytest.approx(
        np.std(np.diff(np.log(eth)), ddof=1) * math.sqrt(365), rel=1e-9
    )


def test_measure_without_enough_data() -> None:
    short = measure(np.ones((2, 5)), [1, 1], None, window=30, periods_per_year=365)
    assert (short.volatility, short.max_drawdown, short.beta) == (None, None, None)
    assert short.correlation == [[None, None], [None, None]]
    empty = measure(np.empty((0, 31)), [], None, window=30, periods_per_year=365)
    assert (empty.volatility, empty.correlation) == (None, [])
    flat = measure(np.ones((1, 31)), [2], walk(3, 31, 100, 0.02), window=30, periods_per_year=365)
    assert (flat.volatility, flat.max_drawdown, flat.beta) == (0.0, 0.0, 0.0)
    gap = np.vstack([walk(4, 31, 100, 0.02)])
    gap[0, 10] = np.nan
    assert measure(gap, [1], None, window=30, periods_per_year=365).volatility is None


async def test_the_risk_route(env: Env) -> None:
    today = int(time.time() // DAY) * DAY
    btc = walk(10, 120, 60000, 0.03)
    eth = walk(11, 120, 3000, 0.04)
    days = [today - (120 - i) * DAY for i in range(120)]
    await env.candles("bitcoin", "1d", [(t, f"{c:.6f}") for t, c in zip(days, btc, strict=True)])
    await env.candles("ethereum", "1d", [(t, f"{c:.6f}") for t, c in zip(days, eth, strict=True)])
    await env.set_price("bitcoin", 60000.0)
    await env.set_price("ethereum", 3000.0)
    me = await env.account()
    only_btc = await env.portfolio(me, name="btc")
    mixed = await env.portfolio(me, name="mixed")
    for pid, coin, qty in (
        (only_btc, "bitcoin", "2"),
        (mixed, "bitcoin", "1"),
        (mixed, "ethereum", "10"),
    ):
        response = await env.trade(me, pid, coin_id=coin, side="buy", quantity=qty, price="1",
                                   executed_at="2024-01-01T00:00:00Z")  # fmt: skip
        assert response.status_code == 201
    url = "/api/portfolio/{}/risk"
    solo = (await env.client.get(url.format(only_btc), headers=me.headers)).json()
    assert solo["beta_to_bitcoin"] == pytest.approx(1.0, rel=1e-9)
    assert solo["window"] == 90
    assert solo["correlation"] == {"coins": ["bitcoin"], "matrix": [[1.0]]}
    closes_btc = np.array([float(f"{c:.6f}") for c in btc])
    closes_eth = np.array([float(f"{c:.6f}") for c in eth])
    r_btc = np.diff(np.log(closes_btc[-31:]))
    assert solo["volatility"] == pytest.approx(
        np.std(np.diff(np.log(closes_btc[-91:])), ddof=1) * math.sqrt(365), rel=1e-9
    )
    body = (
        await env.client.get(url.format(mixed), params={"window": 30}, headers=me.headers)
    ).json()
    mix = closes_btc[-31:] + 10 * closes_eth[-31:]
    r_mix = np.diff(np.log(mix))
    assert body["volatility"] == pytest.approx(np.std(r_mix, ddof=1) * math.sqrt(365), rel=1e-9)
    beta = np.cov(r_mix, r_btc, ddof=1)[0, 1] / np.var(r_btc, ddof=1)
    assert body["beta_to_bitcoin"] == pytest.approx(beta, rel=1e-9)
    assert body["correlation"]["coins"] == ["bitcoin", "ethereum"]  # by value, largest first
    corr = np.corrcoef(r_btc, np.diff(np.log(closes_eth[-31:])))[0, 1]
    assert body["correlation"]["matrix"][0][1] == pytest.approx(corr, rel=1e-9)
    weights = {a["coin_id"]: a["weight"] for a in body["assets"]}
    assert weights == pytest.approx({"bitcoin": 60000 / 90000, "ethereum": 30000 / 90000})
    assert body["as_of"] is not None
    hourly = await env.client.get(url.format(mixed), params={"interval": "1h"}, headers=me.headers)
    assert hourly.status_code == 200
    assert hourly.json()["volatility"] is None  # no hourly candles stored
    empty = await env.portfolio(me, name="empty")
    nothing = (await env.client.get(url.format(empty), headers=me.headers)).json()
    assert (nothing["volatility"], nothing["correlation"]["coins"]) == (None, [])
