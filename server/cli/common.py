"""What every `houqin` command starts with: the settings, or exit 2 with the one line to fix; a database
engine that answers, or exit 2 (an unsupported or unparsable HOUQIN_DATABASE_URL included)."""

from __future__ import annotations

import typer
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.db import check_connection, make_engine
from core.settings import ConfigError, Settings, get_settings


def load_settings() -> Settings:
    """The settings from the environment; on a configuration error, print it and exit 2."""
    try:
        return get_settings()
    except (ConfigError, ValueError) as exc:
        msg = str(exc).strip().splitlines()
        # pydantic wraps our ConfigError: show the line that says what to fix
        line = next((m for m in msg if "HOUQIN_" in m), msg[-1] if msg else "invalid configuration")
        typer.echo(f"configuration error: {line.strip()}", err=True)
        raise typer.Exit(2) from None


def ready_engine(settings: Settings) -> Engine:
    """An engine on HOUQIN_DATABASE_URL that has answered once; exit 2 when it cannot connect."""
    try:
        engine = make_engine(settings.database_url)
    except (ConfigError, ArgumentError, ImportError) as exc:
        # mysql://…, a typo, or a driver we do not ship (postgresql+asyncpg): one line, not a traceback
        typer.echo(unsupported_database(settings.database_url, exc), err=True)
        raise typer.Exit(2) from None
    try:
        check_connection(engine)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return engine


def unsupported_database(url: str, exc: Exception) -> str:
    """The line to print for a HOUQIN_DATABASE_URL houqin cannot use (the password hidden)."""
    try:
        parsed = make_url(url)
        shown, why = parsed.render_as_string(hide_password=True), f"{parsed.drivername} is not supported"
    except ArgumentError:
        shown, why = repr(url), "not a database URL"
    if isinstance(exc, ImportError):
        why = f"its driver {exc.name!r} is not installed"
    return (
        f"configuration error: unsupported database (不支持的数据库) in HOUQIN_DATABASE_URL={shown} ({why}); "
        "houqin runs on SQLite (sqlite:///./var/houqin.db) or PostgreSQL (postgresql+psycopg://user@host/db)"
    )
