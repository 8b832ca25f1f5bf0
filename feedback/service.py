"""Feedback service: record feedback with its reference number, add to it, attach media, look up sites and meetings.

Keyword-only functions taking a session. They flush but never commit: the unit of work that called them
(the ingest batch, an API request, a CLI command) owns the commit, so one message's work lands whole.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime

from sqlalchemy import select
from sqlmodel import Session

from core.clock import utcnow
from core.counters import next_value
from feedback.models import Channel, Feedback, FeedbackEvent, FeedbackMedia, Meeting, Site

MAX_COMMENT_CHARS = 8000


class ArchivedError(Exception):
    """Archived feedback (bound into a volume) is read-only."""


def reference_number(session: Session, *, local_day: date) -> str:
    """Allocate the next reference number of the day, e.g. FK20261124-0042 (gap-free, never reused)."""
    day = local_day.strftime("%Y%m%d")
    return f"FK{day}-{next_value(session, name=f'FK{day}'):04d}"


def create_feedback(
    session: Session,
    *,
    sender: str,
    local_day: date,
    service_date: date,
    channel: str = Channel.canteen,
    source: str = "mp",
    site_id: int | None = None,
    table_no: str | None = None,
    meeting_id: int | None = None,
    meal: str | None = None,
    score: int | None = None,
    comment: str = "",
    created_at: datetime | None = None,
) -> Feedback:
    """Record a new feedback and give it a reference number."""
    if score is not None and not 1 <= score <= 5:
        raise ValueError(f"score must be 1–5, got {score}")
    now = created_at or utcnow()
    fb = Feedback(
        reference=reference_number(session, local_day=local_day),
        channel=channel,
        source=source,
        sender=sender,
        site_id=site_id,
        table_no=table_no,
        meeting_id=meeting_id,
        meal=meal if channel == Channel.canteen else None,
        service_date=service_date,
        score=score,
        comment=comment[:MAX_COMMENT_CHARS],
        created_at=now,
        updated_at=now,
    )
    session.add(fb)
    session.flush()
    return fb


def add_to_feedback(
    session: Session, *, feedback: Feedback, score: int | None = None, comment: str = "", actor: str
) -> Feedback:
    """Add a score (when it has none) and/or more comment text to a feedback still open for the diner."""
    if feedback.volume_id is not None:
        raise ArchivedError(feedback.reference)
    changed = []
    if score is not None and feedback.score is None:
        feedback.score = score
        changed.append(f"score={score}")
    if comment:
        feedback.comment = (f"{feedback.comment}\n{comment}" if feedback.comment else comment)[:MAX_COMMENT_CHARS]
        changed.append("comment")
    if changed:
        feedback.updated_at = utcnow()
        session.add(FeedbackEvent(feedback_id=feedback.id, actor=actor, action="diner_added", detail=",".join(changed)))
        session.flush()
    return feedback


def attach_media(
    session: Session,
    *,
    feedback: Feedback,
    kind: str,
    media_id: str = "",
    url: str = "",
    recognition: str = "",
    local_path: str | None = None,
) -> FeedbackMedia:
    """Attach a photo or voice note to a feedback (the file is fetched from WeChat later, by a job)."""
    if feedback.volume_id is not None:
        raise ArchivedError(feedback.reference)
    media = FeedbackMedia(
        feedback_id=feedback.id,  # type: ignore[arg-type]
        kind=kind,
        media_id=media_id,
        url=url,
        recognition=recognition,
        local_path=local_path,
    )
    session.add(media)
    feedback.updated_at = utcnow()
    session.flush()
    return media


def site_by_code(session: Session, *, code: str) -> Site | None:
    """The active site with this code."""
    return session.execute(select(Site).where(Site.code == code, Site.active.is_(True))).scalar_one_or_none()  # type: ignore[attr-defined]


def meeting_by_code(session: Session, *, code: str) -> Meeting | None:
    """The meeting with this code (codes are matched case-insensitively, stored upper-case)."""
    return session.execute(select(Meeting).where(Meeting.code == code.upper())).scalar_one_or_none()


def pseudonym(sender: str, *, secret: str) -> str:
    """A stable pseudonym for a diner (反馈人), so openids never leave the database."""
    digest = hmac.new(secret.encode(), sender.encode(), hashlib.sha256).hexdigest()
    return f"用户{digest[:8].upper()}"
