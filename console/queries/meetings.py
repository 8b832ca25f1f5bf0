"""Meetings as reception managers keep them, shared by the console's pages and API: the form's values and
their checks, create and edit (title, dates, venue, organiser; never the code), the feedback counts, the
printable QR poster (a temporary parametric QR from WeChat, or the simulator without credentials) and the
organiser's report."""

from __future__ import annotations

import logging
import tempfile
import urllib.parse
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from fastapi import HTTPException
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlmodel import Session, col

from console import texts
from core.clock import utcnow
from core.settings import Settings
from exports.meeting_report import meeting_report
from feedback.meetings import add_meeting, render_poster, request_qr, store_qr
from feedback.models import Feedback, Meeting

log = logging.getLogger("houqin.console.meetings")
QR_MARGIN = timedelta(hours=1)  # issue a new QR when the stored one expires within this
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
        raise MeetingError(texts.MEETING_DATES_BAD) from exc
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
        raise MeetingError(texts.MEETING_TITLE_BAD)
    if v.ends_on < v.starts_on:
        raise MeetingError(texts.MEETING_DATES_BAD)
    if len(venue) > 200 or len(organiser) > 200:
        raise MeetingError(texts.MEETING_TEXT_LONG)
    return MeetingValues(
        title=title, starts_on=v.starts_on, ends_on=v.ends_on, venue=venue, organiser=organiser
    )


def meeting_by_code(db: Session, code: str) -> Meeting:
    """A meeting by its code (any case), or 404."""
    m = db.execute(select(Meeting).where(col(Meeting.code) == code.strip().upper())).scalar_one_or_none()
    if m is None:
        raise HTTPException(404, texts.MEETING_NOT_FOUND)
    return m


def all_meetings(db: Session) -> list[Meeting]:
    """Every meeting, latest first."""
    return list(
        db.execute(select(Meeting).order_by(col(Meeting.starts_on).desc(), col(Meeting.id).desc())).scalars()
    )


def feedback_counts(db: Session) -> dict[int, tuple[int, float | None]]:
    """Per meeting id: how many feedbacks, and their mean score."""
    rows = db.execute(
        select(
            col(Feedback.meeting_id).label("meeting_id"),
            func.count().label("n"),
            func.avg(col(Feedback.score)).label("mean"),
        )
        .where(col(Feedback.meeting_id).is_not(None))
        .group_by(col(Feedback.meeting_id))
    ).mappings()
    return {
        int(r["meeting_id"]): (int(r["n"]), round(float(r["mean"]), 2) if r["mean"] is not None else None)
        for r in rows
    }


def create_meeting(db: Session, *, code: str, values: MeetingValues) -> Meeting:
    """Register a meeting (flushes; the caller commits)."""
    v = _check(values)
    code = code.strip().upper()
    if not code or len(code) > 40 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in code):
        raise MeetingError(texts.MEETING_CODE_BAD)
    if db.execute(select(col(Meeting.id)).where(col(Meeting.code) == code)).first() is not None:
        raise MeetingError(texts.MEETING_CODE_TAKEN.format(code=code))
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
        qr = request_qr(meeting, settings=settings)  # over HTTP, before this request writes anything
    except Exception as exc:  # WeChat refused or unreachable: say so, keep no half state
        log.warning("QR for meeting %s failed: %s", meeting.code, exc)
        raise MeetingError(texts.MEETING_QR_FAILED) from exc
    # The call may have stored a fresh access token through another connection (core/wechat_tokens.py).
    # On SQLite a read transaction begun before that commit can no longer write ("database is locked"
    # at once, whatever the busy timeout): end it — a GET has nothing pending — and write in a new one.
    db.rollback()
    content = store_qr(db, meeting=meeting, qr=qr)
    if content.startswith("/"):
        content = settings.public_url.rstrip("/") + content
    return content


def poster(db: Session, settings: Settings, meeting: Meeting) -> Path:
    """Draw the meeting's poster PNG (asking WeChat for a QR when needed; the caller commits)."""
    return render_poster(meeting=meeting, qr_content=qr_content(db, settings, meeting), settings=settings)


def poster_file(db: Session, settings: Settings, code: str) -> tuple[Meeting, Path]:
    """The meeting and its drawn poster, committed (a new QR is kept); 502 when WeChat refuses the QR."""
    m = meeting_by_code(db, code)
    try:
        path = poster(db, settings, m)
    except MeetingError as exc:
        db.rollback()
        raise HTTPException(502, str(exc)) from exc
    db.commit()
    return m, path


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
    name = urllib.parse.quote(texts.MEETING_REPORT_FILE.format(code=meeting.code))
    return Response(
        body,
        media_type=XLSX,
        headers={"content-disposition": f"attachment; filename*=utf-8''{name}", "cache-control": "no-store"},
    )
