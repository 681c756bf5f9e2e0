"""The watchlist: add, list with live prices, remove; duplicates, untracked coins and other
users' lists."""

from __future__ import annotations

from tests.portfolio.conftest import Env


async def test_watchlist_with_live_prices(any_env: Env) -> None:
    env = any_env
    await env.set_price("solana", 142.5, -1.25)
    me = await env.account()
    url = "/api/watchlist"
    assert (await env.client.get(url, headers=me.headers)).json() == []
    added = await env.client.post(url, json={"coin_id": "solana"}, headers=me.headers)
    assert added.status_code == 201, added.text
    assert (added.json()["coin_id"], added.json()["price"]) == ("solana", 142.5)
    again = await env.client.post(url, json={"coin_id": "solana"}, headers=me.headers)
    assert again.status_code == 409
    assert (
        await env.client.post(url, json={"coin_id": "cardano"}, headers=me.headers)
    ).status_code == 201
    listed = (await env.client.get(url, headers=me.headers)).json()
    assert [w["coin_id"] for w in listed] == ["solana", "cardano"]
    solana, cardano = listed
    assert (solana["price"], solana["change_24h_pct"], solana["stale"]) == (142.5, -1.25, False)
    assert (cardano["price"], cardano["stale"]) == (None, True)  # no price known yet
    await env.set_price("solana", 150.0)
    assert (await env.client.get(url, headers=me.headers)).json()[0]["price"] == 150.0
    # Someone else's list is their own.
    other = await env.account()
    assert (await env.client.get(url, headers=other.headers)).json() == []
    assert (
        await env.client.post(url, json={"coin_id": "solana"}, headers=other.headers)
    ).status_code == 201
    assert (await env.client.delete(f"{url}/cardano", headers=other.headers)).status_code == 404
    assert (await env.client.delete(f"{url}/solana", headers=me.headers)).status_code == 204
    assert (await env.client.delete(f"{url}/solana", headers=me.headers)).status_code == 404
    assert [w["coin_id"] for w in (await env.client.get(url, headers=me.headers)).json()] == [
        "cardano"
    ]
    assert [w["coin_id"] for w in (await env.client.get(url, headers=other.headers)).json()] == [
        "solana"
    ]


async def test_only_tracked_coins(env: Env) -> None:
    me = await env.account()
    for coin in ("dogecoin", "no-such-coin"):
        response = await env.client.post(
            "/api/watchlist", json={"coin_id": coin}, headers=me.headers
        )
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["loc"] == ["body", "coin_id"]
