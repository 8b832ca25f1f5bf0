"""Reception managers' meeting pages: the list, create and edit (title, dates, venue, organiser), the
printable QR poster and the organiser's report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from console import texts
from console.auth import Principal, check_csrf
from console.deps import DbSession, Reception, SettingsDep
from console.pages.render import back, render
from console.queries import meetings
from feedback.models import Meeting

router = APIRouter(prefix="/console", include_in_schema=False)


def _row(m: Meeting, counts: dict[int, tuple[int, float | None]]) -> dict[str, Any]:
    n, mean = counts.get(m.id or 0, (0, None))
    return {"m": m, "n": n, "mean": mean if mean is not None else "—"}


def _form_page(
    request: Request, who: Principal, m: Meeting | None, form: dict[str, str], error: str | None
) -> Response:
    """The meeting form; refused input comes back with its message and 422."""
    resp = render(request, "meeting_form.html", who, m=m, form=form, error=error)
    if error is not None:
        resp.status_code = 422
    return resp


@router.get("/meetings")
def meetings_page(request: Request, db: DbSession, who: Reception) -> Response:
    """Meetings with their feedback count and mean score."""
    counts = meetings.feedback_counts(db)
    return render(request, "meetings.html", who, rows=[_row(m, counts) for m in meetings.all_meetings(db)])


@router.get("/meetings/new")
def new_page(request: Request, who: Reception) -> Response:
    """The form for a new meeting."""
    return _form_page(request, who, None, {}, None)


@router.post("/meetings")
async def create(request: Request, db: DbSession, who: Reception) -> Response:
    """Register a meeting, then show its poster."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    check_csrf(who, form.get("csrf"))
    try:
        m = meetings.create_meeting(db, code=form.get("code", ""), values=meetings.parse_values(form))
    except meetings.MeetingError as exc:
        db.rollback()
        return _form_page(request, who, None, form, str(exc))
    db.commit()
    return back(f"/console/meetings/{m.code}/poster", texts.MEETING_CREATED.format(code=m.code))


@router.get("/meetings/{code}/edit")
def edit_page(code: str, request: Request, db: DbSession, who: Reception) -> Response:
    """The form to change a meeting."""
    m = meetings.meeting_by_code(db, code)
    form = {
        "title": m.title,
        "starts_on": str(m.starts_on),
        "ends_on": str(m.ends_on),
        "venue": m.venue,
        "organiser": m.organiser,
    }
    return _form_page(request, who, m, form, None)


@router.post("/meetings/{code}")
async def update(code: str, request: Request, db: DbSession, who: Reception) -> Response:
    """Save a changed meeting."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    check_csrf(who, form.get("csrf"))
    m = meetings.meeting_by_code(db, code)
    try:
        meetings.update_meeting(db, m, meetings.parse_values(form))
    except meetings.MeetingError as exc:
        db.rollback()
        return _form_page(request, who, meetings.meeting_by_code(db, code), form, str(exc))
    db.commit()
    return back("/console/meetings", texts.MEETING_SAVED.format(code=m.code))


@router.get("/meetings/{code}/poster")
def poster_page(code: str, request: Request, db: DbSession, who: Reception) -> Response:
    """The poster, ready to print."""
    m = meetings.meeting_by_code(db, code)
    return render(request, "poster.html", who, m=m)


@router.get("/meetings/{code}/poster.png")
def poster_png(code: str, db: DbSession, who: Reception, settings: SettingsDep) -> Response:
    """The poster PNG (A5 proportions, 1240×1754)."""
    m, path = meetings.poster_file(db, settings, code)
    return FileResponse(
        path,
        media_type="image/png",
        filename=texts.MEETING_POSTER_FILE.format(code=m.code),
        content_disposition_type="inline",
        headers={"cache-control": "no-store"},
    )


@router.get("/meetings/{code}/report.xlsx")
def report_xlsx(code: str, db: DbSession, who: Reception, settings: SettingsDep) -> Response:
    """The organiser's report (Excel): summary and the list of feedback, diners as pseudonyms."""
    return meetings.report_response(db, settings, meetings.meeting_by_code(db, code))
