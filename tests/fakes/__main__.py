"""Run both fake exchanges until interrupted, for a manual `cryptodash up` against them:

    .venv/bin/python -m tests.fakes --port 9100
    CRYPTODASH_BINANCE_WS_URL=ws://127.0.0.1:9100 \\
    CRYPTODASH_BINANCE_REST_URL=http://127.0.0.1:9101 \\
    CRYPTODASH_COINBASE_WS_URL=ws://127.0.0.1:9102 \\
    CRYPTODASH_COINBASE_REST_URL=http://127.0.0.1:9103 .venv/bin/cryptodash up

Every `--drop-every` seconds (0: never) both drop their connections.
"""

from __future__ import annotations

import argparse
import asyncio

from tests.fakes import FakeBinance, FakeCoinbase


async def main(port: int, drop_every: float) -> None:
    binance = await FakeBinance().start(port, port + 1)
    coinbase = await FakeCoinbase().start(port + 2, port + 3)
    print(f"binance  ws {binance.ws_url}  rest {binance.rest_url}", flush=True)
    print(f"coinbase ws {coinbase.ws_url}  rest {coinbase.rest_url}", flush=True)
    try:
        while True:
            await asyncio.sleep(drop_every or 3600)
            if drop_every:
                dropped = await binance.drop_all() + await coinbase.drop_all()
                print(f"dropped {dropped} connections", flush=True)
    finally:
        await binance.stop()
        await coinbase.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Fake Binance and Coinbase exchanges")
    parser.add_argument("--port", type=int, default=9100, help="first of four ports")
    parser.add_argument("--drop-every", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.drop_every))
