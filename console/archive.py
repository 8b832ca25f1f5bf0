"""Archivists' pages: sealed volumes (download, validate and receive, fixity history), pending lookup
requests to approve or reject, and the access register (查阅登记簿) with its Excel export.

The functions before the routes are shared with the JSON API (console/api.py), so a page and its API
route do the same thing.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from console.auth import DbSession, Principal, check_csrf, require
from console.pages import back, render
from core.clock import to_local, utcnow
from core.settings import Settings
from exports import fixity
from exports.models import FixityEvent, Volume, VolumeStatus
from exports.receive import receive
from feedback.models import Person
from lookups import identity, register, service
from lookups import texts as lt
from lookups.models import LookupRequest

router = APIRouter(prefix="/console", include_in_schema=False)
ARCHIVISTS = ("archivist",)

VOLUME_STATUS = {
    VolumeStatus.building: "立卷中",
    VolumeStatus.sealed: "已封卷",
    VolumeStatus.received: "已接收",
}
EVENT_TYPES = {"compile": "封卷", "fixity_check": "定期核验", "receipt": "接收核验"}
OUTCOMES = {"pass": "通过", "fail": "不通过"}
CHANNELS = {"canteen": "食堂", "meeting": "会务"}
RETENTION = {"Y": "永久", "D30": "30年", "D10": "10年"}
NOT_FOUND = "没有这个案卷"
REJECT_NEEDS_REASON = "驳回查阅申请请填写理由"


class DecisionError(Exception):
    """A lookup decision the console refuses; the message is for the archivist."""


def when(dt: datetime | None, settings: Settings, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time as local text, or empty."""
    return to_local(dt, settings.tz).strftime(fmt) if dt else ""


def volumes(db: Session) -> list[Volume]:
    """Every volume, newest first."""
    return list(db.execute(select(Volume).order_by(col(Volume.id).desc())).scalars())


def volume_by_code(db: Session, code: str) -> Volume:
    """A volume by its 档号, or 404."""
    vol = db.execute(select(Volume).where(col(Volume.archival_code) == code)).scalar_one_or_none()
    if vol is None:
        raise HTTPException(404, NOT_FOUND)
    return vol


def fixity_events(db: Session, code: str) -> list[FixityEvent]:
    """A volume's fixity and receipt events, newest first."""
    return list(
        db.execute(
            select(FixityEvent)
            .where(col(FixityEvent.archival_code) == code)
            .order_by(col(FixityEvent.id).desc())
        ).scalars()
    )


def sealed_file(settings: Settings, vol: Volume) -> Path:
    """The sealed workbook on disk, or 404 (not sealed yet, or missing)."""
    if vol.status not in (VolumeStatus.sealed, VolumeStatus.received):
        raise HTTPException(404, "案卷尚未封卷")
    base = Path(settings.data_dir).resolve()
    path = (base / vol.file_name).resolve()
    if base not in path.parents or not path.is_file():
        raise HTTPException(404, "电子文件缺失")
    return path


def receive_volume(
    db: Session, engine: Engine, settings: Settings, who: Principal, code: str
) -> fixity.Report:
    """Validate and receive a volume as the signed-in archivist (检查人 = display name); like `houqin receive`.

    Raises HTTPException 404 for an unknown 档号; fixity.FixityError (ReceiptRefused) when refused outright.
    """
    volume_by_code(db, code)
    db.commit()  # end the request's transaction: receive works in its own (SQLite has one writer)
    try:
        return receive(engine, settings=settings, archival_code=code, by=who.user.display_name)
    except fixity.UnknownVolume as exc:
        raise HTTPException(404, NOT_FOUND) from exc


def approver(who: Principal) -> Person:
    """The signed-in archivist as the register's approver (never stored: the console role is the authority);
    carries the account's own Person id, so nobody approves their own request."""
    return Person(id=who.user.person_id, name=who.user.display_name, roles="archivist")


def account(who: Principal) -> str:
    """The console account as the register records it."""
    return f"console:{who.user.username}"


def lookup_by_no(db: Session, register_no: str) -> LookupRequest:
    """A lookup request by 登记号, or 404."""
    req = db.execute(
        select(LookupRequest).where(col(LookupRequest.register_no) == register_no.strip().upper())
    ).scalar_one_or_none()
    if req is None:
        raise HTTPException(404, lt.DECIDE_UNKNOWN.format(no=register_no))
    return req


def decide_lookup(
    db: Session, settings: Settings, who: Principal, *, register_no: str, approve: bool, reason: str
) -> LookupRequest:
    """Approve or reject a pending request and notify the requester through the outbox (as 审批 does)."""
    req = lookup_by_no(db, register_no)
    reason = reason.strip()
    if not approve and not reason:
        raise DecisionError(REJECT_NEEDS_REASON)
    try:
        req = service.decide(
            db,
            register_no=req.register_no,
            approve=approve,
            approver=approver(who),
            reason=reason,
            settings=settings,
            approver_account=account(who),
        )
    except service.LookupError_ as exc:
        raise DecisionError(str(exc)) from exc
    service.notify_decision(db, settings=settings, req=req)
    return req


def lookups(db: Session, *, pending: bool | None = None, limit: int = 200) -> list[LookupRequest]:
    """Lookup requests, newest first: only pending, only decided, or all."""
    query = select(LookupRequest).order_by(col(LookupRequest.id).desc()).limit(limit)
    if pending is True:
        query = query.where(col(LookupRequest.decision) == "pending")
    elif pending is False:
        query = query.where(col(LookupRequest.decision) != "pending")
    return list(db.execute(query).scalars())


def register_rows(db: Session, year: int) -> list[LookupRequest]:
    """The year's register rows (登记号 CY<year>-…), oldest first."""
    return list(
        db.execute(
            select(LookupRequest)
            .where(col(LookupRequest.register_no).like(f"CY{year}-%"))
            .order_by(col(LookupRequest.id))
        ).scalars()
    )


def export_file(db: Session, settings: Settings, year: int) -> Path:
    """Write the year's register workbook (an `export` register entry is appended); the caller commits."""
    path = settings.data_dir / "registers" / f"查阅登记簿-{year}.xlsx"
    register.export_register(db, year=year, settings=settings, path=path)
    return path


def this_year(settings: Settings) -> int:
    """The local year now."""
    return to_local(utcnow(), settings.tz).year


def _volume_row(v: Volume, settings: Settings) -> dict[str, Any]:
    return {
        "code": v.archival_code,
        "title": v.title,
        "period": v.period,
        "item_count": v.item_count,
        "status": v.status,
        "status_label": VOLUME_STATUS.get(VolumeStatus(v.status), v.status),
        "sealed_at": when(v.sealed_at, settings),
        "received_at": when(v.received_at, settings),
        "received_by": v.received_by or "",
        "channel": CHANNELS.get(v.channel, v.channel),
    }


def _event_row(e: FixityEvent, settings: Settings) -> dict[str, Any]:
    return {
        "at": when(e.at, settings),
        "type": EVENT_TYPES.get(e.event_type, e.event_type),
        "outcome": OUTCOMES.get(e.outcome, e.outcome),
        "ok": e.outcome == "pass",
        "agent": e.agent,
        "detail": e.detail,
    }


def _lookup_row(r: LookupRequest, settings: Settings) -> dict[str, Any]:
    return {
        "no": r.register_no,
        "requested_at": when(r.requested_at, settings),
        "channel": lt.CHANNEL.get(r.channel, r.channel),
        "requester": r.requester_name,
        "department": r.department,
        "purpose": r.purpose,
        "use_mode": r.use_mode,
        "code": r.archival_code,
        "title": r.title,
        "decision": lt.STATUS.get(r.decision, r.decision),
        "pending": r.decision == "pending",
        "approver": r.approver or "",
        "decided_at": when(r.decided_at, settings),
        "conditions": r.conditions,
        "expires": when(r.access_expires_at, settings),
        "accesses": r.accesses,
        "revoked": r.revoked_at is not None,
        "revocable": r.decision == "approved" and r.revoked_at is None,
    }


# --- pages --------------------------------------------------------------------------------------------


@router.get("/volumes")
def volumes_page(request: Request, db: DbSession, who: Principal = Depends(require(*ARCHIVISTS))) -> Response:
    """Bound volumes: status, item count, sealed and received times, 检查人; download and receive."""
    settings: Settings = request.app.state.settings
    rows = [_volume_row(v, settings) for v in volumes(db)]
    return render(request, "volumes.html", who, rows=rows)


@router.get("/volumes/{code}")
def volume_page(
    code: str, request: Request, db: DbSession, who: Principal = Depends(require(*ARCHIVISTS))
) -> Response:
    """One volume: its description, seal digests and fixity history."""
    settings: Settings = request.app.state.settings
    return _volume_detail(request, db, settings, who, volume_by_code(db, code))


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
        retention=RETENTION.get(vol.retention, vol.retention),
        date_from=f"{vol.date_from:%Y-%m-%d}",
        date_to=f"{vol.date_to:%Y-%m-%d}",
        events=[_event_row(e, settings) for e in fixity_events(db, vol.archival_code)],
    )
    resp.status_code = status_code
    return resp


@router.get("/volumes/{code}/download")
def volume_download(
    code: str, request: Request, db: DbSession, who: Principal = Depends(require(*ARCHIVISTS))
) -> Response:
    """The sealed .xlsx."""
    vol = volume_by_code(db, code)
    path = sealed_file(request.app.state.settings, vol)
    return FileResponse(
        path,
        filename=f"{vol.archival_code}.xlsx",
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@router.post("/volumes/{code}/receive")
def volume_receive(
    code: str,
    request: Request,
    db: DbSession,
    csrf: Annotated[str, Form()] = "",
    who: Principal = Depends(require(*ARCHIVISTS)),
) -> Response:
    """Validate the bag, digests, numbering and chain; when all pass, record the receipt (检查人 = you)."""
    check_csrf(who, csrf)
    settings: Settings = request.app.state.settings
    try:
        report = receive_volume(db, request.app.state.engine, settings, who, code)
    except fixity.FixityError as exc:
        return back(f"/console/volumes/{code}", str(exc), error=True)
    if report.received:
        return back(f"/console/volumes/{code}", f"已接收，检查人：{who.user.display_name}")
    vol = volume_by_code(db, code)
    return _volume_detail(
        request, db, settings, who, vol, problems=[p for _, p in report.problems], status_code=409
    )


@router.get("/lookups")
def lookups_page(request: Request, db: DbSession, who: Principal = Depends(require(*ARCHIVISTS))) -> Response:
    """Pending lookup requests to approve or reject, and the latest decisions."""
    settings: Settings = request.app.state.settings
    return render(
        request,
        "lookups.html",
        who,
        pending=[_lookup_row(r, settings) for r in lookups(db, pending=True)],
        decided=[_lookup_row(r, settings) for r in lookups(db, pending=False, limit=20)],
    )


@router.post("/lookups/{register_no}/decision")
def lookup_decide(
    register_no: str,
    request: Request,
    db: DbSession,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    who: Principal = Depends(require(*ARCHIVISTS)),
) -> Response:
    """同意 or 驳回; the requester is notified through the outbox."""
    check_csrf(who, csrf)
    if decision not in ("approve", "reject"):
        raise HTTPException(400, "请选择同意或驳回")
    try:
        req = decide_lookup(
            db,
            request.app.state.settings,
            who,
            register_no=register_no,
            approve=decision == "approve",
            reason=reason,
        )
    except DecisionError as exc:
        db.rollback()
        return back("/console/lookups", str(exc), error=True)
    db.commit()
    done = lt.STATUS[req.decision].removeprefix("已")
    return back("/console/lookups", f"已{done}查阅申请 {req.register_no}，已通知申请人")


@router.get("/register")
def register_page(
    request: Request, db: DbSession, who: Principal = Depends(require(*ARCHIVISTS))
) -> Response:
    """The access register (查阅登记簿) of a year, with its export."""
    settings: Settings = request.app.state.settings
    raw = request.query_params.get("year", "")
    year = int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2200 else this_year(settings)
    rows = [_lookup_row(r, settings) for r in register_rows(db, year)]
    return render(
        request,
        "register.html",
        who,
        rows=rows,
        year=year,
        headers=lt.REGISTER_HEADERS,
        title=lt.REGISTER_TITLE.format(fonds=settings.fonds_name, year=year),
        years=list(range(this_year(settings), this_year(settings) - 6, -1)),
    )


@router.post("/register/export")
def register_export(
    request: Request,
    db: DbSession,
    year: Annotated[int, Form(ge=2000, le=2200)],
    csrf: Annotated[str, Form()] = "",
    who: Principal = Depends(require(*ARCHIVISTS)),
) -> Response:
    """Download the year's register as .xlsx (the export itself is entered in the register)."""
    check_csrf(who, csrf)
    path = export_file(db, request.app.state.settings, year)
    db.commit()
    return FileResponse(
        path,
        filename=path.name,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


# --- issue 11: revocable links and one-time binding codes -------------------------------------------------


@router.post("/lookups/{register_no}/revoke")
def lookup_revoke(
    register_no: str,
    request: Request,
    db: DbSession,
    csrf: Annotated[str, Form()] = "",
    who: Principal = Depends(require(*ARCHIVISTS)),
) -> Response:
    """Revoke an approved request's link at once; entered in the register with your account."""
    check_csrf(who, csrf)
    req = lookup_by_no(db, register_no)
    try:
        service.revoke(db, register_no=req.register_no, by=account(who))
    except service.LookupError_ as exc:
        db.rollback()
        return back("/console/lookups", str(exc), error=True)
    db.commit()
    return back("/console/lookups", lt.REVOKE_OK.format(no=req.register_no))


@router.get("/binding")
def binding_page(request: Request, who: Principal = Depends(require(*ARCHIVISTS))) -> Response:
    """Issue a one-time binding code (验证码) to a staff member, who sends 绑定 工号 姓名 验证码."""
    return render(request, "binding.html", who, issued=None)


@router.post("/binding")
def binding_issue(
    request: Request,
    db: DbSession,
    staff_no: Annotated[str, Form(max_length=40)] = "",
    csrf: Annotated[str, Form()] = "",
    who: Principal = Depends(require(*ARCHIVISTS)),
) -> Response:
    """The code is shown once, here; only its hash is kept; it works once, for 24 hours."""
    check_csrf(who, csrf)
    settings: Settings = request.app.state.settings
    try:
        person, code, expires = identity.issue_bind_code(
            db, staff_no=staff_no.strip(), issued_by=account(who)
        )
    except identity.BindError as exc:
        db.rollback()
        return back("/console/binding", str(exc), error=True)
    db.commit()
    issued = {
        "name": person.name,
        "staff_no": person.staff_no,
        "code": code,
        "expires": when(expires, settings),
    }
    resp = render(request, "binding.html", who, issued=issued)
    resp.headers["cache-control"] = "no-store"
    return resp
