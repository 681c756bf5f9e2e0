"""How `/ws/portfolio` checks its caller and values a portfolio, in the two places it runs.

- `InProcessPortfolios` (all-in-one, or a gateway that has a database): `authenticate_token`
  and the portfolio domain's `service.performance` — the same function `GET
  /api/portfolio/{id}/performance` answers with.
- `RemotePortfolios` (a split gateway, which has no database): the token's signature and
  expiry are checked here, everything that needs the database is asked of the portfolio
  service over HTTP with the user's own token, so that service authorizes every read itself
  (a logged-out session or another user's portfolio is refused there).

Either way a performance is the `PerformanceRead` JSON, or None when the portfolio does not
exist or is someone else's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import httpx

from cryptodash.auth import AuthUser, authenticate_token
from cryptodash.errors import NotFound, ServiceUnavailable, Unauthorized
from cryptodash.users import tokens

if TYPE_CHECKING:
    from cryptodash.runtime import Platform


class Portfolios(Protocol):
    session_check_seconds: float
    """How often an open socket re-checks its user and session (deactivation, logout)."""

    async def authenticate(self, token: str) -> AuthUser:
        """The caller, or `Unauthorized` / `ServiceUnavailable`."""
        ...

    async def performance(
        self, user: AuthUser, token: str, portfolio_id: int
    ) -> dict[str, Any] | None: ...

    async def close(self) -> None: ...


class InProcessPortfolios:
    # A check is a token decode and one cache read: every second keeps "deactivated users are
    # refused at once" true of open sockets too (valuations here do not check the user).
    session_check_seconds = 1.0

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def authenticate(self, token: str) -> AuthUser:
        return await authenticate_token(self.platform, token)

    async def performance(
        self, user: AuthUser, token: str, portfolio_id: int
    ) -> dict[str, Any] | None:
        from cryptodash.portfolio import service

        platform = self.platform
        if platform.db is None:
            raise ServiceUnavailable("This process has no database")
        try:
            async with platform.db.lazy_session() as session:
                performance = await service.performance(
                    session,
                    platform.cache,
                    settings=platform.settings,
                    user_id=user.id,
                    portfolio_id=portfolio_id,
                    metrics=platform.metrics,
                )
        except NotFound:
            return None
        body: dict[str, Any] = performance.model_dump(mode="json")
        return body

    async def close(self) -> None:
        return None


class RemotePortfolios:
    # A check is a request to the portfolio service; the valuations, every second while prices
    # move, are authorized there with the user's token anyway.
    session_check_seconds = 30.0

    def __init__(self, platform: Platform) -> None:
        settings = platform.settings
        self.platform = platform
        self.base_url = settings.portfolio_url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=min(10.0, settings.proxy_timeout_seconds))

    async def _get(self, path: str, token: str) -> httpx.Response:
        try:
            response = await self._client.get(
                f"{self.base_url}{path}", headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("The portfolio service is unreachable") from exc
        if response.status_code == 401:
            raise Unauthorized(_message(response, "Invalid or expired token"))
        if response.status_code >= 500:
            raise ServiceUnavailable(_message(response, "The portfolio service failed"))
        return response

    async def authenticate(self, token: str) -> AuthUser:
        secret = self.platform.jwt_secret
        if secret is None:
            raise ServiceUnavailable("This service cannot check credentials")
        try:
            claims = tokens.decode(secret, token, expected="access")
        except tokens.InvalidToken as exc:
            raise Unauthorized("Invalid or expired token") from exc
        # The portfolio service checks the user's and the session's current state.
        response = await self._get("/api/portfolio", token)
        if response.status_code != 200:
            raise ServiceUnavailable(f"The portfolio service answered {response.status_code}")
        return AuthUser(
            id=claims.user_id,
            role=claims.role,
            sid=claims.sid,
            token_id=claims.jti,
            expires_at=claims.expires_at,
        )

    async def performance(
        self, user: AuthUser, token: str, portfolio_id: int
    ) -> dict[str, Any] | None:
        response = await self._get(f"/api/portfolio/{portfolio_id}/performance", token)
        if response.status_code in (404, 422):
            return None
        if response.status_code != 200:
            raise ServiceUnavailable(f"The portfolio service answered {response.status_code}")
        body: dict[str, Any] = response.json()
        return body

    async def close(self) -> None:
        await self._client.aclose()


def _message(response: httpx.Response, default: str) -> str:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return default
    return message if isinstance(message, str) else default


def build_portfolios(platform: Platform) -> Portfolios:
    if platform.db is not None:
        return InProcessPortfolios(platform)
    return RemotePortfolios(platform)
