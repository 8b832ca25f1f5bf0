"""The outage spool's operator commands (issue 11): `houqin spool status` (what the spool holds) and
`houqin spool replay-dead` (feeding dead letters back once their cause is fixed)."""

from __future__ import annotations

import json

import typer

from handlers.routes import build_router
from ingest.delivery import Delivery, Result
from ingest.replay import replay_dead
from ingest.spool import status
from ingest.writer import process_batch
from server.cli.common import load_settings, ready_engine


def spool_status(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Lines waiting, the oldest one's age, spool files, and dead letters (exit 1 when any dead letter)."""
    st = status(load_settings().data_dir / "spool")
    if as_json:
        typer.echo(json.dumps(st.__dict__))
    else:
        age = "-" if st.oldest_age_s is None else f"{st.oldest_age_s:.0f} s"
        typer.echo(
            f"waiting: {st.depth} in {st.files} file(s), oldest {age}; dead letters: {st.dead_letters}"
        )
    if st.dead_letters:
        raise typer.Exit(1)


def spool_replay_dead() -> None:
    """Store the dead letters once their cause is fixed (idempotent); those still failing are kept."""
    settings = load_settings()
    engine = ready_engine(settings)
    router = build_router()

    def ingest(deliveries: list[Delivery]) -> list[Result]:
        return process_batch(engine, deliveries, router=router, settings=settings)

    stored, kept = replay_dead(settings.data_dir / "spool", ingest)
    typer.echo(f"dead letters stored: {stored}; kept (still not storable or damaged): {kept}")
    if kept:
        raise typer.Exit(1)
