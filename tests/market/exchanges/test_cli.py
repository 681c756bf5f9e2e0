"""`cryptodash backfill` as a user runs it (a real process) against the fake exchanges."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

from tests.fakes import FakeBinance, FakeCoinbase
from tests.test_cli import clean_env


async def backfill(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cryptodash.cli", "backfill", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_backfill_command_fills_history_with_a_progress_bar(tmp_path: Path) -> None:
    async with (
        FakeBinance(symbols=["BTCUSDT", "ETHUSDT"]) as binance,
        FakeCoinbase(products=["BTC-USD", "ETH-USD", "USDT-USD"]) as coinbase,
    ):
        env = clean_env(
            CRYPTODASH_DATA_DIR=str(tmp_path),
            CRYPTODASH_COINS="bitcoin,ethereum",
            CRYPTODASH_BINANCE_REST_URL=binance.rest_url,
            CRYPTODASH_COINBASE_REST_URL=coinbase.rest_url,
        )
        code, output = await backfill("--days", "0.5", env=env)
        assert code == 0, output
        assert "binance: " in output
        assert "coinbase: " in output
        assert "12 requests, 0 failed" in output  # binance: 2 coins x 6 intervals
        with sqlite3.connect(tmp_path / "cryptodash.db") as conn:
            rows = dict(
                conn.execute(
                    "SELECT source || ':' || interval, count(*) FROM candles"
                    " WHERE coin_id = 'bitcoin' GROUP BY source, interval"
                ).fetchall()
            )
        assert rows["binance:1m"] >= 999
        assert rows["coinbase:1m"] >= 299
        assert rows["coinbase:4h"] >= 60  # built from 1h
        assert "coinbase:5m" in rows

        code, output = await backfill("--exchange", "kraken", env=env)
        assert code == 2
        assert "choose binance or coinbase" in output
        code, output = await backfill("--coins", "nope", env=env)
        assert code == 2
        assert "not tracked: nope" in output
