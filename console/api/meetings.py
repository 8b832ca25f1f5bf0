"""`/api/v1/meetings`: reception managers' meetings — list, register, change, the QR poster and the
organiser's report."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response

from console.auth import check_csrf
from console.deps import CsrfHeader, DbSession, Reception, SettingsDep
from console.queries import meetings
from console.schemas import MeetingFields, MeetingIn, MeetingOut
from feedback.models import Meeting

router = APIRouter()


def meeting_out(m: Meeting, counts: dict[int, tuple[int, float | None]]) -> MeetingOut:
    """A meeting with its feedback count and mean score (from `meetings.feedback_counts`)."""
    n, mean = counts.get(m.id or 0, (0, None))
    return MeetingOut(
        id=m.id or 0,
        code=m.code,
        title=m.title,
        starts_on=m.starts_on,
        ends_on=m.ends_on,
        venue=m.venue,
        organiser=m.organiser,
        qr_url=m.qr_url,
        qr_expires_at=m.qr_expires_at,
        feedback_count=n,
        mean_score=mean,
        poster_url=f"/api/v1/meetings/{m.code}/poster.png",
    )


@router.get("/meetings", response_model=list[MeetingOut], tags=["meetings"])
def list_meetings(db: DbSession, who: Reception) -> list[MeetingOut]:
    """Every meeting, latest first, with its feedback count and mean score."""
    counts = meetings.feedback_counts(db)
    return [meeting_out(m, counts) for m in meetings.all_meetings(db)]


@router.post("/meetings", response_model=MeetingOut, status_code=201, tags=["meetings"])
def create_meeting(
    body: MeetingIn, db: DbSession, who: Reception, x_csrf_token: CsrfHeader = None
) -> MeetingOut:
    """Register a meeting (its QR is issued when the poster is first drawn)."""
    check_csrf(who, x_csrf_token)
    values = meetings.MeetingValues(
        title=body.title,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        venue=body.venue,
        organiser=body.organiser,
    )
    try:
        m = meetings.create_meeting(db, code=body.code, values=values)
    except meetings.MeetingError as exc:
        db.rollback()
        raise HTTPException(409 if "已被使用" in str(exc) else 422, str(exc)) from exc
    db.commit()
    return meeting_out(m, {})


@router.get("/meetings/{code}", response_model=MeetingOut, tags=["meetings"])
def get_meeting(code: str, db: DbSession, who: Reception) -> MeetingOut:
    """One meeting."""
    return meeting_out(meetings.meeting_by_code(db, code), meetings.feedback_counts(db))


@router.put("/meetings/{code}", response_model=MeetingOut, tags=["meetings"])
def update_meeting(
    code: str, body: MeetingFields, db: DbSession, who: Reception, x_csrf_token: CsrfHeader = None
) -> MeetingOut:
    """Change title, dates, venue and organiser (the code stays: printed posters carry it)."""
    check_csrf(who, x_csrf_token)
    m = meetings.meeting_by_code(db, code)
    try:
        meetings.update_meeting(db, m, meetings.MeetingValues(**body.model_dump()))
    except meetings.MeetingError as exc:
        db.rollback()
        raise HTTPException(422, str(exc)) from exc
    db.commit()
    return meeting_out(m, meetings.feedback_counts(db))


@router.get(
    "/meetings/{code}/poster.png",
    tags=["meetings"],
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}, 502: {"description": "WeChat refused the QR"}},
)
def meeting_poster(code: str, db: DbSession, who: Reception, settings: SettingsDep) -> Response:
    """The printable poster with the meeting's QR code."""
    _, path = meetings.poster_file(db, settings, code)
    return FileResponse(path, media_type="image/png", headers={"cache-control": "no-store"})


@router.get(
    "/meetings/{key}/report",
    tags=["meetings"],
    responses={200: {"content": {meetings.XLSX: {}}}, 404: {"description": "no such meeting"}},
)
def meeting_report(key: str, db: DbSession, who: Reception, settings: SettingsDep) -> Response:
    """The organiser's report (Excel) of a meeting, by its id or code: summary and the feedback list."""
    return meetings.report_response(db, settings, meetings.meeting_by_key(db, key))
