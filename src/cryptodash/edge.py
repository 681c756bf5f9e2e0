"""The edge cache: whole responses of public reads, kept for the fraction of a second a route
allows, answered by the gateway without routing the request.

A cached read through FastAPI spends most of its time outside the route: matching the path
against every route, solving the dependencies, validating the query. When a thousand clients
poll the same `/api/market/coins`, one answer per fraction of a second serves them all.

A route opts in with `@fresh_for(seconds)` under its `@router.get(...)`. Only routes whose
answer depends on nothing but the path and the query belong here: public routes (`Public`
ignores any token), no per-user body, no cookies. The gateway keeps a `200` answer for that
long, keyed by path and raw query string, and answers the same URL from it until it expires;
every other status, method and route goes to the app as before. The gateway's own work
(request id, rate limit, CORS, security headers, metrics, access log) runs on every request,
served from here or not.

The cost of a hit is a dictionary lookup; the price is that an answer can be up to `seconds`
older than the data behind it (live values reach browsers over the WebSockets anyway). The
cache is per process, bounded in entries and bytes (least recently stored goes first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

EDGE_TTL_ATTRIBUTE = "__cryptodash_edge_ttl__"
MAX_ENTRIES = 1024
MAX_BYTES = 64 * 2**20
MAX_BODY_BYTES = 2 * 2**20


def fresh_for(seconds: float) -> Callable[[F], F]:
    """Mark a public GET route's answers as cacheable at the edge for `seconds`."""
    if not 0 < seconds <= 60:
        raise ValueError("an edge TTL is a fraction of a second to a minute")

    def mark(endpoint: F) -> F:
        setattr(endpoint, EDGE_TTL_ATTRIBUTE, float(seconds))
        return endpoint

    return mark


def edge_ttl(endpoint: Any) -> float | None:
    """The TTL a route's endpoint declared with `fresh_for`, if any."""
    ttl: float | None = getattr(endpoint, EDGE_TTL_ATTRIBUTE, None)
    return ttl


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    route: str
    """The route template, for the metrics of the requests it answers."""
    expires: float


class EdgeCache:
    """Answers by (path, raw query string), each until its own expiry; bounded by
    `max_entries` and `max_bytes` of bodies, the oldest stored going first."""

    def __init__(
        self,
        *,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._answers: OrderedDict[tuple[str, bytes], Answer] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._answers)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, path: str, query: bytes) -> Answer | None:
        answer = self._answers.get((path, query))
        if answer is None:
            return None
        if answer.expires <= self._clock():
            self._drop((path, query))
            return None
        return answer

    def put(
        self,
        path: str,
        query: bytes,
        *,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        route: str,
        ttl: float,
    ) -> None:
        if len(body) > MAX_BODY_BYTES or len(body) > self.max_bytes:
            return
        key = (path, query)
        self._drop(key)
        self._answers[key] = Answer(status, tuple(headers), body, route, self._clock() + ttl)
        self._bytes += len(body)
        while len(self._answers) > self.max_entries or self._bytes > self.max_bytes:
            _, oldest = self._answers.popitem(last=False)
            self._bytes -= len(oldest.body)

    def clear(self) -> None:
        self._answers.clear()
        self._bytes = 0

    def _drop(self, key: tuple[str, bytes]) -> None:
        old = self._answers.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
