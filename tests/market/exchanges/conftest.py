"""Helpers for the connector tests: a tick sink and a gap recorder standing in for the bus
and the backfiller."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cryptodash.market.normalize import Tick

RECORDED = Path(__file__).parent / "recorded"


class Sink:
    """Collects published ticks (the feeds' `publisher`)."""

    def __init__(self) -> None:
        self.ticks: list[Tick] = []

    async def publish(self, tick: Tick) -> None:
        self.ticks.append(tick)

    def of(self, coin_id: str) -> list[Tick]:
        return [t for t in self.ticks if t.coin_id == coin_id]


class Gaps:
    """Records the gaps a feed reports (the backfiller's `note_gap`)."""

    def __init__(self) -> None:
        self.noted: list[tuple[set[str], float, float]] = []

    def note_gap(self, coin_ids: Iterable[str], since: float, until: float) -> None:
        self.noted.append((set(coin_ids), since, until))


def frames(name: str) -> list[str]:
    return (RECORDED / name).read_text().splitlines()
