"""An exchange's public REST API, politely: a request budget (token bucket), waits on 429 for
`Retry-After`, a pause of the whole client on 418 (Binance's IP ban), retries with backoff on
5xx and network errors — and `httpx` errors translated into ours at this boundary.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import orjson

from cryptodash.market.exchanges.feed import (
    Backoff,
    Budget,
    ExchangeRequestError,
    ExchangeUnavailable,
)
from cryptodash.platform.logging import get_logger
from cryptodash.platform.tasks import raise_if_cancelled

log = get_logger(__name__)

LISTING_ATTEMPTS = 2
"""Listing checks are tried briefly: the streams start with the configured symbols when REST
is down, and the check is repeated a minute later."""
DEFAULT_RETRY_AFTER = 10.0
"""Seconds to wait after a 429/418 that carries no usable `Retry-After`."""


class RestClient:
    """GET JSON from one exchange.

    `budget` paces requests (units = the request's weight); `paused_until` holds every request
    after a 418 or a 429. A 429 or 418 waits `Retry-After` seconds and retries; 5xx and network
    errors retry with backoff; after `attempts` tries `ExchangeUnavailable`. Other 4xx raise
    `ExchangeRequestError` at once (a bad symbol does not get better by asking again). A pause
    longer than `max_wait` is not waited out inside one call: it raises `ExchangeUnavailable`
    at once (the pause still holds every later request; see `pause_left`).
    """

    def __init__(
        self,
        base_url: str,
        *,
        exchange: str,
        budget: Budget,
        attempts: int = 6,
        default_retry_after: float = DEFAULT_RETRY_AFTER,
        timeout: float = 15.0,
        max_wait: float = 120.0,
        on_headers: Callable[[httpx.Headers], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.exchange = exchange
        self.budget = budget
        self.attempts = attempts
        self.default_retry_after = default_retry_after
        self.max_wait = max_wait
        self.on_headers = on_headers
        self.paused_until = 0.0  # monotonic
        self.rate_limited = 0
        self.banned = 0
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"User-Agent": "cryptodash", "Accept": "application/json"},
            transport=transport,
        )

    async def close(self) -> None:
        await self._client.aclose()

    def pause_left(self) -> float:
        """Seconds until requests may go out again after a 429/418 (0 when they may now)."""
        return max(0.0, self.paused_until - time.monotonic())

    def _retry_after(self, response: httpx.Response) -> float:
        try:
            value = float(response.headers.get("Retry-After", ""))
        except ValueError:
            value = self.default_retry_after
        return max(value, 0.0)

    async def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        weight: float = 1.0,
        attempts: int | None = None,
    ) -> Any:
        """The decoded JSON body of a GET (`attempts` overrides the client's)."""
        backoff = Backoff(0.5, 30.0)
        problem = "no attempt"
        for _ in range(attempts or self.attempts):
            wait = self.paused_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self.budget.take(weight)
            try:
                response = await self._client.get(path, params=params)
            except httpx.HTTPError as exc:  # timeouts, refused connections, broken streams
                raise_if_cancelled()
                problem = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(backoff.next())
                continue
            if self.on_headers is not None:
                self.on_headers(response.headers)
            status = response.status_code
            if status in (418, 429):
                pause = self._retry_after(response)
                self.paused_until = max(self.paused_until, time.monotonic() + pause)
                self.budget.drain()
                if status == 418:
                    self.banned += 1
                else:
                    self.rate_limited += 1
                problem = f"HTTP {status}, retry after {pause:g} s"
                log.warning(
                    "exchange_rate_limited",
                    exchange=self.exchange,
                    status=status,
                    retry_after=pause,
                    path=path,
                )
                if pause > self.max_wait:
                    break
                continue
            if status >= 500:
                problem = f"HTTP {status}"
                await asyncio.sleep(backoff.next())
                continue
            body = _decode(response)
            if status >= 400:
                code, message = _error_of(body, response.text)
                raise ExchangeRequestError(status, message, code)
            return body
        raise ExchangeUnavailable(f"{self.exchange} {path}: {problem}")


def _decode(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        if response.status_code >= 400:
            return None
        raise ExchangeUnavailable(
            f"not JSON (HTTP {response.status_code}): {response.text[:100]!r}"
        ) from None


def _error_of(body: Any, text: str) -> tuple[int | str | None, str]:
    """Binance `{"code", "msg"}`, Coinbase `{"message"}`, or the raw text."""
    if isinstance(body, dict):
        message = body.get("msg") or body.get("message") or text[:200]
        return body.get("code"), str(message)
    return None, text[:200]
