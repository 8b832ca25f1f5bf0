"""Reception managers' meeting pages: the list, create and edit (title, dates, venue, organiser), and the
printable QR poster (a temporary parametric QR from WeChat, or the simulator without credentials).

The functions before the routes are shared with the JSON API (console/api.py).
"""

from __future__ import annotations

import logging
import tempfile
import urllib.parse
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import func, select
from sqlmodel import Session, col

from console.auth import DbSession, Principal, check_csrf, require
from console.pages import back, render
from core.clock import utcnow
from core.settings import Settings
from feedback.meetings import add_meeting, issue_qr, render_poster
from feedback.models import Feedback, Meeting
from feedback.reports import meeting_report

log = logging.getLogger("houqin.console.meetings")
router = APIRouter(prefix="/console", include_in_schema=False)
RECEPTION = ("reception_manager",)
QR_MARGIN = timedelta(hours=1)  # issue a new QR when the stored one expires within this

CODE_BAD = "会议代码须为1–40位字母、数字、- 或 _（如 HY2026A）"
CODE_TAKEN = "会议代码 {code} 已被使用"
TITLE_BAD = "请填写会议名称（至多200字）"
DATES_BAD = "请填写有效的开始和结束日期，结束日期不能早于开始日期"
TEXT_LONG = "会场和主办单位各至多200字"
QR_FAILED = "向微信申请二维码失败，请稍后重试"
NOT_FOUND = "没有这个会议"


class MeetingError(Exception):
    """Meeting details the console refuses; the message is for the person."""


@dataclass
class MeetingValues:
    """What a meeting form or API call submits."""

    title: str
    starts_on: date
    ends_on: date
    venue: str = ""
    organiser: str = ""


def parse_values(form: dict[str, str]) -> MeetingValues:
    """Form fields as meeting values; MeetingError says what is wrong."""
    try:
        starts, ends = (
            date.fromisoformat(form.get("starts_on", "")),
            date.fromisoformat(form.get("ends_on", "")),
        )
    except ValueError as exc:
        raise MeetingError(DATES_BAD) from exc
    return MeetingValues(
        title=form.get("title", ""),
        starts_on=starts,
        ends_on=ends,
        venue=form.get("venue", ""),
        organiser=form.get("organiser", ""),
    )


def _check(v: MeetingValues) -> MeetingValues:
    title, venue, organiser = v.title.strip(), v.venue.strip(), v.organiser.strip()
    if not title or len(title) > 200:
        raise MeetingError(TITLE_BAD)
    if v.ends_on < v.starts_on:
        raise MeetingError(DATES_BAD)
    if len(venue) > 200 or len(organiser) > 200:
        raise MeetingError(TEXT_LONG)
    return MeetingValues(
        title=title, starts_on=v.starts_on, ends_on=v.ends_on, venue=venue, organiser=organiser
    )


def meeting_by_code(db: Session, code: str) -> Meeting:
    """A meeting by its code (any case), or 404."""
    m = db.execute(select(Meeting).where(col(Meeting.code) == code.strip().upper())).scalar_one_or_none()
    if m is None:
        raise HTTPException(404, NOT_FOUND)
    return m


def all_meetings(db: Session) -> list[Meeting]:
    """Every meeting, latest first."""
    return list(
        db.execute(select(Meeting).order_by(col(Meeting.starts_on).desc(), col(Meeting.id).desc())).scalars()
    )


def feedback_counts(db: Session) -> dict[int, tuple[int, float | None]]:
    """Per meeting id: how many feedbacks, and their mean score."""
    rows = db.execute(
        select(col(Feedback.meeting_id), func.count(), func.avg(col(Feedback.score)))
        .where(col(Feedback.meeting_id).is_not(None))
        .group_by(col(Feedback.meeting_id))
    ).all()
    return {int(mid): (int(n), round(float(avg), 2) if avg is not None else None) for mid, n, avg in rows}


def create_meeting(db: Session, *, code: str, values: MeetingValues) -> Meeting:
    """Register a meeting (flushes; the caller commits)."""
    v = _check(values)
    code = code.strip().upper()
    if not code or len(code) > 40 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in code):
        raise MeetingError(CODE_BAD)
    if db.execute(select(col(Meeting.id)).where(col(Meeting.code) == code)).first() is not None:
        raise MeetingError(CODE_TAKEN.format(code=code))
    return add_meeting(
        db,
        code=code,
        title=v.title,
        starts_on=v.starts_on,
        ends_on=v.ends_on,
        venue=v.venue,
        organiser=v.organiser,
    )


def update_meeting(db: Session, meeting: Meeting, values: MeetingValues) -> Meeting:
    """Change title, dates, venue, organiser (not the code: printed QR codes carry it)."""
    v = _check(values)
    if (v.starts_on, v.ends_on) != (meeting.starts_on, meeting.ends_on):
        # the QR's lifetime follows the dates: the next poster asks for a new one
        meeting.qr_ticket = meeting.qr_url = meeting.qr_expires_at = None
    meeting.title, meeting.starts_on, meeting.ends_on = v.title, v.starts_on, v.ends_on
    meeting.venue, meeting.organiser = v.venue, v.organiser
    db.add(meeting)
    db.flush()
    return meeting


def qr_content(db: Session, settings: Settings, meeting: Meeting) -> str:
    """What the poster's QR encodes: the stored WeChat QR while it lives, else a new one (or the simulator)."""
    if meeting.qr_url and meeting.qr_expires_at and meeting.qr_expires_at > utcnow() + QR_MARGIN:
        return meeting.qr_url
    try:
        content = issue_qr(db, meeting=meeting, settings=settings)
    except Exception as exc:  # WeChat refused or unreachable: say so, keep no half state
        log.warning("QR for meeting %s failed: %s", meeting.code, exc)
        raise MeetingError(QR_FAILED) from exc
    if content.startswith("/"):
        content = settings.public_url.rstrip("/") + content
    return content


def poster(db: Session, settings: Settings, meeting: Meeting) -> Path:
    """Draw the meeting's poster PNG (asking WeChat for a QR when needed; the caller commits)."""
    return render_poster(meeting=meeting, qr_content=qr_content(db, settings, meeting), settings=settings)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def meeting_by_key(db: Session, key: str) -> Meeting:
    """A meeting by its code, or by its numeric id when no meeting has that code; else 404."""
    try:
        return meeting_by_code(db, key)
    except HTTPException:
        m = db.get(Meeting, int(key)) if key.isdigit() else None
        if m is None:
            raise
        return m


def report_response(db: Session, settings: Settings, meeting: Meeting) -> Response:
    """The meeting's report workbook as a download."""
    with tempfile.TemporaryDirectory() as tmp:
        path = meeting_report(
            db, meeting_id=meeting.id or 0, settings=settings, path=Path(tmp) / "report.xlsx"
        )
        body = path.read_bytes()
    name = urllib.parse.quote(f"会务评价报告-{meeting.code}.xlsx")
    return Response(
        body,
        media_type=XLSX,
        headers={"content-disposition": f"attachment; filename*=utf-8''{name}", "cache-control": "no-store"},
    )


def _row(m: Meeting, counts: dict[int, tuple[int, float | None]]) -> dict[str, Any]:
    n, mean = counts.get(m.id or 0, (0, None))
    return {"m": m, "n": n, "mean": mean if mean is not None else "—"}


# --- pages --------------------------------------------------------------------------------------------


@router.get("/meetings")
def meetings_page(request: Request, db: DbSession, who: Principal = Depends(require(*RECEPTION))) -> Response:
    """Meetings with their feedback count and mean score."""
    counts = feedback_counts(db)
    return render(request, "meetings.html", who, rows=[_row(m, counts) for m in all_meetings(db)])


@router.get("/meetings/new")
def new_page(request: Request, who: Principal = Depends(require(*RECEPTION))) -> Response:
    """The form for a new meeting."""
    return render(request, "meeting_form.html", who, m=None, form={}, error=None)


@router.post("/meetings")
async def create(request: Request, db: DbSession, who: Principal = Depends(require(*RECEPTION))) -> Response:
    """Register a meeting, then show its poster."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    check_csrf(who, form.get("csrf"))
    try:
        m = create_meeting(db, code=form.get("code", ""), values=parse_values(form))
    except MeetingError as exc:
        db.rollback()
        resp = render(request, "meeting_form.html", who, m=None, form=form, error=str(exc))
        resp.status_code = 422
        return resp
    db.commit()
    return back(f"/console/meetings/{m.code}/poster", f"已登记会议 {m.code}")


@router.get("/meetings/{code}/edit")
def edit_page(
    code: str, request: Request, db: DbSession, who: Principal = Depends(require(*RECEPTION))
) -> Response:
    """The form to change a meeting."""
    m = meeting_by_code(db, code)
    form = {
        "title": m.title,
        "starts_on": str(m.starts_on),
        "ends_on": str(m.ends_on),
        "venue": m.venue,
        "organiser": m.organiser,
    }
    return render(request, "meeting_form.html", who, m=m, form=form, error=None)


@router.post("/meetings/{code}")
async def update(
    code: str, request: Request, db: DbSession, who: Principal = Depends(require(*RECEPTION))
) -> Response:
    """Save a changed meeting."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    check_csrf(who, form.get("csrf"))
    m = meeting_by_code(db, code)
    try:
        update_meeting(db, m, parse_values(form))
    except MeetingError as exc:
        db.rollback()
        resp = render(
            request, "meeting_form.html", who, m=meeting_by_code(db, code), form=form, error=str(exc)
        )
        resp.status_code = 422
        return resp
    db.commit()
    return back("/console/meetings", f"已保存会议 {m.code}")


@router.get("/meetings/{code}/poster")
def poster_page(
    code: str, request: Request, db: DbSession, who: Principal = Depends(require(*RECEPTION))
) -> Response:
    """The poster, ready to print."""
    m = meeting_by_code(db, code)
    return render(request, "poster.html", who, m=m)


@router.get("/meetings/{code}/poster.png")
def poster_png(
    code: str, request: Request, db: DbSession, who: Principal = Depends(require(*RECEPTION))
) -> Response:
    """The poster PNG (A5 proportions, 1240×1754)."""
    m = meeting_by_code(db, code)
    try:
        path = poster(db, request.app.state.settings, m)
    except MeetingError as exc:
        db.rollback()
        raise HTTPException(502, str(exc)) from exc
    db.commit()
    return FileResponse(
        path,
        media_type="image/png",
        filename=f"会议海报-{m.code}.png",
        content_disposition_type="inline",
        headers={"cache-control": "no-store"},
    )


@router.get("/meetings/{code}/report.xlsx")
def report_xlsx(
    code: str, request: Request, db: DbSession, who: Principal = Depends(require(*RECEPTION))
) -> Response:
    """The organiser's report (Excel): summary and the list of feedback, diners as pseudonyms."""
    return report_response(db, request.app.state.settings, meeting_by_code(db, code))
