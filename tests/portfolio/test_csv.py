"""CSV import and export of transactions: the documented columns, every bad row reported by
its line number with nothing imported, and a lossless round trip."""

from __future__ import annotations

from typing import Any

import pytest

from cryptodash.portfolio import csv_format
from tests.portfolio.conftest import Env
from tests.users.accounts import Account

GOOD = (
    "\ufeffcoin_id,side,executed_at,quantity,price,fee\r\n"
    "bitcoin,buy,2024-01-01T00:00:00Z,0.5,20000,10\r\n"
    "\r\n"
    "ethereum,buy,2024-01-02T12:30:00+02:00,2,1000.5,\r\n"
    "bitcoin,sell,2024-01-03T00:00:00Z,0.2,30000,1.5\r\n"
)


async def upload(env: Env, owner: Account, pid: int, text: str | bytes) -> Any:
    return await env.client.post(
        f"/api/portfolio/{pid}/transactions/import",
        content=text.encode() if isinstance(text, str) else text,
        headers={**owner.headers, "content-type": "text/csv"},
    )


async def export(env: Env, owner: Account, pid: int) -> Any:
    return await env.client.get(f"/api/portfolio/{pid}/transactions/export", headers=owner.headers)


async def test_import_then_export(any_env: Env) -> None:
    env = any_env
    me = await env.account()
    pid = await env.portfolio(me)
    response = await upload(env, me, pid, GOOD)
    assert response.status_code == 201, response.text
    assert response.json() == {"imported": 3}
    listed = (await env.client.get(f"/api/portfolio/{pid}/transactions", headers=me.headers)).json()
    sell = listed["items"][0]
    assert (sell["side"], sell["realized_gain"]) == ("sell", "1994.5")  # 5998.5 - 0.2/0.5 * 10010
    exported = await export(env, me, pid)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.text == (
        "executed_at,coin_id,side,quantity,price,fee\r\n"
        "2024-01-01T00:00:00Z,bitcoin,buy,0.5,20000,10\r\n"
        "2024-01-02T10:30:00Z,ethereum,buy,2,1000.5,0\r\n"
        "2024-01-03T00:00:00Z,bitcoin,sell,0.2,30000,1.5\r\n"
    )
    # Round trip: the export imported into another portfolio gives the same figures.
    copy = await env.portfolio(me, name="copy")
    assert (await upload(env, me, copy, exported.text)).status_code == 201
    assert (await export(env, me, copy)).text == exported.text
    figures = []
    for p in (pid, copy):
        body = (await env.client.get(f"/api/portfolio/{p}/performance", headers=me.headers)).json()
        body.pop("as_of")
        body.pop("portfolio_id")
        figures.append(body)
    assert figures[0] == figures[1]


BAD_FILES: list[tuple[str, list[str]]] = [
    ("", ["line 1"]),
    ("coin,side\n", ["line 1"]),  # unknown column
    ("executed_at,coin_id,side,quantity\n", ["line 1"]),  # price missing
    ("executed_at,coin_id,side,quantity,price,price\n", ["line 1"]),
    ("executed_at,coin_id,side,quantity,price\n", []),  # nothing to import
    (
        "executed_at,coin_id,side,quantity,price,fee\n"
        "2024-01-01T00:00:00Z,bitcoin,buy,1,100,0\n"
        "2024-01-02T00:00:00Z,bitcoin,buy,0,100,0\n"  # line 3: quantity 0
        "2024-01-03T00:00:00Z,bitcoin,buy,1,100\n"  # line 4: a field short
        "2024-01-04T00:00:00Z,bitcoin,buy,1,100,0\n",
        ["line 4"],
    ),
    (
        "executed_at,coin_id,side,quantity,price,fee\n"
        "2024-01-01T00:00:00Z,bitcoin,buy,1,100,0\n"
        "2024-01-02T00:00:00Z,bitcoin,buy,0,100,0\n"  # line 3
        "2024-01-03T00:00:00Z,dogecoin,buy,1,100,0\n"  # line 4: not tracked
        "2099-01-03T00:00:00Z,bitcoin,buy,1,100,0\n"  # line 5: future
        "2024-01-03T00:00:00Z,bitcoin,buy,1,-100,-1\n"  # line 6: two fields
        "2024-01-03T00:00:00Z,bitcoin,short,1e3,100,0\n",  # line 7
        ["line 3", "line 4", "line 5", "line 6", "line 7"],
    ),
    (
        "executed_at,coin_id,side,quantity,price,fee\n"
        "2024-01-01T00:00:00Z,bitcoin,buy,1,100,0\n"
        "2024-01-05T00:00:00Z,bitcoin,sell,3,100,0\n"  # line 3: more than held then
        "2024-01-09T00:00:00Z,bitcoin,buy,5,100,0\n",
        ["line 3"],
    ),
    ('executed_at,coin_id,side,quantity,price,fee\n"2024-01-01,bitcoin\n', ["line 2"]),
]


@pytest.mark.parametrize(("text", "lines"), BAD_FILES)
async def test_a_bad_file_names_its_lines_and_imports_nothing(
    env: Env, text: str, lines: list[str]
) -> None:
    me = await env.account()
    pid = await env.portfolio(me)
    await env.trade(me, pid, coin_id="bitcoin", side="buy", quantity="1", price="1",
                    executed_at="2023-06-01T00:00:00Z")  # fmt: skip
    before = (await export(env, me, pid)).text
    portfolio = (await env.client.get(f"/api/portfolio/{pid}", headers=me.headers)).json()
    response = await upload(env, me, pid, text)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    reported = sorted({d["loc"][1] for d in error["details"] if len(d["loc"]) > 1})
    assert reported == lines, error
    for line in lines:
        assert line in error["message"]
    assert (await export(env, me, pid)).text == before
    assert (await env.client.get(f"/api/portfolio/{pid}", headers=me.headers)).json() == portfolio


async def test_a_file_that_uncovers_an_existing_sell_names_it(env: Env) -> None:
    me = await env.account()
    pid = await env.portfolio(me)
    await env.trade(me, pid, coin_id="bitcoin", side="buy", quantity="1", price="1",
                    executed_at="2024-01-01T00:00:00Z")  # fmt: skip
    sold = await env.trade(me, pid, coin_id="bitcoin", side="sell", quantity="1", price="1",
                           executed_at="2024-02-01T00:00:00Z")  # fmt: skip
    text = "executed_at,coin_id,side,quantity,price\n2024-01-15T00:00:00Z,bitcoin,sell,0.5,1\n"
    response = await upload(env, me, pid, text)
    assert response.status_code == 422
    assert f"transaction {sold.json()['id']}" in response.json()["error"]["message"]


async def test_not_utf8_is_422(env: Env) -> None:
    me = await env.account()
    pid = await env.portfolio(me)
    response = await upload(env, me, pid, b"executed_at,coin_id\n\xff\xfe")
    assert response.status_code == 422
    assert "UTF-8" in response.json()["error"]["message"]


def test_too_many_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_format, "MAX_ROWS", 2)
    header = "executed_at,coin_id,side,quantity,price\n"
    row = "2024-01-01T00:00:00Z,bitcoin,buy,1,1\n"
    assert len(csv_format.read(header + row * 2)) == 2
    with pytest.raises(csv_format.CsvProblem, match="line 4: more than 2 rows"):
        csv_format.read(header + row * 3)
