"""The inbox query shared by the console page and `GET /api/v1/feedback`: the filters as typed values
(`InboxFilters`; the page reads them from its query string with `InboxFilters.parse`), the quick tabs
(`?tab=`: the worklist's lines from feedback/worklist.py, 预警未受理 and 整改逾期 among them, then 待处理
and 今天), and keyset pagination.

Keyset pagination (no OFFSET): a page ends with an opaque cursor holding the sort key of its last row
(for the previous page, of its first row); the next page is the rows strictly after that key in the same
order, with the row id as the tie-breaker, so every item appears on exactly one page however deep the
reader goes, and a feedback arriving meanwhile never shifts one into the next page twice.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import HTTPException
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlmodel import Session, col

from console import inputs, texts
from core.clock import utcnow
from core.settings import Settings
from feedback import worklist
from feedback.models import Feedback, Status

PAGE_SIZE = 50
SORTS = ("new", "low")


@dataclass(frozen=True)
class TabContext:
    """What a tab's condition may depend on: the clock and the settings (time zone)."""

    now: datetime
    settings: Settings

    @property
    def today(self) -> date:
        """The local date now."""
        return self.now.astimezone(self.settings.tz).date()

    def local_day_utc(self, day: date) -> tuple[datetime, datetime]:
        """A local day as [start, end) in UTC."""
        start = datetime.combine(day, time(), tzinfo=self.settings.tz)
        return start, start + timedelta(days=1)


OPEN = [Status.new, Status.acknowledged, Status.rectifying, Status.resolved]


def _pending(ctx: TabContext) -> ColumnElement[bool]:
    return and_(col(Feedback.status).in_(OPEN), col(Feedback.volume_id).is_(None))


def _today(ctx: TabContext) -> ColumnElement[bool]:
    start, end = ctx.local_day_utc(ctx.today)
    return and_(col(Feedback.created_at) >= start, col(Feedback.created_at) < end)


def _worklist_tab(name: str) -> Callable[[TabContext], ColumnElement[bool]]:
    """A 今日待办 line as a tab: the very conditions its count uses, so the link lists exactly those items."""

    def condition(ctx: TabContext) -> ColumnElement[bool]:
        return and_(
            *worklist.conditions(name, now=ctx.now, tz=ctx.settings.tz, max_score=ctx.settings.sla.max_score)
        )

    return condition


# name → condition: the worklist's lines (one definition, in feedback/worklist.py), then the inbox's own
TABS: dict[str, Callable[[TabContext], ColumnElement[bool]]] = {
    name: _worklist_tab(name) for name in worklist.TABS
} | {"pending": _pending, "today": _today}


@dataclass(frozen=True)
class InboxFilters:
    """The inbox's filters as typed values; None means "no filter". An unknown tab is refused (422), as is
    a score other than 1–5 or `none` and a text that could never be stored (InputError)."""

    start: date | None = None
    end: date | None = None
    site: int | None = None
    meeting: int | None = None
    meal: str | None = None
    score: str | None = None  # "1"–"5" or "none"
    status: str | None = None
    topic: str | None = None
    q: str | None = None
    tab: str | None = None
    sort: str = "new"

    def __post_init__(self) -> None:
        if self.tab is not None and self.tab not in TABS:
            raise HTTPException(422, texts.BAD_TAB)
        if self.score not in (None, "none", "1", "2", "3", "4", "5"):
            raise inputs.InputError(inputs.BAD_NUMBER.format(name="score", hi=5))
        for text in (self.topic, self.q):
            if text:
                inputs.text_ok(text)

    @classmethod
    def parse(cls, params: dict[str, str]) -> InboxFilters:
        """Read the filters from the inbox page's query string; blanks mean "no filter"."""

        def day(name: str) -> date | None:
            return inputs.day(params.get(name))

        def num(name: str) -> int | None:
            return inputs.ascii_int(params.get(name), name=name)

        score = params.get("score") or None
        tab = params.get("tab") or None
        if tab is not None and tab not in TABS:
            raise HTTPException(422, texts.BAD_TAB)
        return cls(
            start=day("start"),
            end=day("end"),
            site=num("site"),
            meeting=num("meeting"),
            meal=params.get("meal") or None,
            score=_score(score),
            status=params.get("status") or None,
            topic=params.get("topic") or None,
            q=params.get("q") or None,
            tab=tab,
            sort="low" if params.get("sort") == "low" else "new",
        )


def _score(value: str | None) -> str | None:
    """The score filter: 1–5 or `none` (unscored); anything else is refused (InputError)."""
    if value is None or value == "none":
        return value
    return str(inputs.ascii_int(value, name="score", hi=5))


def conditions(
    db: Session, f: InboxFilters, *, channel: str | None, ctx: TabContext
) -> list[ColumnElement[bool]]:
    """The WHERE conditions of the filters (and the role's channel)."""
    where: list[ColumnElement[bool]] = []
    if channel is not None:
        where.append(col(Feedback.channel) == channel)
    if f.start is not None:
        where.append(col(Feedback.service_date) >= f.start)
    if f.end is not None:
        where.append(col(Feedback.service_date) <= f.end)
    if f.site is not None:
        where.append(col(Feedback.site_id) == f.site)
    if f.meeting is not None:
        where.append(col(Feedback.meeting_id) == f.meeting)
    if f.meal:
        where.append(col(Feedback.meal) == f.meal)
    if f.score == "none":
        where.append(col(Feedback.score).is_(None))
    elif f.score:
        where.append(col(Feedback.score) == int(f.score))
    if f.status:
        where.append(col(Feedback.status) == f.status)
    if f.topic:
        where.append(col(Feedback.topics).contains(f.topic))
    if f.tab:
        where.append(TABS[f.tab](ctx))
    if f.q:
        from search.service import search

        hits = search(db, query=f.q, archived_only=False, limit=5000, offset=0).hits
        where.append(col(Feedback.id).in_([h.feedback_id for h in hits] or [-1]))
    return where


# --- keyset pagination ------------------------------------------------------------------------------


def _keys(sort: str) -> list[tuple[Any, bool]]:
    """The sort key as (expression, ascending) pairs, ending with the id so it is unique."""
    if sort == "low":
        return [
            (case((col(Feedback.score).is_(None), 1), else_=0), True),
            (func.coalesce(col(Feedback.score), 0), True),
            (col(Feedback.created_at), False),
            (col(Feedback.id), False),
        ]
    return [(col(Feedback.created_at), False), (col(Feedback.id), False)]


def _key_of(fb: Feedback, sort: str) -> list[Any]:
    created = fb.created_at.isoformat()
    if sort == "low":
        return [1 if fb.score is None else 0, fb.score or 0, created, fb.id]
    return [created, fb.id]


def _after(keys: list[tuple[Any, bool]], values: list[Any], forward: bool) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order of `keys` (before them when not `forward`)."""
    terms = []
    for i, (expr, asc) in enumerate(keys):
        later = expr > values[i] if asc == forward else expr < values[i]
        terms.append(and_(*[keys[j][0] == values[j] for j in range(i)], later))
    return or_(*terms)


def encode_cursor(sort: str, direction: str, key: list[Any]) -> str:
    """An opaque cursor: the sort, the direction (n: next, p: previous) and a row's sort key."""
    raw = json.dumps([sort, direction, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[str, list[Any]]:
    """The direction and key of a cursor made for this sort; 422 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        c_sort, direction, key = json.loads(raw)
        n = len(_keys(sort))
        if c_sort != sort or direction not in ("n", "p") or not isinstance(key, list) or len(key) != n:
            raise ValueError(cursor)
        if sort == "low":
            key = [int(key[0]), int(key[1]), datetime.fromisoformat(str(key[2])), int(key[3])]
        else:
            key = [datetime.fromisoformat(str(key[0])), int(key[1])]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, IndexError) as exc:
        raise HTTPException(422, texts.BAD_CURSOR) from exc
    return direction, key


@dataclass
class InboxPage:
    """One page of the inbox: its rows, the cursors to the pages beside it, and the filtered total."""

    rows: list[Feedback]
    total: int
    next_cursor: str | None
    prev_cursor: str | None


def inbox_page(
    db: Session,
    f: InboxFilters,
    *,
    channel: str | None,
    settings: Settings,
    limit: int = PAGE_SIZE,
    cursor: str | None = None,
    now: datetime | None = None,
) -> InboxPage:
    """One page of the filtered inbox, in the filters' sort, after (or before) the cursor."""
    ctx = TabContext(now=now or utcnow(), settings=settings)
    where = conditions(db, f, channel=channel, ctx=ctx)
    keys = _keys(f.sort)
    direction, key = decode_cursor(cursor, f.sort) if cursor else ("n", None)
    forward = direction == "n"
    query = select(Feedback).where(*where)
    if key is not None:
        query = query.where(_after(keys, key, forward))
    order = [expr.asc() if asc == forward else expr.desc() for expr, asc in keys]
    rows = list(db.execute(query.order_by(*order).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    if not forward:
        rows.reverse()
    next_cursor = prev_cursor = None
    if rows:
        if more or not forward:
            next_cursor = encode_cursor(f.sort, "n", _key_of(rows[-1], f.sort))
        if key is not None and (more or forward):
            prev_cursor = encode_cursor(f.sort, "p", _key_of(rows[0], f.sort))
    total = db.execute(select(func.count()).select_from(Feedback).where(*where)).scalar_one()
    return InboxPage(rows=rows, total=total, next_cursor=next_cursor, prev_cursor=prev_cursor)
