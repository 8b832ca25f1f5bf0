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
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlmodel import Session, col

from core.clock import to_local
from core.fastsql import Driver
from core.settings import Settings
from feedback import formsql, sla
from feedback.alerts import OnDuty, alert_on_duty, alert_reason
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
from feedback.service import FeedbackRow, FeedbackStore, create_feedback, topics_of
from feedback.tokens import feedback_tokens

MISUSE_WINDOW = timedelta(hours=24)


class FormProblem(StrEnum):
    """Why a submission was refused (h5/texts.py words it for the diner)."""

    diner_rate = "diner_rate"
    place_rate = "place_rate"
    key_taken = "key_taken"
    too_many_photos = "too_many_photos"
    unknown_place = "unknown_place"


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


class FormStore(FeedbackStore, Protocol):
    """The store a submission writes through (ingest.store.Store, writing at once): the feedback calls, its
    driver connection for the form's own statements, and the on-duty managers."""

    @property
    def db(self) -> Driver:
        """The driver connection under the session's transaction."""

    def get_feedback(self, feedback_id: int) -> FeedbackRow | None:
        """One feedback as a plain row."""

    def on_duty(self) -> list[OnDuty]:
        """The on-duty managers to alert."""


def _store_photos(
    store: FeedbackStore, *, feedback_id: int, photos: list[bytes], data_dir: Path, now: datetime
) -> None:
    # the photos were decoded and re-encoded before (feedback.photos, in the request's thread): only written here
    # named by content: a batch retried alone writes the very same files again
    for i, data in enumerate(photos):
        relative = f"media/{feedback_id}/h5-{hashlib.sha256(data).hexdigest()[:24]}-{i}.jpg"
        target = data_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".jpg.part")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        store.add_media(
            {
                "feedback_id": feedback_id,
                "kind": "image",
                "media_id": "",
                "url": "",
                "recognition": "",
                "local_path": relative,
                "created_at": now,
            }
        )


def _alert(store: FormStore, session: Session, *, reference: str, score: int, comment: str) -> None:
    reason = alert_reason(score=score, comment=comment)
    if reason is not None:
        alert_on_duty(
            session, recipients=store.on_duty(), reference=reference, reason=reason, comment=comment
        )


def submit(
    session: Session,
    *,
    store: FormStore,
    form: FormInput,
    now: datetime,
    settings: Settings,
    limits: Limits,
) -> FormResult:
    """Store one form submission exactly once (see the module docstring); FormError when refused. Run by
    the ingest writer inside its batch transaction (ingest.work), with the SLA deadlines and alerts of the
    chat path; the photos come already cleaned. `store`: the session's, writing at once. Every FormError is
    raised before anything is written (the writer relies on it: ingest.work's `refusals`)."""
    db = store.db
    digest = fingerprint(form)
    found = formsql.check(
        db,
        key=form.key,
        diner=form.diner,
        place=form.place,
        hour=now - timedelta(hours=1),
        diner_cap=limits.diner_per_hour,
        minute=now - timedelta(minutes=1),
        place_cap=limits.place_per_minute,
        fingerprint=digest,
        day=now - MISUSE_WINDOW,
    )
    if found["seen_diner"] is not None:
        if found["seen_diner"] != form.diner:
            raise FormError(FormProblem.key_taken)
        fid = int(found["seen_feedback"])
        return FormResult(str(formsql.REFERENCE.mapped(db, id=fid)[0]["reference"]), fid, "replayed")
    if int(found["diner_n"]) >= limits.diner_per_hour:
        raise FormError(FormProblem.diner_rate)
    if int(found["place_n"]) >= limits.place_per_minute:
        raise FormError(FormProblem.place_rate)
    if form.site_id is None and form.meeting_id is None:
        if found["site_id"] is None and found["meeting_id"] is None:
            raise FormError(FormProblem.unknown_place)
        form.site_id, form.meeting_id = found["site_id"], found["meeting_id"]
    local_now = to_local(now, settings.tz)
    meal: str | None = None
    if form.channel == Channel.canteen:
        meal_of, service_date = infer_meal(local_now)
        meal = str(meal_of)
    else:
        service_date = local_now.date()
    comment = full_comment(form.tags, form.comment)
    target = formsql.editable(
        db,
        meeting_id=form.meeting_id,
        diner=form.diner,
        channel=form.channel,
        day=service_date,
        since=now - timedelta(minutes=limits.edit_minutes),
        site_id=form.site_id,
        meal=meal,
    )
    if target is not None:
        feedback_id, reference = target
        outcome = "edited"
        had = int(formsql.PHOTO_COUNT.mapped(db, id=feedback_id)[0]["n"])
        if had + len(form.photos) > MAX_PHOTOS:
            raise FormError(FormProblem.too_many_photos)
        _edit(session, store, feedback_id=feedback_id, form=form, comment=comment, now=now, settings=settings)
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
            settings=settings,
        )
        feedback_id, reference, outcome = row.id, row.reference, "created"
    formsql.INSERT_ASPECT.many(
        db, [{"feedback_id": feedback_id, "aspect": a, "score": v} for a, v in form.aspects.items()]
    )
    _store_photos(store, feedback_id=feedback_id, photos=form.photos, data_dir=settings.data_dir, now=now)
    # the same words and stars again, as a new feedback within a day: kept, but flagged (out of statistics)
    misuse = outcome == "created" and bool(found["twin"])
    if misuse:
        store.update_feedback(feedback_id, {"misuse": True})
    formsql.INSERT_FORM.run(
        db,
        key=form.key,
        diner=form.diner,
        place=form.place,
        feedback_id=feedback_id,
        fingerprint=digest,
        edited=outcome == "edited",
        created_at=now,
    )
    if not misuse:
        _alert(store, session, reference=reference, score=form.score, comment=comment)
    return FormResult(reference, feedback_id, outcome, misuse)


def _edit(
    session: Session,
    store: FormStore,
    *,
    feedback_id: int,
    form: FormInput,
    comment: str,
    now: datetime,
    settings: Settings,
) -> None:
    """A submission within the edit window: the earlier feedback takes its stars and words (the deadlines
    only ever come nearer)."""
    fb = store.get_feedback(feedback_id)
    assert fb is not None
    tokens = feedback_tokens(
        session,
        comment=comment,
        service_date=fb.service_date,
        meal=fb.meal,
        site_id=fb.site_id,
        meeting_id=fb.meeting_id,
    )
    store.update_feedback(
        feedback_id,
        {
            "score": form.score,
            "comment": comment,
            "topics": topics_of(comment),
            "search_tokens": tokens,
            "updated_at": now,
        },
    )
    due = sla.deadlines(settings.sla, score=form.score, comment=comment, received_at=now, tz=settings.tz)
    if due.ack_due_at is not None:
        store.tighten_deadlines(feedback_id, ack=due.ack_due_at, rectify=due.rectify_due_at)
    store.add_event(
        feedback_id=feedback_id, at=now, actor=form.diner, action=Action.diner_added, detail="form_edit"
    )
    formsql.DELETE_ASPECTS.run(store.db, id=feedback_id)


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
