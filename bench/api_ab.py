"""Two builds of cryptodash side by side under `bench/api_load.py`'s load: is a change faster?

    git worktree add /tmp/before <commit>          # the build to compare against
    .venv/bin/python bench/api_ab.py --before /tmp/before/src
    .venv/bin/python bench/api_ab.py --before /tmp/before/src --redis-url redis://127.0.0.1:6379/5

On this shared machine one run of `bench/api_load.py` moves by more than most changes: bare
FastAPI's own rate moves 20-30 % within a minute. So this bench runs both builds at once, each
a `cryptodash up --demo` with its own data dir (and its own Redis database: the URL's number
for this build, the next one for the other), registers the same users on each and alternates
short rounds between them, in pairs whose order flips each time. Each pair's ratio compares
two rounds a few seconds apart; the median of the ratios is the result. Both servers run their
demo background all the time, so each round also shares the machine with the other build's
ticks and workers, the same way for both. Rounds begin `--settle` seconds after both are
ready, so neither is still settling (history, indicator rebuilds, the heap freeze at 60 s).

`--before` is a source tree (the `src` directory of a worktree) put first on the other
server's PYTHONPATH; this checkout's code is *after*. Prints each round (requests a second,
server CPU per request, edge hits, cached reads' p99, writes' p50, full GC passes and their
mean pause) and the medians.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import api_load
from _common import server_env


def _redis_db(url: str | None, offset: int) -> str | None:
    """`url` with its database number moved on by `offset` (no number: database 0)."""
    if url is None:
        return None
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0) + offset
    return urlunsplit(parts._replace(path=f"/{db}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the other build's source tree")
    parser.add_argument("--mix", choices=list(api_load.MIXES), default="full")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per round")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--redis-url", help="this build's Redis database; the other's is +1")
    parser.add_argument(
        "--settle",
        type=float,
        default=60.0,
        help="seconds to wait once both are ready (a server freezes its settled heap at 60 s)",
    )
    args = parser.parse_args()
    before = Path(args.before).resolve()
    if not (before / "cryptodash" / "__init__.py").is_file():
        parser.error(f"{before} holds no cryptodash package")
    load = SimpleNamespace(connections=args.connections, duration=args.duration, warmup=1.0)

    with contextlib.ExitStack() as stack:
        servers: dict[str, tuple[Any, list[dict[str, Any]]]] = {}
        for offset, name in enumerate(("after", "before")):
            env = server_env(_redis_db(args.redis_url, offset), CRYPTODASH_LOG_LEVEL="INFO")
            if name == "before":
                env["PYTHONPATH"] = os.pathsep.join(
                    filter(None, [str(before), env.get("PYTHONPATH")])
                )
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            server = stack.enter_context(api_load.settled_demo(tmp, env))
            users = api_load.register_users(server.base, args.connections, f"{os.getpid()}{name}")
            api_load.run_load(server.port, args.mix, users, args.connections, 3.0, 0.0, 0)
            servers[name] = (server, users)
            print(f"# {name} ready after {server.ready_after:.0f} s", flush=True)

        time.sleep(args.settle)
        rounds: dict[str, list[dict[str, float]]] = {"after": [], "before": []}
        for pair in range(args.pairs):
            order = ("after", "before") if pair % 2 == 0 else ("before", "after")
            for name in order:
                server, users = servers[name]
                r = api_load.measure(
                    server.port, server.pid, args.mix, users, load, pair + 1, ours=True
                )
                row = {
                    "rps": r["rps"],
                    "us_per_request": 1e4 * r["server_cpu_pct"] / max(1.0, r["rps"]),
                    "edge_hit_pct": r["edge_hit_pct"],
                    "read_p99_ms": r["latency_ms"].get("read", r["latency_ms"]["all"])["p99"],
                    "write_p50_ms": r["latency_ms"].get("write", {}).get("p50", 0.0),
                    "errors": r["errors"],
                    "gc2_passes": r["gc"]["gen2"]["passes"],
                    "gc2_mean_ms": r["gc"]["gen2"]["mean_ms"] or 0.0,
                }
                rounds[name].append(row)
                print(
                    f"# pair {pair + 1} {name}: {row['rps']:.0f} req/s, "
                    f"{row['us_per_request']:.0f} µs of server CPU a request, edge "
                    f"{row['edge_hit_pct']} %, reads p99 {row['read_p99_ms']} ms, "
                    f"writes p50 {row['write_p50_ms']} ms, "
                    f"{row['errors']} errors, {row['gc2_passes']} full GC passes "
                    f"(mean {row['gc2_mean_ms']:.0f} ms)",
                    flush=True,
                )

    ratios = [a["rps"] / b["rps"] for a, b in zip(rounds["after"], rounds["before"], strict=True)]
    print(
        f"after / before, requests a second, per pair: {[round(r, 3) for r in ratios]}; "
        f"median {statistics.median(ratios):.3f}, {sum(r > 1 for r in ratios)} of "
        f"{len(ratios)} pairs faster"
    )
    for name, rows in rounds.items():
        medians = {key: round(statistics.median(row[key] for row in rows), 1) for key in rows[0]}
        print(f"{name}: medians {medians}")


if __name__ == "__main__":
    main()
