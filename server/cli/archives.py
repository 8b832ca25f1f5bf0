"""The archive desk's commands: `houqin compile` (seal a month's volumes), `houqin verify` (re-validate
volumes or the access register), `houqin receive` (the archivist's receipt) and `houqin volumes` (the list).
The archival regime is described in docs/archival.md."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlmodel import Session

from server.cli.common import load_settings, ready_engine


def compile_command(
    period: Annotated[str, typer.Option(help="The month to compile, YYYY-MM")],
    channel: Annotated[str | None, typer.Option(help="canteen or meeting (default: both)")] = None,
) -> None:
    """Compile a month's closed feedback into sealed volumes (案卷) and their BagIt bags."""
    from exports.seal import SealRefused, compile_period

    settings = load_settings()
    engine = ready_engine(settings)
    if channel is not None and channel not in settings.channel_codes:
        typer.echo(
            f"error: channel must be one of {', '.join(settings.channel_codes)}, got {channel!r}", err=True
        )
        raise typer.Exit(2)
    try:
        result = compile_period(engine, settings=settings, period=period, channel=channel)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except SealRefused as exc:  # the 归档 四性检测 failed: nothing sealed, the next compile retries
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for code in result.volumes:
        typer.echo(f"已封卷 sealed: {code}")
    if not result.volumes:
        typer.echo(f"{period} 无新的已办结反馈可立卷 / nothing new to bind for {period}")
    typer.echo(
        f"{len(result.volumes)} 卷 volumes, {result.items} 条 items; 未办结未入卷 open items left out: {result.open_items}"
    )


def verify_command(
    archival_code: Annotated[
        str | None, typer.Argument(help="档号 of one volume (default: every sealed volume)")
    ] = None,
    register: Annotated[
        bool, typer.Option("--register", help="Verify the access register (查阅登记簿) instead")
    ] = False,
    report_file: Annotated[
        Path | None,
        typer.Option("--report", help="Write the 四性检测 report (DA/T 70-2018) of the volume(s) as JSON"),
    ] = None,
) -> None:
    """Re-validate sealed volumes (bag, digests, seal, numbering, hash chain), or the access register; exit 1 on any problem."""
    from exports.fixity import FixityError, verify

    settings = load_settings()
    engine = ready_engine(settings)
    if register:
        _verify_register(engine)
        return
    try:
        report = verify(engine, settings=settings, archival_code=archival_code, agent=settings.fixity_agent)
    except FixityError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if report_file is not None:  # issue 14: one report for one volume, a list for several
        import json

        body = report.reports[0] if archival_code and report.reports else report.reports
        report_file.write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")
    for code, problem in report.problems:
        typer.echo(f"{code}: {problem}")
    if report.ok:
        typer.echo(f"已核验 {report.checked} 卷，全部通过 / {report.checked} volumes checked, all passed")
        return
    typer.echo(
        f"已核验 {report.checked} 卷，{report.failed} 个档号有问题 / {report.checked} volumes checked, "
        f"problems with {report.failed}",
        err=True,
    )
    raise typer.Exit(1)


def _verify_register(engine: Engine) -> None:
    """`houqin verify --register`: re-check the access register's hash chain; exit 1 on any problem."""
    from lookups.register import verify_register

    with Session(engine) as session:
        report = verify_register(session)
    for problem in report.problems:
        typer.echo(problem)
    if report.ok:
        typer.echo(f"登记簿 {report.entries} 条记录、{report.requests} 个申请，核验通过 / register verified")
        return
    typer.echo(f"登记簿核验发现 {len(report.problems)} 处问题 / register problems found", err=True)
    raise typer.Exit(1)


def receive_command(
    archival_code: Annotated[str, typer.Argument(help="档号 of the volume to receive")],
    by: Annotated[str, typer.Option("--by", help="检查人: who receives it")],
) -> None:
    """Check a sealed volume and record its receipt (检查人, time); exit 1 when refused."""
    from exports.fixity import FixityError, ReceiptRefused
    from exports.receive import receive

    settings = load_settings()
    engine = ready_engine(settings)
    try:
        report = receive(engine, settings=settings, archival_code=archival_code, by=by)
    except ReceiptRefused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    except FixityError as exc:  # unknown 档号, no 检查人
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not report.ok:
        for _, problem in report.problems:
            typer.echo(f"{archival_code}: {problem}")
        typer.echo(f"未接收，案卷仍为已封卷 / not received: {archival_code} stays sealed", err=True)
        raise typer.Exit(1)
    typer.echo(f"已接收 received: {archival_code}（检查人 {by.strip()}）")


def volumes_command(
    period: Annotated[str | None, typer.Option(help="Only this month, YYYY-MM")] = None,
) -> None:
    """List bound volumes: 档号, period, items, status, sealed and received."""
    from sqlalchemy import select
    from sqlmodel import col

    from core.clock import to_local
    from exports.models import Volume

    settings = load_settings()
    engine = ready_engine(settings)
    query = select(Volume).order_by(col(Volume.id))
    if period is not None:
        query = query.where(col(Volume.period) == period)
    with Session(engine) as session:
        volumes = list(session.execute(query).scalars())
    if not volumes:
        typer.echo("尚无案卷 / no volumes yet")
        return

    def when(dt: datetime | None) -> str:
        return to_local(dt, settings.tz).strftime("%Y-%m-%d %H:%M") if dt else "—"

    for v in volumes:
        received = f"{when(v.received_at)} {v.received_by}" if v.received_at else "—"
        typer.echo(
            f"{v.archival_code}  {v.period}  {v.item_count} 条  {v.status}  封卷 sealed {when(v.sealed_at)}  "
            f"接收 received {received}"
        )
