"""The items of a volume, read from the database in 条目序号 order, and the rows made of each: the version-1
record (`record`; version 2's is in `exports.lines`) and the catalogue row (`catalogue_row`).

Streams in chunks (keyset on seq) with media, events and aspect scores loaded per chunk, so memory stays flat
however large the volume.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Result, select
from sqlmodel import Session, col

from core.clock import to_local
from core.settings import Settings
from exports import texts
from exports.models import Volume, VolumeItem
from exports.records import FORMULA_PREFIXES, Sanitised, sanitise
from feedback.models import (
    Action,
    Channel,
    Feedback,
    FeedbackAspect,
    FeedbackEvent,
    FeedbackMedia,
    Meal,
    Meeting,
    Site,
)
from feedback.service import pseudonym
from feedback.vocabulary import CHANNEL_LABELS, MEAL_LABELS, STATUS_LABELS


@dataclass(slots=True)
class Item:
    """One bound feedback with everything its rows need (`feedback` is a FeedbackRow, not a model object)."""

    seq: int
    item_code: str
    feedback: Any
    site: Site | None
    meeting: Meeting | None
    media: list[FeedbackMedia] = field(default_factory=list)
    reply: FeedbackEvent | None = None
    closed_at: datetime | None = None
    where: str = ""  # 食堂/餐次 or 会议, computed once
    meal: str = ""
    # the handling record (issue 14): every reply, rectification, resolve, close and return-visit event
    handling: list[FeedbackEvent] = field(default_factory=list)
    # the form's per-aspect stars (issue 15: 口味, 卫生, …), in the order given
    aspects: list[tuple[str, int]] = field(default_factory=list)


_FEEDBACK = Feedback.__table__  # type: ignore[attr-defined]


# The feedback columns a volume's rows and checks read, by name; their types and order come from the table.
# Not every column: search_tokens is several times the comment's size, and the handling-loop timestamps are
# read from the events (each further column is parsed for every item).
READ = (
    "id",
    "reference",
    "channel",
    "sender",
    "site_id",
    "meeting_id",
    "meal",
    "service_date",
    "score",
    "comment",
    "topics",
    "status",
    "volume_id",
    "created_at",
)
_SELECT = [col(VolumeItem.seq), col(VolumeItem.item_code), *(_FEEDBACK.c[name] for name in READ)]
# A plain tuple with named fields, not a SQLAlchemy Row, for every item: a volume's rows read its fields
# many times over (docs/benchmarks.md).
FeedbackRow = namedtuple("FeedbackRow", [c.key for c in _SELECT])  # type: ignore[misc]


def _feedback_rows(result: Result[Any]) -> Iterator[Any]:
    """The result's rows as FeedbackRow, matched by name: the result's columns must be the tuple's fields."""
    if tuple(result.keys()) != FeedbackRow._fields:
        raise RuntimeError(f"feedback rows: columns {tuple(result.keys())} are not {FeedbackRow._fields}")
    return map(FeedbackRow._make, result)


HANDLING = (Action.replied, Action.rectification, Action.resolved, Action.closed, Action.revisit_answered)


def snapshot_names(session: Session, *, meeting_ids: Iterable[int | None]) -> str:
    """The names a volume's items are sealed with (every site; the meetings given), as JSON."""
    ids = {i for i in meeting_ids if i is not None}
    sites = {str(s.id): [s.code, s.name] for s in session.execute(select(Site)).scalars()}
    meetings = {
        str(m.id): [m.code, m.title, m.organiser]
        for m in session.execute(select(Meeting).where(col(Meeting.id).in_(ids))).scalars()
    }
    return json.dumps({"sites": sites, "meetings": meetings}, ensure_ascii=False, sort_keys=True)


def _named(session: Session, volume_id: int) -> tuple[dict[Any, Site], dict[Any, Meeting]]:
    """Sites and meetings by id: as the volume's snapshot names them (edits after sealing change nothing), or as they are now for volumes sealed before snapshots."""
    names = session.execute(select(col(Volume.names)).where(col(Volume.id) == volume_id)).scalar_one_or_none()
    if names:
        snap = json.loads(names)
        return (
            {int(k): Site(id=int(k), code=c, name=n) for k, (c, n) in snap["sites"].items()},
            {
                int(k): Meeting(id=int(k), code=c, title=t, organiser=o, starts_on=date.min, ends_on=date.min)
                for k, (c, t, o) in snap["meetings"].items()
            },
        )
    return (
        {s.id: s for s in session.execute(select(Site)).scalars()},
        {m.id: m for m in session.execute(select(Meeting)).scalars()},
    )


def iter_items(session: Session, *, volume_id: int, chunk: int = 2000) -> Iterator[Item]:
    """The volume's items in seq order."""
    sites, meetings = _named(session, volume_id)
    wheres: dict[tuple[Any, ...], tuple[str, str]] = {}  # (channel, site, meeting, meal) -> (meal, where)
    in_volume = col(VolumeItem.volume_id) == volume_id
    last = 0
    while True:
        # plain rows, not ORM objects: no model object per feedback (docs/benchmarks.md)
        rows = list(
            _feedback_rows(
                session.execute(
                    select(*_SELECT)
                    .join(_FEEDBACK, _FEEDBACK.c.id == col(VolumeItem.feedback_id))
                    .where(in_volume, col(VolumeItem.seq) > last)
                    .order_by(col(VolumeItem.seq))
                    .limit(chunk)
                )
            )
        )
        if not rows:
            return
        # this chunk's media and events, by the chunk's seq range (no list of thousands of ids to bind)
        in_chunk = (in_volume, col(VolumeItem.seq) > last, col(VolumeItem.seq) <= rows[-1].seq)
        media: dict[int, list[FeedbackMedia]] = {}
        for m in session.execute(
            select(FeedbackMedia)
            .join(VolumeItem, col(VolumeItem.feedback_id) == col(FeedbackMedia.feedback_id))
            .where(*in_chunk)
            .order_by(col(FeedbackMedia.id))
        ).scalars():
            media.setdefault(m.feedback_id, []).append(m)
        replies: dict[int, FeedbackEvent] = {}
        closed: dict[int, datetime] = {}
        handling: dict[int, list[FeedbackEvent]] = {}
        for ev in session.execute(
            select(FeedbackEvent)
            .join(VolumeItem, col(VolumeItem.feedback_id) == col(FeedbackEvent.feedback_id))
            .where(*in_chunk, col(FeedbackEvent.action).in_(HANDLING))
            .order_by(col(FeedbackEvent.id))
        ).scalars():
            handling.setdefault(ev.feedback_id, []).append(ev)
            if ev.action == Action.replied:
                replies[ev.feedback_id] = ev  # the latest reply wins
            elif ev.action == Action.closed:
                closed[ev.feedback_id] = ev.at
        aspects: dict[int, list[tuple[str, int]]] = {}
        for a in session.execute(
            select(col(FeedbackAspect.feedback_id), col(FeedbackAspect.aspect), col(FeedbackAspect.score))
            .join(VolumeItem, col(VolumeItem.feedback_id) == col(FeedbackAspect.feedback_id))
            .where(*in_chunk)
            .order_by(col(FeedbackAspect.id))
        ):
            aspects.setdefault(a.feedback_id, []).append((a.aspect, a.score))
        for fb in rows:
            item = Item(
                seq=fb.seq,
                item_code=fb.item_code,
                feedback=fb,
                site=sites.get(fb.site_id),
                meeting=meetings.get(fb.meeting_id),
                media=media.get(fb.id, []),
                reply=replies.get(fb.id),
                closed_at=closed.get(fb.id),
                handling=handling.get(fb.id, []),
                aspects=aspects.get(fb.id, []),
            )
            key = (fb.channel, fb.site_id, fb.meeting_id, fb.meal)
            labels = wheres.get(key)
            if labels is None:  # a handful of sites × meals: labelled once, not per item
                item.meal = (
                    MEAL_LABELS.get(Meal(fb.meal), "") if fb.meal and fb.channel != Channel.meeting else ""
                )
                labels = wheres[key] = (item.meal, where_label(item))
            item.meal, item.where = labels
            yield item
        last = rows[-1].seq
        session.expunge_all()  # keep the identity map from growing with the volume


@lru_cache(maxsize=65536)
def _pseudonym(sender: str, secret: str) -> str:
    return pseudonym(sender, secret=secret)


def local_minute(dt: datetime | None, settings: Settings) -> str:
    """Local time to the minute, as printed: YYYY-MM-DD HH:MM (formatted without strftime: docs/benchmarks.md)."""
    if not dt:
        return ""
    t = to_local(dt, settings.tz)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}"


@lru_cache(maxsize=4096)
def _day(day: date) -> str:
    return day.strftime("%Y%m%d")


@lru_cache(maxsize=4096)
def _clean(text: str) -> str:
    # names typed by staff (pasted from Word, say) may carry characters a cell cannot hold
    return sanitise(text).text


def where_label(item: Item) -> str:
    """食堂/餐次 or 会议, as one cell."""
    fb = item.feedback
    if fb.channel == Channel.meeting:
        m = item.meeting
        return f"会议：{_clean(m.title)}（{m.code}）" if m else "会议"
    site = _clean(item.site.name) if item.site else texts.NO_SITE
    return f"{site} · {item.meal}" if item.meal else site


def attachment_names(item: Item) -> list[tuple[FeedbackMedia, str]]:
    """Each attachment and its path inside the bag's data/ folder."""
    out = []
    for n, m in enumerate(item.media, start=1):
        suffix = ".amr" if m.kind == "voice" else ".jpg"
        if m.local_path and "." in m.local_path.rsplit("/", 1)[-1]:
            suffix = "." + m.local_path.rsplit(".", 1)[-1]
        out.append((m, f"附件/{item.seq:04d}-{n}{suffix}"))
    return out


def record(item: Item, *, settings: Settings) -> tuple[list[Any], Sanitised]:
    """The 明细 values of one item (without its digest column), and how its comment was sanitised."""
    fb = item.feedback
    comment = sanitise(fb.comment)
    files = attachment_names(item)
    if files:
        images = sum(1 for m, _ in files if m.kind == "image")
        parts = [texts.ATTACHMENTS.format(images=images, voices=len(files) - images)]
        parts += [name + ("" if m.local_path else texts.ATTACHMENT_MISSING) for m, name in files]
        attachments = "；".join(parts)
    else:
        attachments = ""
    reply = item.reply
    reply_text = sanitise(reply.detail).text if reply else ""
    values: list[Any] = [
        item.seq,
        item.item_code,
        local_minute(fb.created_at, settings),
        CHANNEL_LABELS.get(fb.channel, fb.channel),
        _pseudonym(fb.sender, settings.pseudonym_secret),
        item.where,
        fb.topics,
        fb.score if fb.score is not None else "",
        comment.text,
        attachments,
        STATUS_LABELS.get(fb.status, fb.status),
        reply_text,
        reply.actor if reply else "",
        local_minute(reply.at, settings) if reply else "",
    ]
    return values, comment


def catalogue_row(item: Item, *, settings: Settings) -> list[Any]:
    """The 卷内目录 row of one item (GB/T 9705 / DA/T 22 columns)."""
    fb = item.feedback
    gist = (
        sanitise(fb.comment.strip().splitlines()[0] if fb.comment.strip() else "").text[:30]
        or texts.NO_COMMENT
    )
    if gist.startswith(FORMULA_PREFIXES):
        gist = "\u2019" + gist  # a visible mark, never a formula, in a title
    score = texts.SCORE_PART.format(score=fb.score) if fb.score is not None else ""
    if fb.channel == Channel.meeting:
        title = texts.ITEM_TITLE_MEETING.format(
            meeting=_clean(item.meeting.title) if item.meeting else "", score=score, gist=gist
        )
        responsible = _clean(item.meeting.organiser if item.meeting else "") or texts.RESPONSIBLE_DEFAULT
    else:
        title = texts.ITEM_TITLE_CANTEEN.format(
            where=_clean(item.site.name) if item.site else "", meal=item.meal, score=score, gist=gist
        )
        responsible = _clean(item.site.name) if item.site else texts.RESPONSIBLE_DEFAULT
    notes = []
    if item.media:
        notes.append(f"附件{len(item.media)}")
    return [
        item.seq,
        item.item_code,
        fb.reference,
        responsible,
        title,
        _day(fb.service_date),
        "",
        1,
        "；".join(notes),
    ]
