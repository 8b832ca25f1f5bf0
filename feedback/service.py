"""Feedback service: record feedback with its reference number, add to it, attach media, look up sites and meetings.

Keyword-only functions taking a session. They flush but never commit: the unit of work that called them
(the ingest batch, an API request, a CLI command) owns the commit, so one message's work lands whole.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from core.clock import utcnow
from core.counters import next_number
from core.fastsql import KeyLookup, Rows, Sql, defer, driver, memo, parse_date
from core.settings import Settings
from feedback import sla
from feedback.models import Channel, Meeting, Site, Status
from feedback.tokens import feedback_tokens
from feedback.vocabulary import TOPIC_WORDS

MAX_COMMENT_CHARS = 8000


class ArchivedError(Exception):
    """Archived feedback (bound into a volume) is read-only."""


_INSERT = Sql(
    "INSERT INTO feedback (reference, channel, source, sender, site_id, table_no, meeting_id, meal, service_date, "
    "score, comment, search_tokens, topics, status, misuse, volume_id, created_at, updated_at, ack_due_at, "
    "rectify_due_at) VALUES (:reference, "
    ":channel, :source, :sender, :site_id, :table_no, :meeting_id, :meal, :service_date, :score, :comment, "
    ":search_tokens, :topics, 'new', :misuse, NULL, :created_at, :created_at, :ack_due_at, :rectify_due_at) "
    "RETURNING id"
)
_COLUMNS = {
    "id": "integer", "reference": "text", "channel": "text", "source": "text", "sender": "text",
    "site_id": "integer", "table_no": "text", "meeting_id": "integer", "meal": "text", "service_date": "date",
    "score": "integer", "comment": "text", "search_tokens": "text", "topics": "text", "status": "text",
    "misuse": "boolean", "volume_id": "integer", "created_at": "timestamptz", "updated_at": "timestamptz",
    "ack_due_at": "timestamptz", "rectify_due_at": "timestamptz",
}  # fmt: skip
_INSERT_ROWS = Rows(f"INSERT INTO feedback ({', '.join(_COLUMNS)}) {{rows}}", _COLUMNS)
_NEXT_IDS_PG = Sql("SELECT nextval(pg_get_serial_sequence('feedback', 'id')) FROM generate_series(1, :n)")
_MAX_ID = Sql("SELECT coalesce(max(id), 0) FROM feedback")
_PENDING = "houqin.feedback.pending"  # memo key: rows not written yet
_ROWS = "houqin.feedback.rows"  # memo key: rows this batch created or prefetched, by id
_ID_BLOCK = 32
_SELECT = (
    "SELECT id, reference, channel, sender, site_id, table_no, meeting_id, meal, service_date, score, comment, "
    "status, volume_id FROM feedback"
)
_GET = Sql(f"{_SELECT} WHERE id = :id")
_GET_MANY = KeyLookup(_SELECT, "id", chunk=500)
_UPDATE = Sql(
    "UPDATE feedback SET score = :score, comment = :comment, search_tokens = :search_tokens, topics = :topics, "
    "updated_at = :now "
    "WHERE id = :id"
)
_UPDATE_SCORE = Sql("UPDATE feedback SET score = :score, updated_at = :now WHERE id = :id")
# a score or words that came later can only bring the deadlines nearer (HOUQIN_SLA)
_TIGHTEN = Sql(
    "UPDATE feedback SET ack_due_at = CASE WHEN ack_due_at IS NULL OR ack_due_at > :ack THEN :ack "
    "ELSE ack_due_at END, rectify_due_at = coalesce(rectify_due_at, :rectify) WHERE id = :id"
)
_TOUCH = Sql("UPDATE feedback SET updated_at = :now WHERE id = :id")
_EVENT = Sql(
    "INSERT INTO feedback_event (feedback_id, at, actor, action, detail) VALUES (:feedback_id, :at, :actor, :action, :detail)"
)
_MEDIA = Sql(
    "INSERT INTO feedback_media (feedback_id, kind, media_id, url, recognition, local_path, created_at) "
    "VALUES (:feedback_id, :kind, :media_id, :url, :recognition, :local_path, :created_at) RETURNING id"
)


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


class _Pending:
    """New feedback rows of this transaction not written yet, and the ids reserved for them."""

    __slots__ = ("ids_pending", "next_id", "pg_ids", "rows")

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []
        self.ids_pending: set[int] = set()
        self.pg_ids: list[int] = []  # PostgreSQL: reserved from the sequence, not yet used (newest first)
        self.next_id: int | None = None  # SQLite: the next id after the largest stored or reserved


def defer_inserts(session: Session) -> None:
    """Keep the feedback this transaction creates in memory and write it with one multi-row insert before
    the commit (the ingest batch: one statement per batch instead of one round trip per message).

    Ids are reserved up front so handlers can use them at once: on PostgreSQL from the table's sequence
    (never handed out twice, even to another worker); on SQLite after the largest id, which is safe because
    the batch's transaction holds SQLite's write lock from its first statement. A pending feedback read
    through `get_feedback` comes from memory; changing one, or attaching to it, writes the pending rows
    first; so callers never see the difference.
    """
    cache = memo(session)
    if _PENDING not in cache:
        cache[_PENDING] = _Pending()
        defer(session, order=0, flush=flush_inserts)


def flush_inserts(session: Session) -> None:
    """Write the feedback rows `defer_inserts` kept in memory (a no-op when there are none)."""
    pending: _Pending | None = memo(session).get(_PENDING)
    if pending is not None and pending.rows:
        rows, pending.rows = pending.rows, []
        pending.ids_pending.clear()
        _INSERT_ROWS.run(session, rows)


def _flush_if_pending(session: Session, feedback_id: int) -> None:
    """Write the pending rows when `feedback_id` is one of them (about to be read, changed or referred to)."""
    pending: _Pending | None = memo(session).get(_PENDING)
    if pending is not None and feedback_id in pending.ids_pending:
        flush_inserts(session)


def _reserve_id(session: Session, pending: _Pending) -> int:
    _conn, is_pg = driver(session)
    if is_pg:
        if not pending.pg_ids:
            rows = _NEXT_IDS_PG.run(session, n=_ID_BLOCK).fetchall()
            pending.pg_ids = sorted((int(r[0]) for r in rows), reverse=True)
        return pending.pg_ids.pop()
    if pending.next_id is None:
        pending.next_id = int(_MAX_ID.one(session)[0]) + 1
    found = pending.next_id
    pending.next_id += 1
    return found


def reference_number(session: Session, *, local_day: date) -> str:
    """Allocate the next reference number of the day, e.g. FK20261124-0042: never reused; gap-free unless
    the transaction draws from a worker's block of numbers (the ingest writer: see core.counters)."""
    day = f"{local_day.year:04d}{local_day.month:02d}{local_day.day:02d}"  # strftime costs 4 µs a call
    return f"FK{day}-{next_number(session, name=f'FK{day}'):04d}"


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
    settings: Settings | None = None,
) -> FeedbackRow:
    """Record a new feedback and give it a reference number (and, given settings, its HOUQIN_SLA deadlines)."""
    if score is not None and not 1 <= score <= 5:
        raise ValueError(f"score must be 1–5, got {score}")
    now = created_at or utcnow()
    meal = str(meal) if meal and channel == Channel.canteen else None
    text = _clean(comment)
    values = dict(
        reference=reference_number(session, local_day=local_day),
        channel=str(channel),
        sender=sender,
        site_id=site_id,
        table_no=table_no,
        meeting_id=meeting_id,
        meal=meal,
        service_date=service_date,
        score=score,
        comment=text,
    )
    tokens = feedback_tokens(
        session,
        comment=text,
        service_date=service_date,
        meal=meal,
        site_id=site_id,
        meeting_id=meeting_id,
    )
    extra = {
        "search_tokens": tokens,
        "topics": topics_of(comment),
        "source": source,
        "misuse": False,
    }
    due = (
        sla.deadlines(settings.sla, score=score, comment=text, received_at=now, tz=settings.tz)
        if settings
        else None
    )
    extra["ack_due_at"] = due.ack_due_at if due else None
    extra["rectify_due_at"] = due.rectify_due_at if due else None
    pending: _Pending | None = memo(session).get(_PENDING)
    if pending is not None:
        new_id = _reserve_id(session, pending)
        pending.ids_pending.add(new_id)
        pending.rows.append(
            {
                **values,
                **extra,
                "id": new_id,
                "status": "new",
                "volume_id": None,
                "created_at": now,
                "updated_at": now,
            }
        )
        created = FeedbackRow(id=new_id, **values, status=Status.new, volume_id=None)  # type: ignore[arg-type]
        memo(session).setdefault(_ROWS, {})[new_id] = created
        return created
    row = _INSERT.one(session, **values, **extra, created_at=now)
    return FeedbackRow(id=row[0], **values, status=Status.new, volume_id=None)  # type: ignore[arg-type]


def _row(row: Any) -> FeedbackRow:
    values = list(row)
    values[8] = parse_date(values[8])
    return FeedbackRow(*values)


def prefetch(session: Session, *, feedback_ids: Iterable[int]) -> None:
    """Read these feedback with one query and keep them for `get_feedback` for the rest of the transaction
    (the ingest batch: the feedback its senders' windows point at)."""
    known: dict[int, FeedbackRow] = memo(session).setdefault(_ROWS, {})
    todo = [i for i in dict.fromkeys(feedback_ids) if i not in known]
    for row in _GET_MANY.run(session, todo):
        known[int(row[0])] = _row(row)


def get_feedback(session: Session, *, feedback_id: int) -> FeedbackRow | None:
    """One feedback as a plain row (the same object again within a batch that created or prefetched it)."""
    known: dict[int, FeedbackRow] | None = memo(session).get(_ROWS)
    if known is not None and feedback_id in known:
        return known[feedback_id]
    row = _GET.one(session, id=feedback_id)
    return None if row is None else _row(row)


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
    session: Session,
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
    _flush_if_pending(session, feedback.id)
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
            tokens = _tokens_of(session, feedback)
            _UPDATE.run(
                session,
                score=feedback.score,
                comment=feedback.comment,
                search_tokens=tokens,
                topics=topics_of(feedback.comment),
                now=now,
                id=feedback.id,
            )
        else:  # a score alone leaves the search column (and its index) untouched
            _UPDATE_SCORE.run(session, score=feedback.score, now=now, id=feedback.id)
        _EVENT.run(
            session,
            feedback_id=feedback.id,
            at=now,
            actor=actor,
            action="diner_added",
            detail=",".join(changed),
        )
        if settings is not None:
            due = sla.deadlines(
                settings.sla, score=feedback.score, comment=feedback.comment, received_at=now, tz=settings.tz
            )
            if due.ack_due_at is not None:
                _TIGHTEN.run(session, ack=due.ack_due_at, rectify=due.rectify_due_at, id=feedback.id)
    return feedback


def attach_media(
    session: Session,
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
    _flush_if_pending(session, feedback.id)
    now = utcnow()
    row = _MEDIA.one(
        session,
        feedback_id=feedback.id,
        kind=kind,
        media_id=media_id,
        url=url,
        recognition=recognition,
        local_path=local_path,
        created_at=now,
    )
    _TOUCH.run(session, now=now, id=feedback.id)
    return int(row[0])


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

_AMEND = Sql(
    "UPDATE feedback SET site_id = :site_id, meal = :meal, score = :score, search_tokens = :search_tokens, "
    "updated_at = :now WHERE id = :id"
)
_CANTEENS = "houqin.feedback.canteens"  # memo key: the active canteens, read once per transaction
_LAST_PLACE = Sql(
    "SELECT site_id FROM feedback WHERE sender = :sender AND created_at >= :since AND site_id IS NOT NULL "
    "AND channel = 'canteen' ORDER BY created_at DESC, id DESC LIMIT 1"
)


def amend_feedback(
    session: Session,
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
    _flush_if_pending(session, feedback.id)
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
            session, feedback_id=feedback.id, score=score, comment=feedback.comment, settings=settings
        )
    if not changed:
        return feedback
    now = utcnow()
    tokens = _tokens_of(session, feedback)
    _AMEND.run(
        session,
        site_id=feedback.site_id,
        meal=feedback.meal,
        score=feedback.score,
        search_tokens=tokens,
        now=now,
        id=feedback.id,
    )
    _EVENT.run(
        session, feedback_id=feedback.id, at=now, actor=actor, action="diner_added", detail=",".join(changed)
    )
    return feedback


def last_place(session: Session, *, sender: str, since: datetime) -> int | None:
    """The canteen (site id) of the sender's latest canteen feedback since `since`, or None."""
    pending: _Pending | None = memo(session).get(_PENDING)
    if pending is not None:  # this batch's feedback, not written yet, is newer than any stored
        for new in reversed(pending.rows):
            if new["sender"] == sender and new["site_id"] is not None and new["channel"] == Channel.canteen:
                return int(new["site_id"])  # type: ignore[call-overload]
    row = _LAST_PLACE.one(session, sender=sender, since=since)
    return None if row is None else int(row[0])


def active_canteens(session: Session) -> list[Site]:
    """The active canteens, in a stable order (the numbered list a diner answers with 回复序号); read once
    per transaction (an ingest batch asks for every message without a place)."""
    cache = memo(session)
    found: list[Site] | None = cache.get(_CANTEENS)
    if found is None:
        found = cache[_CANTEENS] = list(
            session.execute(
                select(Site)
                .where(col(Site.kind) == "canteen", col(Site.active).is_(True))
                .order_by(col(Site.code), col(Site.id))
            ).scalars()
        )
    return found
