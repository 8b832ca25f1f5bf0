"""What every `houqin` command starts with: the settings, or exit 2 with the one line to fix; a database
engine that answers, or exit 2."""

from __future__ import annotations

import typer
from sqlalchemy import Engine

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
    engine = make_engine(settings.database_url)
    try:
        check_connection(engine)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return engine
