"""`houqin demo`: fill a development database with demo data (server/demo/) and one console account per
role; refused on a production database."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlmodel import Session

from console.passwords import DEMO_PASSWORD  # one definition, refused in production
from core.db import unit_of_work
from core.migrate import upgrade
from core.settings import Settings
from server.cli.common import load_settings, ready_engine

DEMO_ACCOUNTS = (
    ("admin", "admin", "系统管理员"),
    ("canteen", "canteen_manager", "李经理"),
    ("reception", "reception_manager", "赵主任"),
    ("archivist", "archivist", "王档案"),
)


def demo(
    count: Annotated[int, typer.Option(min=1, help="How many feedbacks to create")] = 400,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data")] = 2026,
    force: Annotated[
        bool, typer.Option("--force", help="Add demo data even when some is already there")
    ] = False,
    migrate: Annotated[bool, typer.Option(help="Apply migrations first")] = True,
    months: Annotated[
        int | None,
        typer.Option(
            min=1, max=120, help="Spread over this many months, written in bulk (no photos): for scale"
        ),
    ] = None,
) -> None:
    """Fill the database with a realistic month of demo feedback (演示数据) so a newcomer can look around."""
    from server.demo.fill import demo_feedback_count, fill_demo

    settings = load_settings()
    if settings.env == "production":
        typer.echo("error: demo data is not for a production database", err=True)
        raise typer.Exit(2)
    engine = ready_engine(settings)
    if migrate:
        upgrade(settings.database_url)
    today = datetime.now(settings.tz).date()
    with unit_of_work(engine) as session:
        existing = demo_feedback_count(session)
        if existing and not force:
            typer.echo(
                f"数据库已有 {existing} 条演示反馈，未重复生成 / the database already has {existing} demo "
                "feedbacks: nothing added (use --force to add more)",
                err=True,
            )
            raise typer.Exit(1)
        if months is None:
            s = fill_demo(session, settings=settings, count=count, seed=seed, today=today)
            accounts = _demo_accounts(session)
    if months is not None:  # issue 13: a million in minutes, multi-row inserts per chunk
        _bulk_demo(engine, settings, count=count, months=months, seed=seed, today=today)
        return
    typer.echo(
        f"演示数据已生成 demo data: {s.sites} 个场所 sites, {s.meetings} 场会议 meetings, {s.feedbacks} 条反馈 "
        f"feedbacks, {s.photos} 张照片 photos ({s.first_day} – {s.last_day})"
    )
    if accounts:
        typer.echo(f"控制台演示账号 console demo accounts (password {DEMO_PASSWORD}): {', '.join(accounts)}")
    typer.echo("下一步 next: houqin serve，然后打开 then open http://localhost:8000/simulator")


def _bulk_demo(
    engine: Engine, settings: Settings, *, count: int, months: int, seed: int, today: date
) -> None:
    """`houqin demo --months M`: the bulk generator (server/demo/bulk.py), with the console accounts."""
    from server.demo.bulk import fill_bulk

    started = datetime.now()
    b = fill_bulk(engine, settings=settings, count=count, months=months, seed=seed, today=today)
    with unit_of_work(engine) as session:
        accounts = _demo_accounts(session)
    typer.echo(
        f"演示数据已生成 demo data (bulk): {b.feedbacks} 条反馈 feedbacks, {b.events} 条处理记录 events "
        f"({b.first_day} – {b.last_day}) in {(datetime.now() - started).total_seconds():.0f} s"
    )
    if accounts:
        typer.echo(f"控制台演示账号 console demo accounts (password {DEMO_PASSWORD}): {', '.join(accounts)}")


def _demo_accounts(session: Session) -> list[str]:
    """One console account per role, when the database has none (development only)."""
    from sqlalchemy import select
    from sqlmodel import col

    from console.auth import create_user
    from console.models import ConsoleUser

    if session.execute(select(col(ConsoleUser.id))).first() is not None:
        return []
    for username, role, name in DEMO_ACCOUNTS:
        create_user(
            session, username=username, password=DEMO_PASSWORD, role=role, display_name=name, _demo=True
        )
    return [f"{u} ({r})" for u, r, _ in DEMO_ACCOUNTS]
