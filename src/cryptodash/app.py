"""App factory: all-in-one (every domain in one process, one port) or one split service.

    create_app(settings)                    # all-in-one
    create_app(settings, service="market")  # one service of the split deployment

Nothing is built at import time: the backends are built here and started in the lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

from cryptodash import __version__
from cryptodash.auth import authorize, private_answer_check
from cryptodash.config import Settings, get_settings
from cryptodash.edge import EdgeCache
from cryptodash.gateway.errors import document_error_body, install_error_handlers
from cryptodash.gateway.frontend import default_frontend_dir, serve_frontend
from cryptodash.gateway.health import router as health_router
from cryptodash.gateway.meta import router as meta_router
from cryptodash.gateway.middleware import GatewayApp
from cryptodash.gateway.proxy import Proxy
from cryptodash.gateway.realtime import Realtime
from cryptodash.gateway.security import Cors, RateLimits
from cryptodash.gateway.ws import router as ws_router
from cryptodash.platform import schema
from cryptodash.platform.db import is_connection_error
from cryptodash.platform.errors import BackendUnavailable
from cryptodash.platform.logging import get_logger
from cryptodash.platform.loopwatch import LoopWatch
from cryptodash.platform.ratelimit import build_rate_limiter
from cryptodash.platform.tasks import cancel_and_wait
from cryptodash.runtime import (
    ALL_IN_ONE,
    Platform,
    build_platform,
    hosted_domains,
    start_platform,
    supervise,
)
from cryptodash.users.passwords import check_rounds

log = get_logger(__name__)


class SchemaBehind(RuntimeError):
    """The database schema is older than the code; run `cryptodash migrate`."""


async def prepare_schema_once(platform: Platform) -> bool:
    """All-in-one migrates; a split service only checks. False when the database is
    unreachable; `SchemaBehind` when a split service's schema is older than the code."""
    db = platform.db
    if db is None:
        platform.schema_ready.set()
        return True
    try:
        if platform.all_in_one:
            await schema.upgrade(db.engine)
        state = await schema.status(db.engine)
    except Exception as exc:
        if not is_connection_error(exc) and not isinstance(exc, BackendUnavailable):
            raise
        platform.schema_problem = f"database unreachable: {str(exc).splitlines()[0]}"
        log.warning("database_unreachable", error=platform.schema_problem)
        return False
    if not state.up_to_date:
        platform.schema_problem = f"schema behind: {state.describe()}"
        raise SchemaBehind(
            f"{state.describe()}; run `cryptodash migrate` before starting {platform.service}"
        )
    platform.schema_problem = None
    platform.schema_ready.set()
    log.info("schema_ready", revision=sorted(state.current))
    return True


async def prepare_schema(platform: Platform, *, retry_delay: float = 2.0) -> None:
    """Retry until the database answers; the process serves /health and is not ready meanwhile."""
    while not await prepare_schema_once(platform):  # noqa: ASYNC110 - polling a remote server
        await asyncio.sleep(retry_delay)


SETTLE_SECONDS = (60.0, 600.0)
"""Seconds after start at which what the process has built since is frozen too."""


async def _freeze_settled() -> None:
    """Freeze again once the process has settled: what the first minutes build (modules
    imported on first use, the workers' state, the demo's history) lives as long as the
    process too, and left in the collector's scans it made each gen-2 pass (every few seconds
    under load) 40-60 ms long. Twice, so at most what those two snapshots held and later
    dropped in a reference cycle is never collected."""
    waited = 0.0
    for at in SETTLE_SECONDS:
        await asyncio.sleep(at - waited)
        waited = at
        gc.collect()
        gc.freeze()


def create_app(settings: Settings | None = None, *, service: str = ALL_IN_ONE) -> GatewayApp:
    settings = settings or get_settings()
    if service in (ALL_IN_ONE, "users"):
        check_rounds(settings.bcrypt_rounds, settings.env)
    # Every service verifies tokens itself, so every one needs the signing key.
    jwt_secret = settings.resolve_jwt_secret(all_in_one=service == ALL_IN_ONE)
    platform = build_platform(settings, service)
    platform.jwt_secret = jwt_secret
    domains = hosted_domains(service)
    # The edge (all-in-one, or the split gateway) rate-limits; the services behind it do not,
    # or every call would be counted twice.
    limiter = build_rate_limiter(settings.redis_url) if service in (ALL_IN_ONE, "gateway") else None
    proxy = Proxy(settings) if service == "gateway" else None
    # The edge also serves the WebSockets: every gateway process fans the bus out itself.
    realtime = Realtime(platform) if service in (ALL_IN_ONE, "gateway") else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await start_platform(platform)
        if proxy is not None:
            await proxy.start()
        tasks: list[asyncio.Task[None]] = []
        # A healthy database is migrated (or checked) before the first request; a slow or
        # unreachable one is retried in the background while /health answers. A split
        # service whose schema is behind stops here with SchemaBehind.
        try:
            ready = await asyncio.wait_for(prepare_schema_once(platform), 5)
        except TimeoutError:
            ready = False
        if not ready:
            tasks.append(asyncio.create_task(prepare_schema(platform), name="schema"))
        if settings.loop_block_ms:
            watch = LoopWatch(platform.metrics, block_after=settings.loop_block_ms / 1000)
            tasks.append(asyncio.create_task(watch.run(), name="loopwatch"))
        workers = [pair for domain in domains for pair in domain.workers(platform)]
        if realtime is not None:
            workers.append(("gateway.realtime", realtime.run))
        for name, worker in workers:
            tasks.append(
                asyncio.create_task(supervise(name, worker, platform), name=f"worker:{name}")
            )
        log.info(
            "started",
            mode=service,
            domains=[d.name for d in domains],
            database=platform.db.dialect if platform.db else None,
            cache=platform.cache.backend,
            bus=platform.bus.backend,
            demo=settings.demo,
        )
        if settings.env != "test":
            # Everything built so far (modules, ORM metadata, app, settings) lives as long as the
            # process: keep it out of the collector's scans, whose gen-2 passes over ~150 000
            # such objects paused requests for hundreds of milliseconds under load.
            gc.collect()
            gc.freeze()
            tasks.append(asyncio.create_task(_freeze_settled(), name="gc:settle"))
        try:
            yield
        finally:
            if realtime is not None:
                await realtime.close()
            await cancel_and_wait(tasks)
            if proxy is not None:
                await proxy.close()
            if limiter is not None:
                await limiter.close()
            await platform.close()
            log.info("stopped", mode=service)

    app = GatewayApp(
        title="cryptodash" if service == ALL_IN_ONE else f"cryptodash {service}",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        # Authenticated by default: a route opts out with `cryptodash.auth.Public`.
        dependencies=[Depends(authorize)],
        # FastAPI's OpenTelemetry bridge asks on every request whether a provider was set up
        # (none is; /metrics is Prometheus): a few percent of a cached read.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.platform = platform
    app.state.realtime = realtime
    document_error_body(app)
    install_error_handlers(app)
    # Requests are matched against the routes in order (no two routers share a path): the
    # domains' API first, probes and WebSocket upgrades after. Matching tries every route of
    # each router before the one that matches (56 route matches for a portfolio read, a
    # quarter of its CPU), so the domain whose requests reach the app most often comes first:
    # the portfolio's writes and per-user reads (the edge answers the public reads).
    for domain in sorted(domains, key=lambda d: d.name != "portfolio"):
        for router in domain.routers():
            app.include_router(router)
    app.include_router(health_router)
    if realtime is not None:
        app.include_router(ws_router)
    if service in (ALL_IN_ONE, "gateway"):
        app.include_router(meta_router)  # before the split gateway's /api proxy
    if proxy is not None:
        app.mount("/api", proxy)  # after the gateway's own /api/docs and /api/openapi.json
    if service in (ALL_IN_ONE, "gateway"):
        # The web app answers what no route matches (the router's fallback, not a mount).
        serve_frontend(app, settings.frontend_dir or default_frontend_dir())

    # One middleware for the whole edge pipeline (request id, CORS, rate limit, body limit,
    # edge cache, security headers, metrics, access log), in front of FastAPI's own stack:
    # see `gateway.middleware.Gateway`.
    rate_limits = (
        RateLimits(limiter, settings=settings, jwt_secret=jwt_secret, metrics=platform.metrics)
        if limiter is not None
        else None
    )
    app.install_gateway(
        metrics=platform.metrics,
        max_body_bytes=settings.max_body_bytes,
        cors=Cors(app, settings.cors_origins),
        rate_limits=rate_limits,
        access_log=settings.access_log,
        access_log_sample=settings.access_log_sample,
        edge=EdgeCache(check_private=private_answer_check(platform))
        if settings.edge_cache
        else None,
    )
    return app
