"""The `cryptodash` command: up (all-in-one), serve (one split service), migrate, create-admin,
backfill."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cryptodash.config import SERVICE_PORTS, SERVICES, Settings

if TYPE_CHECKING:
    import uvicorn

cli = typer.Typer(
    name="cryptodash",
    help="Self-hostable, real-time cryptocurrency analytics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

HostOption = Annotated[str | None, typer.Option(help="Interface to listen on.")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on.")]


def _settings(**overrides: object) -> Settings:  # type: ignore[return]
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValueError as exc:
        _fail(f"invalid settings: {exc}")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"cryptodash: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def server_config(app: Any, host: str, port: int) -> uvicorn.Config:
    """How every cryptodash process serves (the tests and benches use it too).

    WebSockets: a protocol ping every 20 s, and a client that has not answered 20 s later is
    dropped; client frames up to 64 KiB (they are small requests); no per-message compression
    (each frame would be compressed once per client — fan-out CPU spent on 200-byte frames);
    uvicorn's protocol plus the raw-frame extension the hub writes through (`wsserver`).
    HTTP: httptools and uvloop (uvicorn's fastest, installed by `uvicorn[standard]`),
    and no uvicorn access log: the gateway middleware writes its own, with the request id.
    """
    import uvicorn

    from cryptodash.gateway.wsserver import FanoutWebSocketProtocol

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        http="httptools",
        loop="auto",  # uvloop where it is installed
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=10,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        ws_max_size=64 * 1024,
        ws_per_message_deflate=False,
        ws=FanoutWebSocketProtocol,
    )


EXIT_GRACE_SECONDS = 5.0
"""Once the app has shut down, how long the process may take to end before it is ended."""


def serve_app(app: Any, host: str, port: int) -> bool:
    """Serve until SIGINT/SIGTERM; False when the app did not start.

    The exit is bounded: once uvicorn has shut the app down (its lifespan closed every
    backend), a watchdog ends the process after `EXIT_GRACE_SECONDS` if the event loop's
    teardown is still waiting. What it waits on is a leftover task that outlives its
    cancellation — aiosqlite's `close()` racing its own `stop()` after SQLAlchemy terminated a
    connection mid-query awaits a worker thread that has already ended, forever — and a
    Ctrl-C must not depend on third-party shutdown races.
    """
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await super().shutdown(sockets)
            signals = getattr(self, "_captured_signals", [])
            _exit_after(EXIT_GRACE_SECONDS, 128 + signals[-1] if signals else 0)

    server = Server(server_config(app, host, port))
    server.run()
    return server.started


def _exit_after(seconds: float, code: int) -> None:
    def expire() -> None:
        from cryptodash.platform.logging import get_logger

        get_logger(__name__).warning(
            "shutdown_forced",
            message=f"the app had shut down but the process had not ended after {seconds:g} s",
            exit_code=code,
        )
        os._exit(code)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()


def _run_server(settings: Settings, service: str, host: str, port: int) -> None:
    from cryptodash.app import SchemaBehind, create_app
    from cryptodash.platform.logging import configure_logging

    configure_logging(
        service="cryptodash" if service == "all" else service,
        level=settings.log_level,
        json=settings.log_json,
    )
    try:
        app = create_app(settings, service=service)
    except ValueError as exc:
        _fail(str(exc))
    try:
        started = serve_app(app, host, port)
    except SchemaBehind as exc:
        _fail(str(exc), code=3)
    if not started:
        # The lifespan refused to start (e.g. the schema is behind); uvicorn has logged why.
        raise typer.Exit(3)


@cli.command()
def up(
    host: HostOption = None,
    port: PortOption = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the SQLite file and the generated secret live.")
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Simulated market and demo news instead of live feeds.")
    ] = False,
) -> None:
    """Run everything in one process: API, workers and web app on one port."""
    settings = _settings(host=host, port=port, data_dir=data_dir, demo=demo or None)
    _run_server(settings, "all", settings.host, settings.port)


@cli.command()
def serve(
    service: Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICES)}.")],
    host: HostOption = None,
    port: PortOption = None,
) -> None:
    """Run one service of the split deployment (needs PostgreSQL, Kafka and Redis)."""
    if service not in SERVICES:
        _fail(f"unknown service {service!r}; choose one of {', '.join(SERVICES)}")
    from cryptodash.runtime import SERVICE_NEEDS

    settings = _settings()
    missing = settings.missing_backends(SERVICE_NEEDS[service])
    if missing:
        _fail(
            f"`serve {service}` runs split and needs real backends; set {', '.join(missing)} "
            "(use `cryptodash up` for the all-in-one mode with embedded defaults)"
        )
    postgres = (settings.database_url or "").startswith(("postgres://", "postgresql"))
    if "database" in SERVICE_NEEDS[service] and not postgres:
        _fail("split services need PostgreSQL; DATABASE_URL must be postgresql://…")
    _run_server(
        settings,
        service,
        host or settings.host,
        port or int(os.environ.get("CRYPTODASH_PORT", SERVICE_PORTS[service])),
    )


@cli.command()
def migrate(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "heads",
) -> None:
    """Upgrade the database schema (DATABASE_URL, or the all-in-one SQLite file)."""
    from cryptodash.platform import schema
    from cryptodash.platform.db import Database

    settings = _settings()
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> str:
        db = Database(settings.effective_database_url)
        try:
            await schema.upgrade(db.engine, revision)
            return (await schema.status(db.engine)).describe()
        finally:
            await db.close()

    try:
        typer.echo(f"migrated: {asyncio.run(run())}")
    except Exception as exc:
        _fail(f"migration failed: {exc}", code=1)


@cli.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Option(prompt=True, help="Admin user name.")],
    email: Annotated[str, typer.Option(prompt=True, help="Admin e-mail address.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="CRYPTODASH_ADMIN_PASSWORD",
            help="Password (prompted; or CRYPTODASH_ADMIN_PASSWORD).",
        ),
    ],
) -> None:
    """Create the first administrator (or promote an existing user to admin)."""
    from cryptodash.platform import schema
    from cryptodash.platform.db import Database
    from cryptodash.users.service import AccountError, make_admin

    settings = _settings()
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> str:
        db = Database(settings.effective_database_url)
        try:
            if not settings.database_url:
                await schema.upgrade(db.engine)
            async with db.session() as session:
                return await make_admin(
                    session, username=username, email=email, password=password, settings=settings
                )
        finally:
            await db.close()

    try:
        typer.echo(asyncio.run(run()))
    except AccountError as exc:
        _fail(str(exc))


@cli.command()
def backfill(
    days: Annotated[
        float, typer.Option(min=0, max=90, help="How many days back, at every interval.")
    ] = 1.0,
    exchange: Annotated[
        list[str] | None,
        typer.Option(help="binance or coinbase (repeatable); default: CRYPTODASH_EXCHANGES."),
    ] = None,
    coins: Annotated[
        str | None, typer.Option(help="Comma-separated coin ids; default: every tracked coin.")
    ] = None,
) -> None:
    """Fill candle history from the exchanges' REST APIs (resumes after what is stored)."""
    from cryptodash.market.coins import Universe
    from cryptodash.market.exchanges.live import backfill_history
    from cryptodash.platform import schema
    from cryptodash.platform.db import Database

    settings = _settings()
    universe = Universe.from_settings(settings)
    chosen = exchange or [e for e in universe.exchanges if e != "simulator"]
    unknown = [e for e in chosen if e not in ("binance", "coinbase")]
    if unknown or not chosen:
        _fail(f"nothing to backfill from {', '.join(unknown) or 'no exchange'}: "
              "choose binance or coinbase")  # fmt: skip
    coin_ids = [c.strip() for c in coins.split(",") if c.strip()] if coins else None
    bad = [c for c in coin_ids or () if universe.get(c) is None]
    if bad:
        _fail(f"not tracked: {', '.join(bad)} (see CRYPTODASH_COINS)")
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> int:
        db = Database(settings.effective_database_url)
        failed = 0
        try:
            if not settings.database_url:
                await schema.upgrade(db.engine)
            elif not (state := await schema.status(db.engine)).up_to_date:
                _fail(f"schema behind ({state.describe()}); run `cryptodash migrate` first", 3)
            for name in chosen:
                progress = _Progress(name)
                try:
                    report = await backfill_history(
                        settings, db, days=days, exchange=name, coin_ids=coin_ids,
                        on_plan=progress.start, on_page=progress.advance,
                    )  # fmt: skip
                finally:
                    progress.close()
                failed += report.failed_pages
                line = (
                    f"{name}: {report.candles} candles for {report.coins} coins "
                    f"({report.pages} requests, {report.failed_pages} failed)"
                )
                if report.not_listed:
                    line += f"; not listed: {', '.join(report.not_listed)}"
                typer.echo(line)
        finally:
            await db.close()
        return failed

    failed = asyncio.run(run())
    if failed:
        raise typer.Exit(1)


class _Progress:
    """A progress bar over one exchange's backfill requests."""

    def __init__(self, label: str) -> None:
        self.label = f"{label:<9}"
        self.bar: Any = None

    def start(self, pages: int) -> None:
        self.bar = typer.progressbar(length=pages, label=self.label, show_pos=True)
        self.bar.__enter__()

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def main() -> None:
    cli(prog_name="cryptodash")


if __name__ == "__main__":
    main()
