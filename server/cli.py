"""The `houqin` command line (Typer): serve, scheduler, db, meeting, site, demo, compile, verify, receive."""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated

import typer

from core.db import check_connection, make_engine, unit_of_work
from core.migrate import upgrade
from core.settings import ConfigError, Settings, get_settings

app = typer.Typer(help="houqin 后勤: WeChat feedback bot and archive desk.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
meeting_app = typer.Typer(help="Meetings (会务) and their QR codes.", no_args_is_help=True)
site_app = typer.Typer(help="Canteens and venues.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(meeting_app, name="meeting")
app.add_typer(site_app, name="site")


def _settings() -> Settings:
    try:
        return get_settings()
    except (ConfigError, ValueError) as exc:
        msg = str(exc).strip().splitlines()
        # pydantic wraps our ConfigError: show the line that says what to fix
        line = next((m for m in msg if "HOUQIN_" in m), msg[-1] if msg else "invalid configuration")
        typer.echo(f"configuration error: {line.strip()}", err=True)
        raise typer.Exit(2) from None


def _ready_engine(settings: Settings):  # type: ignore[no-untyped-def]
    engine = make_engine(settings.database_url)
    try:
        check_connection(engine)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return engine


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (creates the database on first use)."""
    settings = _settings()
    _ready_engine(settings)
    upgrade(settings.database_url)
    typer.echo("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (use PostgreSQL when > 1)")] = 1,
    migrate: Annotated[bool, typer.Option(help="Apply migrations first")] = True,
) -> None:
    """Run the web app (webhook, simulator, console, API) and the scheduler."""
    import uvicorn

    settings = _settings()
    _ready_engine(settings)
    if migrate:
        upgrade(settings.database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    if settings.simulator_enabled:
        typer.echo(f"houqin is running: open http://{shown}:{port}/simulator to chat as a diner")
    typer.echo(f"API docs: http://{shown}:{port}/docs   database: {settings.database_url}")
    uvicorn.run(
        "server.asgi:app", host=host, port=port, workers=workers, log_level="warning", access_log=False,
        proxy_headers=True,
    )


@site_app.command("add")
def site_add(
    code: Annotated[str, typer.Argument(help="Short code used in QR scenes, e.g. yst")],
    name: Annotated[str, typer.Argument(help="Name shown to diners, e.g. 机关一食堂")],
    kind: Annotated[str, typer.Option(help="canteen or venue")] = "canteen",
) -> None:
    """Add a canteen or venue."""
    from feedback.models import Site

    settings = _settings()
    engine = _ready_engine(settings)
    with unit_of_work(engine) as session:
        session.add(Site(code=code, name=name, kind=kind))
    typer.echo(f"site {code} added; its table QR scene is canteen:{code}[:<table>]")


@meeting_app.command("add")
def meeting_add(
    code: Annotated[str, typer.Argument(help="Meeting code attendees type after 会议, e.g. HY2026A")],
    title: Annotated[str, typer.Option(help="会议名称")],
    starts: Annotated[str, typer.Option(help="First day, YYYY-MM-DD")],
    ends: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (default: the first day)")] = None,
    venue: Annotated[str, typer.Option(help="会场")] = "",
    organiser: Annotated[str, typer.Option(help="主办部门")] = "",
    poster: Annotated[str | None, typer.Option(help="Write the printable QR poster PNG here")] = None,
) -> None:
    """Add a meeting, get its parametric QR code from WeChat, and print a poster."""
    from feedback.meetings import add_meeting, issue_qr, render_poster

    settings = _settings()
    engine = _ready_engine(settings)
    try:
        first = date.fromisoformat(starts)
        last = date.fromisoformat(ends) if ends else first
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        with unit_of_work(engine) as session:
            meeting = add_meeting(
                session, code=code, title=title, starts_on=first, ends_on=last, venue=venue, organiser=organiser
            )
            qr = issue_qr(session, meeting=meeting, settings=settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    out = render_poster(meeting=meeting, qr_content=qr, settings=settings, path=poster)
    typer.echo(f"meeting {meeting.code} added; QR scene meeting:{meeting.code}; poster: {out}")


if __name__ == "__main__":  # pragma: no cover - `python -m server.cli`, as the benchmarks run it
    app(prog_name="houqin")
