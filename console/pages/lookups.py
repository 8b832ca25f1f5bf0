"""Archivists' lookup pages: pending lookup requests to approve or reject, revoking an approved link, the
access register (查阅登记簿) with its Excel export, and one-time binding codes for staff."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import FileResponse, Response
from sqlmodel import Session

from console import texts
from console.auth import check_csrf
from console.deps import Archivist, DbSession, SettingsDep
from console.pages.render import back, render, when
from console.queries import lookups
from console.queries.archive import XLSX
from core.settings import Settings
from lookups import effect, identity, service
from lookups import texts as lt
from lookups.models import LookupRequest

router = APIRouter(prefix="/console", include_in_schema=False)
LOOKUPS = "/console/lookups"


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
        # 利用效果反馈 (issue 14): the answer, its note and time, and how the question went out
        "effect": effect.label(r),
        "effect_note": r.effect_note or "",
        "effect_at": when(r.effect_at, settings),
        "effect_via": r.effect_asked_via or "",
    }


def _then_back(db: Session, act: Callable[[], str], refused: type[Exception]) -> Response:
    """Run an action on a request: commit and flash its message on the lookups page, or roll back and
    flash why it was refused."""
    try:
        msg = act()
    except refused as exc:
        db.rollback()
        return back(LOOKUPS, str(exc), error=True)
    db.commit()
    return back(LOOKUPS, msg)


@router.get("/lookups")
def lookups_page(request: Request, db: DbSession, who: Archivist, settings: SettingsDep) -> Response:
    """Pending lookup requests to approve or reject, and the latest decisions."""
    return render(
        request,
        "lookups.html",
        who,
        pending=[_lookup_row(r, settings) for r in lookups.lookups(db, pending=True)],
        decided=[_lookup_row(r, settings) for r in lookups.lookups(db, pending=False, limit=20)],
    )


@router.post("/lookups/{register_no}/decision")
def lookup_decide(
    register_no: str,
    db: DbSession,
    who: Archivist,
    settings: SettingsDep,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """同意 or 驳回; the requester is notified through the outbox."""
    check_csrf(who, csrf)
    if decision not in ("approve", "reject"):
        raise HTTPException(400, texts.DECISION_MISSING)

    def decide() -> str:
        req = lookups.decide_lookup(
            db, settings, who, register_no=register_no, approve=decision == "approve", reason=reason
        )
        return texts.DECIDED.format(done=lt.STATUS[req.decision].removeprefix("已"), no=req.register_no)

    return _then_back(db, decide, lookups.DecisionError)


@router.get("/register")
def register_page(request: Request, db: DbSession, who: Archivist, settings: SettingsDep) -> Response:
    """The access register (查阅登记簿) of a year, with its export."""
    raw = request.query_params.get("year", "")
    this_year = lookups.this_year(settings)
    year = int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2200 else this_year
    rows = [_lookup_row(r, settings) for r in lookups.register_rows(db, year)]
    return render(
        request,
        "register.html",
        who,
        rows=rows,
        year=year,
        headers=lt.REGISTER_HEADERS,
        title=lt.REGISTER_TITLE.format(fonds=settings.fonds_name, year=year),
        years=list(range(this_year, this_year - 6, -1)),
    )


@router.post("/register/export")
def register_export(
    db: DbSession,
    who: Archivist,
    settings: SettingsDep,
    year: Annotated[int, Form(ge=2000, le=2200)],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Download the year's register as .xlsx (the export itself is entered in the register)."""
    check_csrf(who, csrf)
    path = lookups.export_file(db, settings, year)
    db.commit()
    return FileResponse(path, filename=path.name, media_type=XLSX)


# --- issue 11: revocable links and one-time binding codes -------------------------------------------------


@router.post("/lookups/{register_no}/revoke")
def lookup_revoke(
    register_no: str, db: DbSession, who: Archivist, csrf: Annotated[str, Form()] = ""
) -> Response:
    """Revoke an approved request's link at once; entered in the register with your account."""
    check_csrf(who, csrf)
    req = lookups.lookup_by_no(db, register_no)

    def revoke() -> str:
        service.revoke(db, register_no=req.register_no, by=lookups.account(who))
        return lt.REVOKE_OK.format(no=req.register_no)

    return _then_back(db, revoke, service.LookupError_)


@router.get("/binding")
def binding_page(request: Request, who: Archivist) -> Response:
    """Issue a one-time binding code (验证码) to a staff member, who sends 绑定 工号 姓名 验证码."""
    return render(request, "binding.html", who, issued=None)


@router.post("/binding")
def binding_issue(
    request: Request,
    db: DbSession,
    who: Archivist,
    settings: SettingsDep,
    staff_no: Annotated[str, Form(max_length=40)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """The code is shown once, here; only its hash is kept; it works once, for 24 hours."""
    check_csrf(who, csrf)
    try:
        person, code, expires = identity.issue_bind_code(
            db, staff_no=staff_no.strip(), issued_by=lookups.account(who)
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
