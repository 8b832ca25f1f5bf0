"""`houqin spool status|replay-dead`: what the outage spool holds, and feeding dead letters back (issue 11)."""

from __future__ import annotations

import json

import typer

from bot.ingest import Delivery, Result, process_batch
from core.settings import Settings
from handlers.routes import build_router
from ingest.replay import replay_dead
from ingest.spool import status

spool_app = typer.Typer(help="The outage spool (deliveries kept on disk while the database is down).")


def _settings() -> Settings:
    from server.cli import _settings as settings

    return settings()


@spool_app.command("status")
def spool_status(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Lines waiting, the oldest one's age, spool files, and dead letters (exit 1 when any dead letter)."""
    st = status(_settings().data_dir / "spool")
    if as_json:
        typer.echo(json.dumps(st.__dict__))
    else:
        age = "-" if st.oldest_age_s is None else f"{st.oldest_age_s:.0f} s"
        typer.echo(
            f"waiting: {st.depth} in {st.files} file(s), oldest {age}; dead letters: {st.dead_letters}"
        )
    if st.dead_letters:
        raise typer.Exit(1)


@spool_app.command("replay-dead")
def spool_replay_dead() -> None:
    """Store the dead letters once their cause is fixed (idempotent); those still failing are kept."""
    from server.cli import _ready_engine

    settings = _settings()
    engine = _ready_engine(settings)
    router = build_router()

    def ingest(deliveries: list[Delivery]) -> list[Result]:
        return process_batch(engine, deliveries, router=router, settings=settings)

    stored, kept = replay_dead(settings.data_dir / "spool", ingest)
    typer.echo(f"dead letters stored: {stored}; kept (still not storable or damaged): {kept}")
    if kept:
        raise typer.Exit(1)
