"""Archivists' volume pages: the bound volumes (status, item count, sealed and received, 检查人), one volume
with its seal digests, 四性检测 report (and its printable sheet) and fixity history, the sealed workbook, and
validate-and-receive."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, Response
from sqlmodel import Session

from console import texts
from console.auth import Principal, check_csrf
from console.deps import Archivist, DbSession, SettingsDep
from console.pages.render import back, render, when
from console.queries import archive
from core.settings import Settings
from exports import fixity
from exports.fourfold_report import RESULTS, StageReport
from exports.models import FixityEvent, Volume

router = APIRouter(prefix="/console", include_in_schema=False)


def _volume_row(v: Volume, settings: Settings) -> dict[str, Any]:
    return {
        "code": v.archival_code,
        "title": v.title,
        "period": v.period,
        "item_count": v.item_count,
        "status": v.status,
        "status_label": texts.VOLUME_STATUS.get(v.status, v.status),
        "sealed_at": when(v.sealed_at, settings),
        "received_at": when(v.received_at, settings),
        "received_by": v.received_by or "",
        "channel": texts.CHANNELS.get(v.channel, v.channel),
    }


def _event_row(e: FixityEvent, settings: Settings) -> dict[str, Any]:
    return {
        "at": when(e.at, settings),
        "type": texts.EVENT_TYPES.get(e.event_type, e.event_type),
        "outcome": texts.OUTCOMES.get(e.outcome, e.outcome),
        "ok": e.outcome == "pass",
        "agent": e.agent,
        "detail": e.detail,
    }


def _stage_view(stage: StageReport, settings: Settings) -> dict[str, Any]:
    return {
        "label": stage.label,
        "at": when(stage.at, settings),
        "agent": stage.agent,
        "failed": stage.failed,
        "not_checked": sum(1 for c in stage.checks if c["result"] == "not_checked"),
        "checks": [{**c, "result_label": RESULTS[c["result"]]} for c in stage.checks],
    }


@router.get("/volumes")
def volumes_page(request: Request, db: DbSession, who: Archivist, settings: SettingsDep) -> Response:
    """Bound volumes: status, item count, sealed and received times, 检查人; download and receive."""
    rows = [_volume_row(v, settings) for v in archive.volumes(db)]
    return render(request, "volumes.html", who, rows=rows)


@router.get("/volumes/{code}")
def volume_page(
    code: str, request: Request, db: DbSession, who: Archivist, settings: SettingsDep
) -> Response:
    """One volume: its description, seal digests and fixity history."""
    return _volume_detail(request, db, settings, who, archive.volume_by_code(db, code))


def _volume_detail(
    request: Request,
    db: Session,
    settings: Settings,
    who: Principal,
    vol: Volume,
    problems: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    resp = render(
        request,
        "volume.html",
        who,
        v=_volume_row(vol, settings),
        vol=vol,
        problems=problems or [],
        retention=texts.RETENTION.get(vol.retention, vol.retention),
        date_from=f"{vol.date_from:%Y-%m-%d}",
        date_to=f"{vol.date_to:%Y-%m-%d}",
        events=[_event_row(e, settings) for e in archive.fixity_events(db, vol.archival_code, checks=False)],
        stages=[_stage_view(s, settings) for s in archive.fourfold(db, vol.archival_code)],
    )
    resp.status_code = status_code
    return resp


@router.get("/volumes/{code}/download")
def volume_download(code: str, db: DbSession, who: Archivist, settings: SettingsDep) -> Response:
    """The sealed .xlsx."""
    vol = archive.volume_by_code(db, code)
    path = archive.sealed_file(settings, vol)
    return FileResponse(path, filename=f"{vol.archival_code}.xlsx", media_type=archive.XLSX)


@router.get("/volumes/{code}/download.pdf")
def volume_download_pdf(code: str, db: DbSession, who: Archivist, settings: SettingsDep) -> Response:
    """The sealed fixed-layout copy (PDF/A-2b), for printing."""
    vol = archive.volume_by_code(db, code)
    path = archive.sealed_pdf(settings, vol)
    return FileResponse(path, filename=f"{vol.archival_code}.pdf", media_type=archive.PDF)


@router.get("/volumes/{code}/fourfold.xlsx")
def volume_fourfold_sheet(code: str, db: DbSession, who: Archivist, settings: SettingsDep) -> Response:
    """The 四性检测 report as a printable sheet (.xlsx, A4)."""
    vol = archive.volume_by_code(db, code)
    return archive.fourfold_download(db, settings, vol)


@router.post("/volumes/{code}/receive")
def volume_receive(
    code: str,
    request: Request,
    db: DbSession,
    who: Archivist,
    settings: SettingsDep,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Validate the bag, digests, numbering and chain; when all pass, record the receipt (检查人 = you)."""
    check_csrf(who, csrf)
    try:
        report = archive.receive_volume(db, request.app.state.engine, settings, who, code)
    except fixity.FixityError as exc:
        return back(f"/console/volumes/{code}", str(exc), error=True)
    if report.received:
        return back(f"/console/volumes/{code}", texts.VOLUME_RECEIVED.format(name=who.user.display_name))
    vol = archive.volume_by_code(db, code)
    return _volume_detail(
        request, db, settings, who, vol, problems=[p for _, p in report.problems], status_code=409
    )
