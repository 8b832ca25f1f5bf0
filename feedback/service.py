"""Feedback service: the rules for recording feedback (reference number, cleaning, topics, search tokens,
HOUQIN_SLA deadlines), adding to it, correcting it and attaching media; looking up sites and meetings.

The writing functions take a `FeedbackStore` (the message path's `ingest.store.Store`), which says whether
its writes land now or with its batch; they never commit: the unit of work that called them (the ingest
batch, an API request, a CLI command) owns the commit, so one message's work lands whole.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlmodel import Session, col

from core.clock import utcnow
from core.settings import Settings
from feedback import sla
from feedback.models import Channel, Meeting, Site, Status
from feedback.tokens import feedback_tokens
from feedback.vocabulary import TOPIC_WORDS

MAX_COMMENT_CHARS = 8000


class ArchivedError(Exception):
    """Archived feedback (bound into a volume) is read-only."""


_TOPIC_OF = {w: topic for topic, words in TOPIC_WORDS.items() for w in words}
# one pass over the comment instead of a scan per word (this runs for every stored message)
_TOPIC_WORD = re.compile("|".join(re.escape(w) for w in sorted(_TOPIC_OF, key=len, reverse=True)))
_TOPIC_ORDER = {topic: n for n, topic in enumerate(TOPIC_WORDS)}


def topics_of(comment: str) -> str:
    """The topics (类别) a comment touches, comma-separated, from the lexicon in feedback/vocabulary.py."""
    found = {_TOPIC_OF[w] for w in _TOPIC_WORD.findall(comment)}
    return ",".join(sorted(found, key=_TOPIC_ORDER.__getitem__))


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; WeChat's XML cannot carry one either, but other channels might
    return text.replace("\x00", "")[:MAX_COMMENT_CHARS]


@dataclass
class FeedbackRow:
    """The fields of a feedback the message path needs (a plain row, not an ORM object)."""

    id: int
    reference: str
    channel: str
    sender: str
    site_id: int | None
    table_no: str | None
    meeting_id: int | None
    meal: str | None
    service_date: date
    score: int | None
    comment: str
    status: str
    volume_id: int | None


class FeedbackStore(Protocol):
    """Where feedback is read and written: now, or with the batch that owns the transaction (`deferred`)."""

    @property
    def session(self) -> Session:
        """The unit of work's session."""

    @property
    def deferred(self) -> bool:
        """True when writes wait for the batch's flush before its commit; False when they land at once."""

    def next_number(self, name: str) -> int:
        """The next value of counter `name` (from the batch's blocks when it has them)."""

    def insert_feedback(self, row: dict[str, Any]) -> FeedbackRow:
        """Store a new feedback (`row`: its columns but the id) and return it with its id."""

    def update_feedback(self, feedback_id: int, values: dict[str, Any]) -> None:
        """Set these columns of one feedback."""

    def tighten_deadlines(self, feedback_id: int, *, ack: datetime, rectify: datetime | None) -> None:
        """Bring the feedback's deadlines nearer (never later than they are)."""

    def add_event(self, *, feedback_id: int, at: datetime, actor: str, action: str, detail: str) -> None:
        """Append to the feedback's history."""

    def add_media(self, row: dict[str, Any]) -> int:
        """Attach a media row to a feedback; its id."""


def reference_number(store: FeedbackStore, *, local_day: date) -> str:
    """Allocate the next reference number of the day, e.g. FK20261124-0042: never reused; gap-free unless
    the store draws from a worker's block of numbers (the ingest writer: see core.counters)."""
    day = f"{local_day.year:04d}{local_day.month:02d}{local_day.day:02d}"  # f-string: see docs/benchmarks.md
    return f"FK{day}-{store.next_number(f'FK{day}'):04d}"


def create_feedback(
    store: FeedbackStore,
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
    settings: Settings | None = None,
) -> FeedbackRow:
    """Record a new feedback and give it a reference number (and, given settings, its HOUQIN_SLA deadlines)."""
    if score is not None and not 1 <= score <= 5:
        raise ValueError(f"score must be 1–5, got {score}")
    now = created_at or utcnow()
    meal = str(meal) if meal and channel == Channel.canteen else None
    text = _clean(comment)
    due = (
        sla.deadlines(settings.sla, score=score, comment=text, received_at=now, tz=settings.tz)
        if settings
        else None
    )
    return store.insert_feedback(
        {
            "reference": reference_number(store, local_day=local_day),
            "channel": str(channel),
            "source": source,
            "sender": sender,
            "site_id": site_id,
            "table_no": table_no,
            "meeting_id": meeting_id,
            "meal": meal,
            "service_date": service_date,
            "score": score,
            "comment": text,
            "search_tokens": feedback_tokens(
                store.session,
                comment=text,
                service_date=service_date,
                meal=meal,
                site_id=site_id,
                meeting_id=meeting_id,
            ),
            "topics": topics_of(comment),
            "status": Status.new.value,
            "misuse": False,
            "volume_id": None,
            "created_at": now,
            "updated_at": now,
            "ack_due_at": due.ack_due_at if due else None,
            "rectify_due_at": due.rectify_due_at if due else None,
        }
    )


def _tokens_of(session: Session, feedback: FeedbackRow) -> str:
    """The search tokens of a feedback as it stands now (comment, place, meal, date)."""
    return feedback_tokens(
        session,
        comment=feedback.comment,
        service_date=feedback.service_date,
        meal=feedback.meal,
        site_id=feedback.site_id,
        meeting_id=feedback.meeting_id,
    )


def add_to_feedback(
    store: FeedbackStore,
    *,
    feedback: FeedbackRow,
    score: int | None = None,
    comment: str = "",
    actor: str,
    settings: Settings | None = None,
) -> FeedbackRow:
    """Add a score (when it has none) and/or more comment text to a feedback still open for the diner
    (given settings, a low score or food-safety words bring its HOUQIN_SLA deadlines nearer)."""
    if feedback.volume_id is not None:
        raise ArchivedError(feedback.reference)
    changed = []
    if score is not None and feedback.score is None:
        feedback.score = score
        changed.append(f"score={score}")
    if comment:
        feedback.comment = (f"{feedback.comment}\n{comment}" if feedback.comment else comment)[
            :MAX_COMMENT_CHARS
        ]
        changed.append("comment")
    if changed:
        now = utcnow()
        if comment:
            values = {
                "score": feedback.score,
                "comment": feedback.comment,
                "search_tokens": _tokens_of(store.session, feedback),
                "topics": topics_of(feedback.comment),
                "updated_at": now,
            }
        else:  # a score alone leaves the search column (and its index) untouched
            values = {"score": feedback.score, "updated_at": now}
        store.update_feedback(feedback.id, values)
        store.add_event(
            feedback_id=feedback.id, at=now, actor=actor, action="diner_added", detail=",".join(changed)
        )
        if settings is not None:
            due = sla.deadlines(
                settings.sla, score=feedback.score, comment=feedback.comment, received_at=now, tz=settings.tz
            )
            if due.ack_due_at is not None:
                store.tighten_deadlines(feedback.id, ack=due.ack_due_at, rectify=due.rectify_due_at)
    return feedback


def attach_media(
    store: FeedbackStore,
    *,
    feedback: FeedbackRow,
    kind: str,
    media_id: str = "",
    url: str = "",
    recognition: str = "",
    local_path: str | None = None,
) -> int:
    """Attach a photo or voice note to a feedback (the file is fetched from WeChat later, by a job)."""
    if feedback.volume_id is not None:
        raise ArchivedError(feedback.reference)
    now = utcnow()
    media = store.add_media(
        {
            "feedback_id": feedback.id,
            "kind": kind,
            "media_id": media_id,
            "url": url,
            "recognition": recognition,
            "local_path": local_path,
            "created_at": now,
        }
    )
    store.update_feedback(feedback.id, {"updated_at": now})
    return media


def site_by_code(session: Session, *, code: str) -> Site | None:
    """The active site with this code."""
    return session.execute(
        select(Site).where(col(Site.code) == code, col(Site.active).is_(True))
    ).scalar_one_or_none()


def meeting_by_code(session: Session, *, code: str) -> Meeting | None:
    """The meeting with this code (codes are matched case-insensitively, stored upper-case)."""
    return session.execute(select(Meeting).where(col(Meeting.code) == code.upper())).scalar_one_or_none()


def pseudonym(sender: str, *, secret: str) -> str:
    """A stable pseudonym for a diner (反馈人), so openids never leave the database."""
    digest = hmac.new(secret.encode(), sender.encode(), hashlib.sha256).hexdigest()
    return f"用户{digest[:12].upper()}"  # 48 bits: no two of a few million diners share one


# --- the diner corrects what was recorded (issue 12): the place, the meal, a replaced score ------------


def amend_feedback(
    store: FeedbackStore,
    *,
    feedback: FeedbackRow,
    actor: str,
    site_id: int | None = None,
    meal: str | None = None,
    score: int | None = None,
    settings: Settings | None = None,
) -> FeedbackRow:
    """Set a feedback's place, meal or score as its diner says (the given ones; one diner_added event)."""
    if feedback.volume_id is not None:
        raise ArchivedError(feedback.reference)
    changed = []
    if site_id is not None and site_id != feedback.site_id:
        feedback.site_id = site_id
        changed.append(f"site={site_id}")
    if meal is not None and meal != feedback.meal:
        feedback.meal = str(meal)
        changed.append(f"meal={meal}")
    if score is not None and score != feedback.score:
        changed.append(f"score={score} (was {feedback.score})")
        feedback.score = score
        sla.rescore(
            store.session, feedback_id=feedback.id, score=score, comment=feedback.comment, settings=settings
        )
    if not changed:
        return feedback
    now = utcnow()
    values = {
        "site_id": feedback.site_id,
        "meal": feedback.meal,
        "score": feedback.score,
        "search_tokens": _tokens_of(store.session, feedback),
        "updated_at": now,
    }
    store.update_feedback(feedback.id, values)
    store.add_event(
        feedback_id=feedback.id, at=now, actor=actor, action="diner_added", detail=",".join(changed)
    )
    return feedback


def active_canteens(session: Session) -> list[Site]:
    """The active canteens, in a stable order (the numbered list a diner answers with 回复序号)."""
    return list(
        session.execute(
            select(Site)
            .where(col(Site.kind) == "canteen", col(Site.active).is_(True))
            .order_by(col(Site.code), col(Site.id))
        ).scalars()
    )
