"""Running houqin: `houqin db upgrade`, `houqin serve` (the web app, with the scheduler in one worker),
`houqin scheduler` (the scheduler alone) and `houqin jobs` (the latest scheduled runs)."""

from __future__ import annotations

import logging
import signal
import socket
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from core.migrate import upgrade
from core.settings import ConfigError
from server.cli.common import load_settings, ready_engine


def db_upgrade() -> None:
    """Apply every migration (creates the database on first use)."""
    settings = load_settings()
    ready_engine(settings)
    upgrade(settings.database_url)
    typer.echo("database is up to date")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (use PostgreSQL when > 1)")] = 1,
    migrate: Annotated[bool, typer.Option(help="Apply migrations first")] = True,
    scheduler: Annotated[
        bool, typer.Option(help="Run the scheduler in this process (only with one worker)")
    ] = True,
) -> None:
    """Run the web app (webhook, simulator, console, API) and the scheduler."""
    import uvicorn

    settings = load_settings()
    engine = ready_engine(settings)
    if migrate:
        upgrade(settings.database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from core.logs import setup_logging, uvicorn_log_config

    setup_logging()  # JSON lines; uvicorn_log_config() below does the same in every worker
    if workers > 1:
        _prometheus_multiprocess(settings.data_dir / "prometheus")
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    if settings.simulator_enabled:
        typer.echo(f"houqin is running: open http://{shown}:{port}/simulator to chat as a diner")
    typer.echo(f"API docs: http://{shown}:{port}/docs   database: {settings.database_url}")
    runner = None
    if workers > 1:
        # one scheduler per worker would run every job once per worker: it runs as its own process
        typer.echo("scheduler: not started with --workers > 1; run `houqin scheduler` as its own process")
    elif scheduler:
        from server.scheduler import start_in_thread

        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        runner = start_in_thread(engine, settings)
        # uvicorn re-raises the SIGTERM it caught after its graceful shutdown: make that an exception so
        # the scheduler below is stopped too, instead of the process dying on the spot
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    else:
        typer.echo("scheduler: off (--no-scheduler); run `houqin scheduler` for scheduled jobs")
    options = dict(
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        log_config=uvicorn_log_config(),
    )
    try:
        if workers > 1 and hasattr(socket, "SO_REUSEPORT"):
            from server import workers as multi

            multi.run(uvicorn.Config("server.asgi:app", **options))  # type: ignore[arg-type]
        else:
            uvicorn.run("server.asgi:app", **options)  # type: ignore[arg-type]
    finally:
        if runner is not None:
            thread, stop = runner
            stop.set()
            thread.join(timeout=60)


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _prometheus_multiprocess(default: Path) -> None:
    """Workers share their metrics through files (prometheus_client's multiprocess mode): point
    PROMETHEUS_MULTIPROC_DIR at a folder, unless set already, and clear what a previous run left there."""
    import os

    folder = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(default)))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)


def scheduler_command() -> None:
    """Run the scheduler alone (volume compilation, fixity audits, outbox) until SIGTERM or Ctrl-C."""
    from server.scheduler import run_scheduler

    settings = load_settings()
    engine = ready_engine(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # APScheduler logs every 30-second outbox tick at INFO; houqin.scheduler says what matters
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        run_scheduler(engine, settings)
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


def jobs_command(
    limit: Annotated[int, typer.Option(min=1, help="How many runs to show")] = 20,
) -> None:
    """List the latest scheduled job runs: job, period, status, started, finished, counts, error."""
    from core.clock import to_local
    from core.jobs import recent_runs

    settings = load_settings()
    engine = ready_engine(settings)
    runs = recent_runs(engine, limit=limit)
    if not runs:
        typer.echo("no job runs yet")
        return

    def when(dt: datetime | None) -> str:
        return to_local(dt, settings.tz).strftime("%Y-%m-%d %H:%M:%S") if dt else "-"

    for run in runs:
        error = (run.error or "").strip().splitlines()
        typer.echo(
            f"{run.job:<8} {run.period:<9} {run.status:<9} started {when(run.started_at)}  "
            f"finished {when(run.finished_at)}  counts {run.counts}"
            + (f"  error {error[0][:200]}" if error else "")
        )
