"""HTTP routes of the portfolio domain: `/api/portfolio/*` and `/api/watchlist*`.

Every route is for a signed-in user (anonymous: 401) and sees only that user's portfolios and
watchlist: another user's portfolio answers 404, exactly like one that does not exist. Writes
commit before answering, then drop the portfolio's cached ledger.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from cryptodash.analytics.service import CORRELATION_WINDOWS
from cryptodash.auth import CurrentUser
from cryptodash.deps import CacheDep, PlatformDep, SessionDep, get_database
from cryptodash.edge import depends_on, fresh_for
from cryptodash.errors import Invalid
from cryptodash.portfolio import service
from cryptodash.portfolio.csv_format import COLUMNS
from cryptodash.portfolio.schemas import (
    MAX_ID,
    AssetRead,
    CoinId,
    HistoryRead,
    ImportResult,
    Interval,
    PerformanceRead,
    PortfolioCreate,
    PortfolioRead,
    PortfolioUpdate,
    Range,
    RiskRead,
    TransactionCreate,
    TransactionPage,
    TransactionRead,
    TransactionUpdate,
    WatchlistAdd,
    WatchlistItem,
)

router = APIRouter(prefix="/api/portfolio", tags=["portfolio"])
watchlist = APIRouter(prefix="/api/watchlist", tags=["watchlist"])

PortfolioId = Annotated[int, Path(ge=1, le=MAX_ID)]
TxId = Annotated[int, Path(ge=1, le=MAX_ID)]
CoinPath = Annotated[str, Path(min_length=1, max_length=50, pattern=r"^[a-z0-9-]+$")]
NO_CONTENT = status.HTTP_204_NO_CONTENT


# --------------------------------------------------------------------------- performance


@router.get("/{portfolio_id}/performance")
@fresh_for(0.5, per_user=True)
async def performance(
    portfolio_id: PortfolioId, user: CurrentUser, platform: PlatformDep, request: Request
) -> PerformanceRead:
    # The dashboard's hottest authenticated read, so the router's first route (a request is
    # matched against each route in turn). With the ledger and prices cached it needs no
    # database, so no session is begun for it (nor a dependency solved per request). The edge
    # serves it again to the same user for 0.5 s (the public prices' freshness) while the
    # portfolio's revision is unchanged: a write shows on the next read.
    db = await get_database(platform)
    async with db.lazy_session() as session:
        read, revision = await service.revised_performance(
            session,
            platform.cache,
            settings=platform.settings,
            user_id=user.id,
            portfolio_id=portfolio_id,
            metrics=platform.metrics,
        )
    depends_on(request, service.revision_key(portfolio_id), str(revision).encode())
    return read


# --------------------------------------------------------------------------- portfolios


@router.get("")
async def list_portfolios(user: CurrentUser, session: SessionDep) -> list[PortfolioRead]:
    found = await service.list_portfolios(session, user_id=user.id)
    return [PortfolioRead.model_validate(p) for p in found]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_portfolio(
    body: PortfolioCreate, user: CurrentUser, session: SessionDep
) -> PortfolioRead:
    portfolio = await service.create(session, user_id=user.id, data=body)
    await session.commit()
    return PortfolioRead.model_validate(portfolio)


@router.get("/{portfolio_id}")
async def read_portfolio(
    portfolio_id: PortfolioId, user: CurrentUser, session: SessionDep
) -> PortfolioRead:
    portfolio = await service.get(session, user_id=user.id, portfolio_id=portfolio_id)
    return PortfolioRead.model_validate(portfolio)


@router.patch("/{portfolio_id}")
async def update_portfolio(
    portfolio_id: PortfolioId,
    body: PortfolioUpdate,
    user: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
    platform: PlatformDep,
) -> PortfolioRead:
    portfolio = await service.update(
        session,
        cache,
        settings=platform.settings,
        user_id=user.id,
        portfolio_id=portfolio_id,
        data=body,
    )
    read = PortfolioRead.model_validate(portfolio)
    await session.commit()
    await service.after_write(session, cache, user_id=user.id, portfolio_id=portfolio_id)
    return read


@router.delete("/{portfolio_id}", status_code=NO_CONTENT)
async def delete_portfolio(
    portfolio_id: PortfolioId, user: CurrentUser, session: SessionDep, cache: CacheDep
) -> Response:
    await service.delete(session, cache, user_id=user.id, portfolio_id=portfolio_id)
    await session.commit()
    await service.after_write(session, cache, user_id=user.id, portfolio_id=portfolio_id)
    return Response(status_code=NO_CONTENT)


# --------------------------------------------------------------------------- transactions


@router.get("/{portfolio_id}/transactions")
async def list_transactions(
    portfolio_id: PortfolioId,
    user: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    coin_id: Annotated[CoinId | None, Query(description="Only this coin's")] = None,
) -> TransactionPage:
    """Newest first; sells carry their realized gain."""
    return await service.list_transactions(
        session,
        cache,
        user_id=user.id,
        portfolio_id=portfolio_id,
        limit=limit,
        offset=offset,
        coin_id=coin_id,
    )


async def prefetch(
    portfolio_id: PortfolioId, user: CurrentUser, platform: PlatformDep
) -> service.Prefetched:
    return await service.prefetch(
        platform.cache, platform.settings, user_id=user.id, portfolio_id=portfolio_id
    )


@router.post("/{portfolio_id}/transactions", status_code=status.HTTP_201_CREATED)
async def add_transaction(
    portfolio_id: PortfolioId,
    body: TransactionCreate,
    user: CurrentUser,
    # Before the session: its transaction (on SQLite, the write lock) begins after this read.
    prefetched: Annotated[service.Prefetched, Depends(prefetch)],
    session: SessionDep,
    cache: CacheDep,
    platform: PlatformDep,
) -> TransactionRead:
    """Decimal strings in and out. 422 for a non-positive quantity or price, a negative fee,
    an untracked coin, a future time, or a sell of more than is held at its time."""
    read = await service.add_transaction(
        session,
        cache,
        settings=platform.settings,
        user_id=user.id,
        portfolio_id=portfolio_id,
        data=body,
        prefetched=prefetched,
    )
    await session.commit()
    await service.after_write(session, cache, user_id=user.id, portfolio_id=portfolio_id)
    return read


@router.post(
    "/{portfolio_id}/transactions/import",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": f"UTF-8 CSV with a header: {','.join(COLUMNS)} (fee optional)",
        }
    },
)
async def import_transactions(
    portfolio_id: PortfolioId,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
    platform: PlatformDep,
) -> ImportResult:
    """Every row or none: a bad row answers 422 naming its line (the header is line 1)."""
    try:
        text = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = "the file must be UTF-8 text"
        raise Invalid(
            message, details=[{"loc": ["body"], "msg": message, "type": "csv_error"}]
        ) from exc
    imported = await service.import_csv(
        session,
        cache,
        settings=platform.settings,
        user_id=user.id,
        portfolio_id=portfolio_id,
        text=text,
    )
    await session.commit()
    await service.after_write(session, cache, user_id=user.id, portfolio_id=portfolio_id)
    return ImportResult(imported=imported)


@router.get(
    "/{portfolio_id}/transactions/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_transactions(
    portfolio_id: PortfolioId, user: CurrentUser, session: SessionDep
) -> Response:
    """Every transaction, oldest first, in the import format."""
    text = await service.export_csv(session, user_id=user.id, portfolio_id=portfolio_id)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="portfolio-{portfolio_id}-transactions.csv"'
            )
        },
    )


@router.get("/{portfolio_id}/transactions/{tx_id}")
async def read_transaction(
    portfolio_id: PortfolioId, tx_id: TxId, user: CurrentUser, session: SessionDep, cache: CacheDep
) -> TransactionRead:
    return await service.get_transaction(
        session, cache, user_id=user.id, portfolio_id=portfolio_id, tx_id=tx_id
    )


@router.patch("/{portfolio_id}/transactions/{tx_id}")
async def update_transaction(
    portfolio_id: PortfolioId,
    tx_id: TxId,
    body: TransactionUpdate,
    user: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
    platform: PlatformDep,
) -> TransactionRead:
    """Change any fields; refused (422) when the result would leave a holding negative at any
    time."""
    read = await service.update_transaction(
        session,
        cache,
        settings=platform.settings,
        user_id=user.id,
        portfolio_id=portfolio_id,
        tx_id=tx_id,
        data=body,
    )
    await session.commit()
    await service.after_write(session, cache, user_id=user.id, portfolio_id=portfolio_id)
    return read


@router.delete("/{portfolio_id}/transactions/{tx_id}", status_code=NO_CONTENT)
async def delete_transaction(
    portfolio_id: PortfolioId,
    tx_id: TxId,
    user: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
    platform: PlatformDep,
) -> Response:
    """Refused (422) when a later sell would no longer be covered."""
    await service.delete_transaction(
        session,
        cache,
        settings=platform.settings,
        user_id=user.id,
        portfolio_id=portfolio_id,
        tx_id=tx_id,
    )
    await session.commit()
    await service.after_write(session, cache, user_id=user.id, portfolio_id=portfolio_id)
    return Response(status_code=NO_CONTENT)


# --------------------------------------------------------------------------- figures


@router.get("/{portfolio_id}/assets")
async def list_assets(
    portfolio_id: PortfolioId, user: CurrentUser, session: SessionDep
) -> list[AssetRead]:
    """The holdings the transactions imply (`portfolio_assets`)."""
    rows = await service.list_assets(session, user_id=user.id, portfolio_id=portfolio_id)
    return [AssetRead.model_validate(row) for row in rows]


@router.get("/{portfolio_id}/history")
async def history(
    portfolio_id: PortfolioId,
    user: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
    platform: PlatformDep,
    interval: Interval = "1d",
    range_: Annotated[Range, Query(alias="range")] = "30d",
) -> HistoryRead:
    return await service.history(
        session,
        cache,
        settings=platform.settings,
        user_id=user.id,
        portfolio_id=portfolio_id,
        interval=interval,
        range_=range_,
        metrics=platform.metrics,
    )


@router.get("/{portfolio_id}/risk")
async def risk(
    portfolio_id: PortfolioId,
    user: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
    platform: PlatformDep,
    interval: Interval = "1d",
    window: Annotated[
        int | None, Query(ge=2, le=999, description="Returns measured; 1d: 90, 1h: 168")
    ] = None,
) -> RiskRead:
    return await service.risk(
        session,
        cache,
        settings=platform.settings,
        user_id=user.id,
        portfolio_id=portfolio_id,
        interval=interval,
        window=window or CORRELATION_WINDOWS[interval],
        metrics=platform.metrics,
    )


# --------------------------------------------------------------------------- watchlist


@watchlist.get("")
async def list_watchlist(
    user: CurrentUser, session: SessionDep, cache: CacheDep, platform: PlatformDep
) -> list[WatchlistItem]:
    """The user's coins with their live market entries (prices as JSON numbers)."""
    return await service.list_watchlist(session, cache, settings=platform.settings, user_id=user.id)


@watchlist.post("", status_code=status.HTTP_201_CREATED)
async def add_to_watchlist(
    body: WatchlistAdd,
    user: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
    platform: PlatformDep,
) -> WatchlistItem:
    """422 for an untracked coin, 409 when it is already there."""
    item = await service.add_to_watchlist(
        session, cache, settings=platform.settings, user_id=user.id, coin_id=body.coin_id
    )
    await session.commit()
    return item


@watchlist.delete("/{coin_id}", status_code=NO_CONTENT)
async def remove_from_watchlist(
    coin_id: CoinPath, user: CurrentUser, session: SessionDep
) -> Response:
    await service.remove_from_watchlist(session, user_id=user.id, coin_id=coin_id)
    await session.commit()
    return Response(status_code=NO_CONTENT)
