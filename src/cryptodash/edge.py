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

When a public answer expires, the first request for its URL goes to the app for a new one and
the requests for the same URL that arrive meanwhile wait for it (`follow`), instead of each
going to the app too. With Redis as the cache a miss waits for a round trip, a few loop turns
under load, during which a hot URL would otherwise reach the app again and again. If the new
answer is not kept (an error, a non-200), the waiting requests go to the app themselves.

A route whose answer is the caller's own opts in with `@fresh_for(seconds, per_user=True)`,
and names what its answer was computed from with `depends_on(request, key, value)`: cache
keys (shared by every process) and the values they held for it. Such an answer is kept under
the request's exact `Authorization` header, and served to a later request carrying it only
after the gateway has authenticated that request as the app would (token, account active,
session not revoked: `check_private`, installed by the app) and found it is the same user, and
each named key still holds its value. A write that changes what the answer shows changes one
of those values (a portfolio's revision marker), so a user reads their own writes at once, on
any process; only the live prices in it can be up to `seconds` old, as on the public routes.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import HTTPConnection

F = TypeVar("F", bound=Callable[..., Any])

EDGE_TTL_ATTRIBUTE = "__cryptodash_edge_ttl__"
EDGE_PRIVATE_ATTRIBUTE = "__cryptodash_edge_per_user__"
VERSIONS_SCOPE_KEY = "cryptodash.edge.versions"
MAX_ENTRIES = 1024
MAX_BYTES = 64 * 2**20
MAX_BODY_BYTES = 2 * 2**20


def fresh_for(seconds: float, *, per_user: bool = False) -> Callable[[F], F]:
    """Mark a GET route's answers as cacheable at the edge for `seconds`: a public route's for
    everyone, a `per_user` route's for the same user presenting the same token (see the
    module's docstring; such a route calls `depends_on`)."""
    if not 0 < seconds <= 60:
        raise ValueError("an edge TTL is a fraction of a second to a minute")

    def mark(endpoint: F) -> F:
        setattr(endpoint, EDGE_TTL_ATTRIBUTE, float(seconds))
        setattr(endpoint, EDGE_PRIVATE_ATTRIBUTE, per_user)
        return endpoint

    return mark


def edge_ttl(endpoint: Any) -> float | None:
    """The TTL a route's endpoint declared with `fresh_for`, if any."""
    ttl: float | None = getattr(endpoint, EDGE_TTL_ATTRIBUTE, None)
    return ttl


def is_per_user(endpoint: Any) -> bool:
    return bool(getattr(endpoint, EDGE_PRIVATE_ATTRIBUTE, False))


def depends_on(conn: HTTPConnection, key: str, value: bytes) -> None:
    """Declare that this request's answer is current while cache `key` holds `value`. A
    `per_user` route's answer is kept only when it declared at least one such key."""
    conn.scope.setdefault(VERSIONS_SCOPE_KEY, {})[key] = value


def declared_versions(scope: Any) -> tuple[tuple[str, bytes], ...]:
    versions: dict[str, bytes] = scope.get(VERSIONS_SCOPE_KEY) or {}
    return tuple(versions.items())


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    route: str
    """The route template, for the metrics of the requests it answers."""
    expires: float
    user: int | None = None
    """Whose answer it is (a `per_user` route's), else None."""
    versions: tuple[tuple[str, bytes], ...] = ()
    """The cache keys and values it was computed from (a `per_user` route's)."""


CheckPrivate = Callable[[bytes, Answer], Awaitable[bool]]
"""Whether a kept per-user answer may be served to a request with this `Authorization`."""


class EdgeCache:
    """Answers by (path, raw query string) and, for a per-user answer, the `Authorization`
    header it was made for, each until its own expiry; bounded by `max_entries` and
    `max_bytes` of bodies, the oldest stored going first. `check_private` validates a per-user
    answer before it is served (none are kept without it)."""

    def __init__(
        self,
        *,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
        check_private: CheckPrivate | None = None,
    ) -> None:
        self.check_private = check_private
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._answers: OrderedDict[tuple[str, bytes, bytes], Answer] = OrderedDict()
        self._bytes = 0
        self._public: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        """URLs a public answer was kept for (bounded like the answers): their misses refresh."""
        self._refreshing: dict[tuple[str, bytes], asyncio.Future[Answer | None]] = {}

    def __len__(self) -> int:
        return len(self._answers)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, path: str, query: bytes, authorization: bytes = b"") -> Answer | None:
        """The live answer for this URL (and, for a per-user one, this `Authorization`)."""
        key = (path, query, authorization)
        answer = self._answers.get(key)
        if answer is None:
            return None
        if answer.expires <= self._clock():
            self._drop(key)
            return None
        return answer

    def follow(self, path: str, query: bytes) -> tuple[asyncio.Future[Answer | None] | None, bool]:
        """After a miss of a public URL: `(refresh, False)`, the refresh another request is
        making, to wait for (shielded: it is shared) instead of asking the app; or `(None,
        True)` when this request is to make it (the URL had a public answer), and then it
        calls `refreshed` when the app has answered; or `(None, False)` for any other URL."""
        key = (path, query)
        pending = self._refreshing.get(key)
        if pending is not None:
            return pending, False
        if key not in self._public:
            return None, False
        self._refreshing[key] = asyncio.get_running_loop().create_future()
        return None, True

    def refreshed(self, path: str, query: bytes, answer: Answer | None) -> None:
        """The refresh of this URL is over: its waiting requests get `answer` (None: ask the
        app themselves). A no-op when there is none."""
        pending = self._refreshing.pop((path, query), None)
        if pending is not None and not pending.done():
            pending.set_result(answer)

    async def get_private(self, path: str, query: bytes, authorization: bytes) -> Answer | None:
        """The per-user answer kept for this URL and `Authorization`, if `check_private` says
        it may be served to this request."""
        answer = self.get(path, query, authorization)
        if answer is None or self.check_private is None:
            return None
        if not await self.check_private(authorization, answer):
            self._drop((path, query, authorization))
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
        authorization: bytes = b"",
        user: int | None = None,
        versions: tuple[tuple[str, bytes], ...] = (),
    ) -> bool:
        """Keep an answer: a public one (no `authorization`), or a per-user one with the
        `Authorization` header, user and versions it was made for. False when not kept."""
        if len(body) > MAX_BODY_BYTES or len(body) > self.max_bytes:
            return False
        if authorization and (user is None or not versions or self.check_private is None):
            return False
        key = (path, query, authorization)
        self._drop(key)
        expires = self._clock() + ttl
        answer = Answer(status, tuple(headers), body, route, expires, user, versions)
        self._answers[key] = answer
        self._bytes += len(body)
        while len(self._answers) > self.max_entries or self._bytes > self.max_bytes:
            _, oldest = self._answers.popitem(last=False)
            self._bytes -= len(oldest.body)
        if not authorization:
            public = self._public
            public[(path, query)] = None
            public.move_to_end((path, query))
            while len(public) > self.max_entries:
                public.popitem(last=False)
            self.refreshed(path, query, answer)
        return True

    def clear(self) -> None:
        self._answers.clear()
        self._public.clear()
        self._bytes = 0
        for path, query in list(self._refreshing):
            self.refreshed(path, query, None)

    def _drop(self, key: tuple[str, bytes, bytes]) -> None:
        old = self._answers.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
