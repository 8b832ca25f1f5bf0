"""`/api/v1/lookups` and `/api/v1/register`: archivists' lookup requests (decide: 同意 or 驳回) and the
access register (查阅登记簿) of a year, with its Excel export."""

from __future__ import annotations

from typing import Annotated, Literal, cast

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, Response

from console import texts
from console.auth import check_csrf
from console.deps import Archivist, CsrfHeader, DbSession, SettingsDep
from console.queries import lookups
from console.queries.archive import XLSX
from console.schemas import Decision, DecisionIn, LookupOut
from lookups import effect
from lookups import texts as lt
from lookups.models import LookupRequest

router = APIRouter()


def lookup_out(r: LookupRequest) -> LookupOut:
    """A row of the access register."""
    return LookupOut(
        register_no=r.register_no,
        requested_at=r.requested_at,
        channel=r.channel,
        requester_name=r.requester_name,
        department=r.department,
        purpose=r.purpose,
        use_mode=r.use_mode,
        archival_code=r.archival_code,
        title=r.title,
        decision=cast(Decision, r.decision),
        decision_label=lt.STATUS.get(r.decision, r.decision),
        approver=r.approver,
        decided_at=r.decided_at,
        conditions=r.conditions,
        access_expires_at=r.access_expires_at,
        accesses=r.accesses,
        effect=r.effect,
        effect_label=effect.label(r),
        effect_note=r.effect_note,
        effect_at=r.effect_at,
    )


@router.get("/lookups", response_model=list[LookupOut], tags=["archive"])
def list_lookups(
    db: DbSession, who: Archivist, status: Literal["pending", "decided", "all"] = "pending"
) -> list[LookupOut]:
    """Lookup requests, newest first (default: those waiting for a decision)."""
    pending = {"pending": True, "decided": False, "all": None}[status]
    return [lookup_out(r) for r in lookups.lookups(db, pending=pending)]


@router.post(
    "/lookups/{register_no}/decision",
    response_model=LookupOut,
    tags=["archive"],
    responses={
        404: {"description": "no such request"},
        409: {"description": "already decided"},
        422: {"description": "rejecting needs a reason"},
    },
)
def decide_lookup(
    register_no: str,
    body: DecisionIn,
    db: DbSession,
    who: Archivist,
    settings: SettingsDep,
    x_csrf_token: CsrfHeader = None,
) -> LookupOut:
    """同意 or 驳回 a request; the requester is notified through the outbox (as the chat 审批 command does)."""
    check_csrf(who, x_csrf_token)
    try:
        req = lookups.decide_lookup(
            db,
            settings,
            who,
            register_no=register_no,
            approve=body.decision == "approve",
            reason=body.reason,
        )
    except lookups.DecisionError as exc:
        db.rollback()
        raise HTTPException(422 if str(exc) == texts.REJECT_NEEDS_REASON else 409, str(exc)) from exc
    db.commit()
    return lookup_out(req)


@router.get("/register", response_model=list[LookupOut], tags=["archive"])
def register(
    db: DbSession,
    who: Archivist,
    settings: SettingsDep,
    year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
) -> list[LookupOut]:
    """The access register (查阅登记簿) of a year (default: this year)."""
    return [lookup_out(r) for r in lookups.register_rows(db, year or lookups.this_year(settings))]


@router.post(
    "/register/export",
    tags=["archive"],
    response_class=FileResponse,
    responses={200: {"content": {XLSX: {}}}},
)
def register_export(
    db: DbSession,
    who: Archivist,
    settings: SettingsDep,
    year: Annotated[int, Query(ge=2000, le=2200)],
    x_csrf_token: CsrfHeader = None,
) -> Response:
    """The year's register as an Excel workbook (the export is itself entered in the register)."""
    check_csrf(who, x_csrf_token)
    path = lookups.export_file(db, settings, year)
    db.commit()
    return FileResponse(path, filename=path.name, media_type=XLSX)
