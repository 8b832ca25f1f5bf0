"""Per-day rollups (issue 13, a million feedbacks): the dashboard's counts and scores, its topics, the form's
aspects and the 三率, summed per service day × channel × canteen/meeting × meal × first acknowledger in
`feedback_daily` (topics and aspects in `feedback_daily_part`), so two years read a few thousand rows, not a
million.

Exactly right, without a write on any write path:
- The last LIVE_DAYS days are always computed live from `feedback` (they change all day long).
- Older days come from the rollup, first brought up to date: a day is rebuilt when a feedback of it changed
  since the last look (`updated_at` ≥ `marked_at`, through the covering index (updated_at, service_date);
  every write path sets `updated_at`, and `service_date` and `channel` never change) or when a deadline it
  was still waiting for has passed since (`ack_pending`, `rectify_pending`: an item is judged for 响应率 once
  acknowledged or once its deadline is past, so the 三率 move with the clock too).
- `marked_at` is set MARGIN before the clock of the refresh that took a change in, so a transaction that
  committed a little after it stamped `updated_at` is still seen; a clock behind `judged_at` (the rollup
  already judged deadlines that have not passed for it) is answered live.
- The rebuild runs in the caller's unit of work when it may write; under a read-only console request it
  runs in a short transaction of its own (and the figures are read in it), and only when something changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col

from feedback.models import Feedback, FeedbackAspect, FeedbackDaily, FeedbackDailyPart, RollupState

LIVE_DAYS = 14  # the newest service days, always computed live
MARGIN = timedelta(minutes=10)  # how late after stamping `updated_at` a write may still commit
REMARK = timedelta(hours=1)  # move `marked_at` on at least this often (keeps the look at changes short)
DAYS_PER_STATEMENT = 200
_DAILY = FeedbackDaily.__table__  # type: ignore[attr-defined]
_PART = FeedbackDailyPart.__table__  # type: ignore[attr-defined]
Executor = Session | Connection


def score_sums(score: Any = None) -> list[Any]:
    """n, scored, total and satisfied (4–5) as labelled aggregates of a score column (default the feedback's)."""
    score = col(Feedback.score) if score is None else score
    return [
        func.count().label("n"),
        func.count(score).label("scored"),
        func.coalesce(func.sum(score), 0).label("total"),
        func.coalesce(func.sum(case((score >= 4, 1), else_=0)), 0).label("satisfied"),
    ]


def rate_sums(now: datetime) -> list[Any]:
    """Each of the 三率's hits and n at `now` as labelled sums (`response_hits`, `response_n`, …)."""
    ack_judged = or_(col(Feedback.acknowledged_at).is_not(None), col(Feedback.ack_due_at) <= now)
    ack_ok = and_(
        col(Feedback.acknowledged_at).is_not(None), col(Feedback.acknowledged_at) <= col(Feedback.ack_due_at)
    )
    rect_judged = and_(
        col(Feedback.rectify_due_at).is_not(None),
        or_(col(Feedback.rectified_at).is_not(None), col(Feedback.rectify_due_at) <= now),
    )
    rect_ok = and_(
        col(Feedback.rectified_at).is_not(None), col(Feedback.rectified_at) <= col(Feedback.rectify_due_at)
    )

    def n(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    return [
        n(and_(col(Feedback.ack_due_at).is_not(None), ack_ok)).label("response_hits"),
        n(and_(col(Feedback.ack_due_at).is_not(None), ack_judged)).label("response_n"),
        n(and_(rect_judged, rect_ok)).label("resolution_hits"),
        n(rect_judged).label("resolution_n"),
        n(col(Feedback.revisit_answer).in_([1, 2])).label("satisfaction_hits"),
        n(col(Feedback.revisit_answer).is_not(None)).label("satisfaction_n"),
    ]


def _pending(now: datetime) -> list[Any]:
    """The earliest deadline still ahead at `now` of items not yet judged: then the 三率 change."""
    ack = and_(col(Feedback.acknowledged_at).is_(None), col(Feedback.ack_due_at) > now)
    rect = and_(col(Feedback.rectified_at).is_(None), col(Feedback.rectify_due_at) > now)
    return [
        func.min(case((ack, col(Feedback.ack_due_at)), else_=None)).label("ack_pending"),
        func.min(case((rect, col(Feedback.rectify_due_at)), else_=None)).label("rectify_pending"),
    ]


@dataclass(frozen=True)
class Split:
    """A range of service days cut into the part read from the rollup and the part computed live."""

    rolled: tuple[date, date] | None
    live: tuple[date, date] | None


def split(start: date, end: date, *, now: datetime, rollups: bool = True) -> Split:
    """Which of `start`..`end` the rollup answers (days before the last LIVE_DAYS) and which are live."""
    if not rollups:
        return Split(None, (start, end) if start <= end else None)
    boundary = boundary_of(now)
    rolled = (start, min(end, boundary - timedelta(days=1))) if start < boundary and start <= end else None
    live = (max(start, boundary), end) if end >= boundary and start <= end else None
    return Split(rolled, live)


def boundary_of(now: datetime) -> date:
    """The first service day computed live."""
    return now.date() - timedelta(days=LIVE_DAYS)


# --- bringing the rollup up to date ---------------------------------------------------------------------


@dataclass
class _Todo:
    full: bool = False
    days: frozenset[date] = frozenset()
    extend_from: date | None = None
    remark: bool = False

    @property
    def rewrites(self) -> bool:
        """Whether rollup rows are rewritten (not only the mark moved on)."""
        return self.full or bool(self.days) or self.extend_from is not None

    @property
    def any(self) -> bool:
        return self.rewrites or self.remark


def _state_row(ex: Executor) -> Any:
    return ex.execute(select(RollupState.__table__).where(RollupState.__table__.c.id == 1)).first()  # type: ignore[attr-defined]


def _refresh(ex: Executor, now: datetime, boundary: date) -> bool:
    """Bring the rollup up to date at `now` inside `ex`'s transaction (False: the clock is behind it)."""
    todo = _look_state(ex, now, boundary)
    if todo is None:
        return False
    covered: date | None
    if todo.full:
        ex.execute(delete(_DAILY))
        ex.execute(delete(_PART))
        _build(ex, now, [col(Feedback.service_date) < boundary])
        covered = boundary
    else:
        state = _state_row(ex)
        covered = state.covered_until
        days = sorted(todo.days)
        for k in range(0, len(days), DAYS_PER_STATEMENT):
            chunk = days[k : k + DAYS_PER_STATEMENT]
            ex.execute(delete(_DAILY).where(_DAILY.c.service_date.in_(chunk)))
            ex.execute(delete(_PART).where(_PART.c.service_date.in_(chunk)))
            _build(ex, now, [col(Feedback.service_date).in_(chunk)])
        if todo.extend_from is not None:
            after = todo.extend_from
            ex.execute(delete(_DAILY).where(_DAILY.c.service_date >= after, _DAILY.c.service_date < boundary))
            ex.execute(delete(_PART).where(_PART.c.service_date >= after, _PART.c.service_date < boundary))
            _build(ex, now, [col(Feedback.service_date) >= after, col(Feedback.service_date) < boundary])
            covered = boundary
    values: dict[str, Any] = {"covered_until": covered, "judged_at": now, "marked_at": now - MARGIN}
    table = RollupState.__table__  # type: ignore[attr-defined]
    if _state_row(ex) is None:
        ex.execute(insert(table).values(id=1, generation=1, **values))
        return True
    if todo.rewrites:  # what caches of the rollup are keyed by: a re-mark alone rewrites no row
        values["generation"] = func.coalesce(table.c.generation, 0) + 1
    ex.execute(update(table).where(table.c.id == 1).values(**values))
    return True


def _look_state(ex: Executor, now: datetime, boundary: date) -> _Todo | None:
    """`_look_conn`, holding the state row's lock on PostgreSQL (SQLite: the write transaction is the lock)."""
    if _dialect(ex) == "postgresql":
        table = RollupState.__table__  # type: ignore[attr-defined]
        ex.execute(select(table.c.id).where(table.c.id == 1).with_for_update())
    return _look_conn(ex, now, boundary)


def _look_conn(ex: Executor, now: datetime, boundary: date) -> _Todo | None:
    return look(ex, now, boundary, state=_state_row(ex)).todo


@dataclass(frozen=True)
class Look:
    """What the rollup must do at `now` (`todo`, None: the clock is behind it) and the feedbacks changed
    since `since` (or the rollup's mark): their service day and `updated_at`."""

    todo: _Todo | None
    changed: tuple[tuple[date, datetime], ...] = ()


def look(ex: Executor, now: datetime, boundary: date, *, state: Any, since: datetime | None = None) -> Look:
    """Look at the rollup's `state` row at `now`: the days to rebuild, and the changes since `since` too."""
    if state is None or state.covered_until is None or state.marked_at is None:
        return Look(_Todo(full=True))
    if state.judged_at is not None and now < _aware(state.judged_at):
        return Look(None)
    covered = _day(state.covered_until)
    marked = _aware(state.marked_at)
    threshold = min(marked, since) if since is not None else marked
    # only the rows changed since: through the covering index (updated_at, service_date), filtered and
    # deduplicated here — a condition on service_date, or DISTINCT, sends SQLite's planner (with or without
    # ANALYZE) to scan the whole (service_date, channel) index instead: 0.5 s at 200,000 rows
    changed = tuple(
        (_day(d), _aware(at))
        for d, at in ex.execute(
            select(col(Feedback.service_date), col(Feedback.updated_at)).where(
                col(Feedback.updated_at) >= threshold
            )
        ).all()
    )
    due = ex.execute(
        select(col(FeedbackDaily.service_date))
        .where(col(FeedbackDaily.ack_pending) <= now)
        .union(select(col(FeedbackDaily.service_date)).where(col(FeedbackDaily.rectify_pending) <= now))
    ).scalars()
    todo = _Todo(
        days=frozenset((*(d for d, at in changed if at >= marked and d < covered), *(_day(d) for d in due))),
        extend_from=covered if boundary > covered else None,
        remark=marked < now - MARGIN - REMARK,
    )
    return Look(todo, changed)


def state(ex: Executor) -> Any:
    """The rollup's state row (covered_until, judged_at, marked_at, generation), or None."""
    return _state_row(ex)


KEYS = ("service_date", "channel", "site_id", "meeting_id", "meal", "manager")
SUMS = ("n", "scored", "total", "satisfied")
RATES = tuple(f"{r}_{p}" for r in ("response", "resolution", "satisfaction") for p in ("hits", "n"))
PART_KEYS = ("service_date", "channel", "site_id", "meeting_id", "kind", "name")


def daily_query(now: datetime, where: Sequence[Any], *, by_topics: bool = False) -> Select[Any]:
    """The rollup's day rows of the feedback `where` selects (misuse left out): KEYS, SUMS, RATES and the
    earliest deadlines still ahead (`ack_pending`, `rectify_pending`); `by_topics`: by `topics` too (one
    pass for the day rows and the topics, `add_topics`)."""
    keys = [
        col(Feedback.service_date),
        col(Feedback.channel),
        col(Feedback.site_id),
        col(Feedback.meeting_id),
        col(Feedback.meal),
        col(Feedback.acknowledged_by).label("manager"),
    ]
    if by_topics:
        keys.append(col(Feedback.topics))
    base = [col(Feedback.misuse).is_(False), *where]
    query: Any = select(*keys, *score_sums(), *rate_sums(now), *_pending(now))
    return query.where(*base).group_by(*keys)


def add_topics(parts: dict[tuple[Any, ...], list[int]], row: Any) -> None:
    """Add a row's SUMS to each of its topics' part (day, channel, site, meeting, "topic", name)."""
    for topic in filter(None, str(row.topics or "").split(",")):
        sums = parts.setdefault(
            (row.service_date, row.channel, row.site_id, row.meeting_id, "topic", topic[:40]), [0, 0, 0, 0]
        )
        for k, v in enumerate((row.n, row.scored, row.total, row.satisfied)):
            sums[k] += int(v or 0)


def part_rows(ex: Executor, where: Sequence[Any], *, topics: bool = True) -> list[dict[str, Any]]:
    """The rollup's part rows (topics and form aspects, by day × channel × place) of the feedback `where`
    selects (misuse left out), as dicts of PART_KEYS and SUMS (`topics=False`: the aspects alone)."""
    place = [
        col(Feedback.service_date),
        col(Feedback.channel),
        col(Feedback.site_id),
        col(Feedback.meeting_id),
    ]
    base = [col(Feedback.misuse).is_(False), *where]
    parts: dict[tuple[Any, ...], list[int]] = {}
    if topics:
        for row in ex.execute(
            select(*place, col(Feedback.topics), *score_sums())
            .where(*base, col(Feedback.topics) != "")
            .group_by(*place, col(Feedback.topics))
        ).all():
            add_topics(parts, row)
    score = col(FeedbackAspect.score)
    aspects = ex.execute(
        select(*place, col(FeedbackAspect.aspect), *score_sums(score))
        .select_from(FeedbackAspect)
        .join(Feedback, col(Feedback.id) == col(FeedbackAspect.feedback_id))
        .where(*base)
        .group_by(*place, col(FeedbackAspect.aspect))
    ).all()
    for row in aspects:
        parts[(*row[:4], "aspect", row.aspect)] = [int(getattr(row, k) or 0) for k in SUMS]
    return [
        dict(zip(PART_KEYS, key, strict=True)) | dict(zip(SUMS, sums, strict=True))
        for key, sums in parts.items()
    ]


def _build(ex: Executor, now: datetime, where: Sequence[Any]) -> None:
    """Sum the feedback of the days `where` selects into the rollup tables (their rows deleted before)."""
    names = [*KEYS, *SUMS, *RATES, "ack_pending", "rectify_pending"]
    ex.execute(insert(_DAILY).from_select(names, daily_query(now, where)))
    parts = part_rows(ex, where)
    for k in range(0, len(parts), 5000):
        ex.execute(insert(_PART), parts[k : k + 5000])


def read(
    session: Session, *, now: datetime, queries: Iterable[Select[Any]], todo: _Todo | None = None
) -> list[list[Any]] | None:
    """Run `queries` (over the rollup tables) once the rollup is up to date at `now` (`todo`: what a `look`
    found, else looked at here); None when it cannot answer for `now` (compute live then)."""
    boundary = boundary_of(now)
    if todo is None:
        todo = _look_conn(session, now, boundary)
        if todo is None:
            return None
    if not todo.any:
        return [list(session.execute(q).all()) for q in queries]
    bind = session.get_bind()
    if isinstance(bind, Engine) and read_only(session):
        # a console GET: a short write transaction of its own (the request's snapshot predates it)
        with bind.execution_options(houqin_read_only=False).connect() as conn, conn.begin():
            if not _refresh(conn, now, boundary):
                return None
            return [list(conn.execute(q).all()) for q in queries]
    if not _refresh(session, now, boundary):
        return None
    return [list(session.execute(q).all()) for q in queries]


def read_only(session: Session) -> bool:
    """Whether `session` is a console GET's (read-only: it writes nothing, and its reads may be cached)."""
    bind = session.get_bind()
    return isinstance(bind, Engine) and bool(bind.get_execution_options().get("houqin_read_only"))


def rebuild(session: Session, *, now: datetime) -> None:
    """Build the rollup afresh (after a bulk fill); the caller commits."""
    table = RollupState.__table__  # type: ignore[attr-defined]
    session.execute(update(table).where(table.c.id == 1).values(covered_until=None))
    _refresh(session, now, boundary_of(now))


def _dialect(ex: Executor) -> str:
    return (ex.get_bind() if isinstance(ex, Session) else ex).dialect.name


def _aware(dt: datetime) -> datetime:
    from datetime import UTC

    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
