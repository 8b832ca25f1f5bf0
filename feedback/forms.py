"""Feedback from the tap-to-rate form (h5/): one submission stored exactly once, per-aspect stars, photos,
the edit window, rate limits and misuse flags; a diner's own feedback for 「我的反馈」; and the dashboard's
per-aspect summary.

Exactly once: each form carries an idempotency key (FeedbackForm.key, unique); a resubmit returns the
same reference and stores nothing. One feedback per diner per meal per place (or meeting): a new
submission within `edit_minutes` of the first edits that feedback instead of adding one. Functions take a
session and plain values; they flush, never commit.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlmodel import Session, col

from core.clock import to_local
from core.settings import Settings
from feedback.grammar import infer_meal
from feedback.models import (
    Action,
    Channel,
    Feedback,
    FeedbackAspect,
    FeedbackEvent,
    FeedbackForm,
    FeedbackMedia,
    Meeting,
    Site,
)
from feedback.photos import MAX_PHOTOS
from feedback.service import FeedbackStore, create_feedback, topics_of
from feedback.tokens import feedback_tokens

MISUSE_WINDOW = timedelta(hours=24)


class FormProblem(StrEnum):
    """Why a submission was refused (h5/texts.py words it for the diner)."""

    diner_rate = "diner_rate"
    place_rate = "place_rate"
    key_taken = "key_taken"
    too_many_photos = "too_many_photos"


class FormError(Exception):
    """A submission that is not taken; nothing of it was stored."""

    def __init__(self, problem: FormProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass
class FormInput:
    """One filled form, checked by the edge (scores 1–5, aspects and tags from the configured lists,
    photos already cleaned by feedback.photos)."""

    key: str
    diner: str  # the openid, the WeCom userid, or the anonymous device (h5:…)
    source: str  # mp, wecom or h5
    channel: str
    place: str  # canteen:<site> or meeting:<code>
    score: int
    site_id: int | None = None
    table_no: str | None = None
    meeting_id: int | None = None
    aspects: dict[str, int] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    comment: str = ""
    photos: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class Limits:
    """The edit window and the rate limits (HOUQIN_H5_*)."""

    edit_minutes: int = 30
    diner_per_hour: int = 12
    place_per_minute: int = 120


@dataclass(frozen=True)
class FormResult:
    """What a submission did: `created`, `edited` (an earlier feedback of the edit window) or `replayed`
    (the same key again: nothing stored)."""

    reference: str
    feedback_id: int
    outcome: str
    misuse: bool = False


def form_url(settings: Settings, scene: str) -> str:
    """The public address of the form for a scene (what table QR codes and meeting posters hold)."""
    return f"{settings.public_url.rstrip('/')}/h5/feedback?scene={scene}"


def full_comment(tags: list[str], comment: str) -> str:
    """The stored comment: the quick tags in 【】 first, then the diner's text."""
    marks = "".join(f"【{t}】" for t in tags)
    return f"{marks}\n{comment}".strip() if marks and comment else (marks or comment)


def fingerprint(form: FormInput) -> str:
    """A digest of what the diner said (not who or when): identical submissions share it."""
    what = [form.place, form.score, sorted(form.aspects.items()), sorted(form.tags), form.comment.strip()]
    return hashlib.sha256(json.dumps(what, ensure_ascii=False).encode()).hexdigest()


def by_key(session: Session, *, key: str) -> FeedbackForm | None:
    """The accepted submission with this idempotency key."""
    return session.execute(select(FeedbackForm).where(col(FeedbackForm.key) == key)).scalar_one_or_none()


def reference_of(session: Session, *, feedback_id: int) -> str:
    """A feedback's reference number."""
    return str(
        session.execute(select(col(Feedback.reference)).where(col(Feedback.id) == feedback_id)).scalar_one()
    )


def _count(session: Session, column: Any, value: str, since: datetime) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(FeedbackForm)
            .where(column == value, col(FeedbackForm.created_at) >= since)
        ).scalar_one()
    )


def _editable(
    session: Session, form: FormInput, *, meal: str | None, service_date: date, since: datetime
) -> Feedback | None:
    query = (
        select(Feedback)
        .join(FeedbackForm, col(FeedbackForm.feedback_id) == col(Feedback.id))
        .where(
            col(FeedbackForm.diner) == form.diner,
            col(Feedback.sender) == form.diner,
            col(Feedback.channel) == form.channel,
            col(Feedback.service_date) == service_date,
            col(Feedback.created_at) >= since,
            col(Feedback.volume_id).is_(None),
        )
        .order_by(col(Feedback.created_at).desc())
        .limit(1)
    )
    if form.meeting_id is not None:
        query = query.where(col(Feedback.meeting_id) == form.meeting_id)
    else:
        query = query.where(col(Feedback.site_id) == form.site_id, col(Feedback.meal) == meal)
    return session.execute(query).scalars().first()


def _store_photos(
    session: Session, *, feedback_id: int, photos: list[bytes], data_dir: Path, now: datetime
) -> None:
    for data in photos:
        media = FeedbackMedia(feedback_id=feedback_id, kind="image", created_at=now)
        session.add(media)
        session.flush()
        relative = f"media/{feedback_id}/{media.id}.jpg"
        target = data_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".jpg.part")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        media.local_path = relative


def submit(
    session: Session,
    *,
    store: FeedbackStore,
    form: FormInput,
    now: datetime,
    tz: ZoneInfo,
    data_dir: Path,
    limits: Limits,
) -> FormResult:
    """Store one form submission exactly once (see the module docstring); FormError when refused. `store`:
    where a new feedback is written (the session's, writing at once)."""
    seen = by_key(session, key=form.key)
    if seen is not None:
        if seen.diner != form.diner:
            raise FormError(FormProblem.key_taken)
        return FormResult(reference_of(session, feedback_id=seen.feedback_id), seen.feedback_id, "replayed")
    if (
        _count(session, col(FeedbackForm.diner), form.diner, now - timedelta(hours=1))
        >= limits.diner_per_hour
    ):
        raise FormError(FormProblem.diner_rate)
    if (
        _count(session, col(FeedbackForm.place), form.place, now - timedelta(minutes=1))
        >= limits.place_per_minute
    ):
        raise FormError(FormProblem.place_rate)
    local_now = to_local(now, tz)
    meal: str | None = None
    if form.channel == Channel.canteen:
        meal_of, service_date = infer_meal(local_now)
        meal = str(meal_of)
    else:
        service_date = local_now.date()
    comment = full_comment(form.tags, form.comment)
    target = _editable(
        session,
        form,
        meal=meal,
        service_date=service_date,
        since=now - timedelta(minutes=limits.edit_minutes),
    )
    if target is not None:
        assert target.id is not None
        feedback_id, reference, outcome = target.id, target.reference, "edited"
        had = int(
            session.execute(
                select(func.count())
                .select_from(FeedbackMedia)
                .where(col(FeedbackMedia.feedback_id) == feedback_id)
            ).scalar_one()
        )
        if had + len(form.photos) > MAX_PHOTOS:
            raise FormError(FormProblem.too_many_photos)
        target.score = form.score
        target.comment = comment
        target.topics = topics_of(comment)
        target.search_tokens = feedback_tokens(
            session,
            comment=comment,
            service_date=target.service_date,
            meal=target.meal,
            site_id=target.site_id,
            meeting_id=target.meeting_id,
        )
        target.updated_at = now
        session.add(target)
        session.add(
            FeedbackEvent(
                feedback_id=feedback_id,
                at=now,
                actor=form.diner,
                action=Action.diner_added,
                detail="form_edit",
            )
        )
        session.execute(delete(FeedbackAspect).where(col(FeedbackAspect.feedback_id) == feedback_id))
    else:
        row = create_feedback(
            store,
            sender=form.diner,
            local_day=local_now.date(),
            service_date=service_date,
            channel=form.channel,
            source=form.source,
            site_id=form.site_id,
            table_no=form.table_no,
            meeting_id=form.meeting_id,
            meal=meal,
            score=form.score,
            comment=comment,
            created_at=now,
        )
        feedback_id, reference, outcome = row.id, row.reference, "created"
    for aspect, score in form.aspects.items():
        session.add(FeedbackAspect(feedback_id=feedback_id, aspect=aspect, score=score))
    _store_photos(session, feedback_id=feedback_id, photos=form.photos, data_dir=data_dir, now=now)
    digest = fingerprint(form)
    misuse = False
    if outcome == "created":
        # the same words and stars again, as a new feedback within a day: kept, but flagged (out of statistics)
        twin = session.execute(
            select(col(FeedbackForm.id))
            .where(
                col(FeedbackForm.diner) == form.diner,
                col(FeedbackForm.fingerprint) == digest,
                col(FeedbackForm.created_at) >= now - MISUSE_WINDOW,
                col(FeedbackForm.feedback_id) != feedback_id,
            )
            .limit(1)
        ).first()
        if twin is not None:
            misuse = True
            session.execute(update(Feedback).where(col(Feedback.id) == feedback_id).values(misuse=True))
    session.add(
        FeedbackForm(
            key=form.key,
            diner=form.diner,
            place=form.place,
            feedback_id=feedback_id,
            fingerprint=digest,
            edited=outcome == "edited",
            created_at=now,
        )
    )
    session.flush()
    return FormResult(reference, feedback_id, outcome, misuse)


def aspects_of(session: Session, *, feedback_id: int) -> list[tuple[str, int]]:
    """A feedback's aspect scores, in the order they were given."""
    return [
        (row.aspect, row.score)
        for row in session.execute(
            select(col(FeedbackAspect.aspect), col(FeedbackAspect.score))
            .where(col(FeedbackAspect.feedback_id) == feedback_id)
            .order_by(col(FeedbackAspect.id))
        ).all()
    ]


@dataclass
class OwnFeedback:
    """One of the diner's own feedback as 「我的反馈」 shows it."""

    feedback: Feedback
    where: str
    aspects: list[tuple[str, int]]
    replies: list[str]
    rectifications: list[dict[str, str]]
    photos: int

    @property
    def revisit_open(self) -> bool:
        """The return-visit question was asked and is not answered yet (and can still be)."""
        fb = self.feedback
        return fb.revisit_asked_at is not None and fb.revisit_answer is None and fb.volume_id is None


def own_feedback(session: Session, *, diner: str, limit: int = 30) -> list[OwnFeedback]:
    """The diner's own feedback, newest first: never anyone else's (matched on the sender alone)."""
    rows = list(
        session.execute(
            select(Feedback)
            .where(col(Feedback.sender) == diner)
            .order_by(col(Feedback.created_at).desc())
            .limit(limit)
        ).scalars()
    )
    ids = [fb.id for fb in rows]
    events: dict[int, list[FeedbackEvent]] = {}
    for e in session.execute(
        select(FeedbackEvent)
        .where(
            col(FeedbackEvent.feedback_id).in_(ids),
            col(FeedbackEvent.action).in_([Action.replied, Action.rectification]),
        )
        .order_by(col(FeedbackEvent.id))
    ).scalars():
        events.setdefault(e.feedback_id, []).append(e)
    photos: dict[int, int] = {
        row.feedback_id: row.n
        for row in session.execute(
            select(col(FeedbackMedia.feedback_id), func.count().label("n"))
            .where(col(FeedbackMedia.feedback_id).in_(ids))
            .group_by(col(FeedbackMedia.feedback_id))
        ).all()
    }
    sites = {s.id: s.name for s in session.execute(select(Site)).scalars()}
    meetings = {
        m.id: m.title
        for m in session.execute(
            select(Meeting).where(col(Meeting.id).in_([fb.meeting_id for fb in rows]))
        ).scalars()
    }
    out = []
    for fb in rows:
        assert fb.id is not None
        mine = events.get(fb.id, [])
        rects = []
        for e in mine:
            if e.action == Action.rectification:
                try:
                    data = json.loads(e.detail)
                except ValueError:
                    data = {"措施": e.detail}
                rects.append({str(k): str(v) for k, v in data.items() if v} if isinstance(data, dict) else {})
        where = meetings.get(fb.meeting_id, "") if fb.meeting_id else sites.get(fb.site_id, "")
        out.append(
            OwnFeedback(
                feedback=fb,
                where=where,
                aspects=aspects_of(session, feedback_id=fb.id),
                replies=[e.detail for e in mine if e.action == Action.replied],
                rectifications=rects,
                photos=int(photos.get(fb.id, 0)),
            )
        )
    return out


def own_by_reference(session: Session, *, diner: str, reference: str) -> Feedback | None:
    """The diner's own feedback with this reference (None for anyone else's)."""
    return session.execute(
        select(Feedback).where(col(Feedback.reference) == reference, col(Feedback.sender) == diner)
    ).scalar_one_or_none()


def aspect_summary(session: Session, *, start: date, end: date, channel: str | None = None) -> list[Any]:
    """Per-aspect n, mean and CSAT (share of 4–5) of feedback served from `start` to `end` (misuse left out),
    as stats.Group rows in the order the aspects were first seen."""
    from feedback.stats import Group

    query = (
        select(col(FeedbackAspect.aspect), col(FeedbackAspect.score))
        .join(Feedback, col(Feedback.id) == col(FeedbackAspect.feedback_id))
        .where(
            col(Feedback.service_date) >= start,
            col(Feedback.service_date) <= end,
            col(Feedback.misuse).is_(False),
        )
        .order_by(col(FeedbackAspect.id))
    )
    if channel:
        query = query.where(col(Feedback.channel) == channel)
    groups: dict[str, Group] = {}
    for row in session.execute(query).all():
        groups.setdefault(row.aspect, Group(row.aspect)).add(row.score)
    return list(groups.values())
