"""Places and their QR codes: `houqin site add|qr` (canteens and venues, table QR sheets),
`houqin meeting add` (a meeting, its parametric QR code and poster) and `houqin menu push` (the Official
Account menu that opens the tap-to-rate page)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from core.db import unit_of_work
from server.cli.common import load_settings, ready_engine


def site_add(
    code: Annotated[str, typer.Argument(help="Short code used in QR scenes, e.g. yst")],
    name: Annotated[str, typer.Argument(help="Name shown to diners, e.g. 机关一食堂")],
    kind: Annotated[str, typer.Option(help="canteen or venue")] = "canteen",
) -> None:
    """Add a canteen or venue."""
    from feedback.models import Site

    settings = load_settings()
    engine = ready_engine(settings)
    with unit_of_work(engine) as session:
        session.add(Site(code=code, name=name, kind=kind))
    typer.echo(f"site {code} added; its table QR scene is canteen:{code}[:<table>]")


def site_qr(
    code: Annotated[str, typer.Argument(help="the canteen's code")],
    tables: Annotated[
        str, typer.Option(help="table numbers, e.g. 1-40 or 1,3,5-8; none: one code for the canteen")
    ] = "",
    out: Annotated[Path, typer.Option(help="the sheet to write: .pdf (all pages) or .png")] = Path("qr.pdf"),
) -> None:
    """Print an A4 sheet of per-table QR codes that open the feedback form, the table number under each."""
    from feedback.service import site_by_code
    from h5.sheets import parse_tables, qr_sheets, save_sheets

    settings = load_settings()
    try:
        numbers: list[str | None] = list(parse_tables(tables)) if tables else [None]
    except ValueError:
        typer.echo(f"error: --tables {tables!r} is not like 1-40 or 1,3,5-8", err=True)
        raise typer.Exit(2) from None
    engine = ready_engine(settings)
    with Session(engine) as session:
        site = site_by_code(session, code=code)
        if site is None:
            typer.echo(f"error: no active site {code!r} (houqin site add)", err=True)
            raise typer.Exit(2)
        pages = qr_sheets(settings=settings, site_code=site.code, site_name=site.name, tables=numbers)
    save_sheets(pages, out)
    typer.echo(f"{out}: {len(numbers)} QR codes on {len(pages)} A4 page(s) for {site.name}")


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

    settings = load_settings()
    engine = ready_engine(settings)
    try:
        first = date.fromisoformat(starts)
        last = date.fromisoformat(ends) if ends else first
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        with unit_of_work(engine) as session:
            meeting = add_meeting(
                session,
                code=code,
                title=title,
                starts_on=first,
                ends_on=last,
                venue=venue,
                organiser=organiser,
            )
            qr = issue_qr(session, meeting=meeting, settings=settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    out = render_poster(meeting=meeting, qr_content=qr, settings=settings, path=poster)
    typer.echo(f"meeting {meeting.code} added; QR scene meeting:{meeting.code}; poster: {out}")


def menu_push() -> None:
    """Create the Official Account menu through WeChat's menu API (needs HOUQIN_WECHAT_APPID/SECRET)."""
    from core.wechat_api import NotConfigured
    from h5.sheets import push_menu

    settings = load_settings()
    try:
        push_menu(settings)
    except NotConfigured as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001 — WeChat's error (errcode, errmsg) in one line
        typer.echo(f"error: WeChat refused the menu: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("menu created: 评价, 我的反馈, 帮助")
