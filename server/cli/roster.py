"""Archive lookups' records: `houqin staff import` (the staff roster that 绑定 checks against) and
`houqin register export` (the year's access register as a workbook); lookups/ does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.db import unit_of_work
from server.cli.common import load_settings, ready_engine


def staff_import(
    path: Annotated[
        Path, typer.Argument(help="roster .xlsx: columns 工号, 姓名, 部门, optional 角色 (档案员)")
    ],
) -> None:
    """Import the staff roster (职工名册) that 绑定 checks against."""
    from lookups.identity import RosterError, import_roster

    settings = load_settings()
    engine = ready_engine(settings)
    try:
        with unit_of_work(engine) as session:
            result = import_roster(session, path=path)
    except RosterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"职工名册：新增 {result.added}，更新 {result.updated} / roster: {result.added} added, {result.updated} updated"
    )


def register_export(
    year: Annotated[int, typer.Option(help="年度")],
    out: Annotated[Path | None, typer.Option(help="Where to write the .xlsx")] = None,
) -> None:
    """Write the year's access register (查阅登记簿) as an Excel workbook."""
    from lookups.register import export_register

    settings = load_settings()
    engine = ready_engine(settings)
    path = out or settings.data_dir / "registers" / f"查阅登记簿-{year}.xlsx"
    with unit_of_work(engine) as session:
        n = export_register(session, year=year, settings=settings, path=path)
    typer.echo(f"{path}：{n} 条登记 / {n} rows")
