"""The console's figures at a million feedbacks (issue 13), cached in the process and keyed by the data's
change — never by a time to live: what a console GET reads is exactly what a direct computation gives.

- The last LIVE_DAYS service days (feedback.rollup leaves them out) are kept here as rollup-shaped rows per
  day (`DayRow`, `PartRow`: counts, scores, 三率, topics and form aspects), and only the days where a
  feedback changed since the last look (`updated_at`, as the rollup finds them) or a deadline the day was
  still waiting for has passed are computed again.
- What the dashboard and the 三率 read from the rollup tables is kept per query until rollup rows are
  rewritten (its `generation` moves: a re-mark alone rewrites none and keeps it). The live days and the
  dashboard's newest-feedback sample (reply and close times, frequent words) are computed from `feedback`,
  not from the rollup: a new generation keeps them; a change to a feedback of their day or range drops them.

One look per request (the rollup's state row, the rows changed since, its due days), shared by the
dashboard and the 三率 of the same console GET. Only a read-only session (a console GET: it writes nothing,
so nothing it read can be rolled back) stores into the cache or is answered from it; any other session
computes every figure. A clock behind what the cache has seen drops it all; a new generation drops the
rollup's query results alone. What was computed again is counted (`Recomputed`, for the tests).
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, Select
from sqlmodel import Session, col

from feedback import rollup
from feedback.models import Feedback

T = TypeVar("T")
RESULTS = 256  # rollup query results and samples kept per database (least recently used dropped)
_LOCK = threading.Lock()
# The request's one look, by its session (weakly: it goes with the session), not in the session's info.
_MEMOS: weakref.WeakKeyDictionary[Session, tuple[datetime, Any, Any]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class DayRow:
    """One live day's counts, scores and 三率 of one channel × canteen/meeting × meal × first acknowledger
    (a `feedback_daily` row, not stored)."""

    service_date: date
    channel: str
    site_id: int | None
    meeting_id: int | None
    meal: str | None
    manager: str | None
    n: int
    scored: int
    total: int
    satisfied: int
    response_hits: int
    response_n: int
    resolution_hits: int
    resolution_n: int
    satisfaction_hits: int
    satisfaction_n: int

    @property
    def acknowledged_by(self) -> str | None:
        """The first to acknowledge (the 三率's 首接负责)."""
        return self.manager


@dataclass(frozen=True, slots=True)
class PartRow:
    """One live day's counts and scores of one topic or form aspect (a `feedback_daily_part` row)."""

    service_date: date
    channel: str
    site_id: int | None
    meeting_id: int | None
    kind: str
    name: str
    n: int
    scored: int
    total: int
    satisfied: int

    @property
    def topics(self) -> str:
        """The topic (the dashboard reads topics under this name)."""
        return self.name


@dataclass
class _Day:
    rows: tuple[DayRow, ...]
    parts: tuple[PartRow, ...]
    judged_at: datetime
    pending: datetime | None  # the earliest deadline still ahead at judged_at: then the 三率 change


@dataclass
class Recomputed:
    """What a database's cache computed again since it started: live days, and results by their key
    (("rolled", …) or ("memo", …))."""

    days: Counter[date] = field(default_factory=Counter)
    results: Counter[tuple[Any, ...]] = field(default_factory=Counter)


@dataclass
class _Cache:
    generation: int
    seen: datetime  # the latest clock looked with
    marked_at: datetime | None = None  # every change stamped since is found by the next look
    days: dict[date, _Day] = field(default_factory=dict)
    results: OrderedDict[tuple[Any, ...], tuple[tuple[date, date] | None, Any]] = field(
        default_factory=OrderedDict
    )
    recomputed: Recomputed = field(default_factory=Recomputed)


_CACHES: dict[str, _Cache] = {}


@dataclass(frozen=True)
class _Look:
    todo: Any  # rollup._Todo | None
    cache: _Cache | None  # None: not to be read from or stored in
    rolled: bool = False  # the rollup is up to date: its query results may be read from or stored in `cache`
    generation: int = -1  # the rollup's, as this look saw it


def _look(session: Session, now: datetime) -> _Look:
    """The request's one look at the rollup and at what changed; drops what changed from the cache."""
    read_only = rollup.read_only(session)
    if read_only:
        with _LOCK:
            memo = _MEMOS.get(session)
        if memo is not None and memo[0] == now and memo[1] is session.get_transaction():
            return memo[2]
    state = rollup.state(session)
    url = str(session.get_bind().engine.url)
    generation = int(state.generation or 0) if state is not None else -1
    with _LOCK:
        cache = _CACHES.get(url)
        if cache is None or now < cache.seen - rollup.MARGIN:
            cache = _CACHES[url] = _Cache(generation, now)
        elif cache.generation != generation:  # rollup rows rewritten: what was read from them goes
            for key in [k for k in cache.results if k[0] == "rolled"]:
                del cache.results[key]
            cache.generation = generation
        since = cache.marked_at
    got = rollup.look(session, now, rollup.boundary_of(now), state=state, since=since)
    if since is not None:
        changed = {d for d, at in got.changed if at >= since}
        with _LOCK:
            for d in changed:
                cache.days.pop(d, None)
            for key, (span, _value) in list(cache.results.items()):
                if span is not None and any(span[0] <= d <= span[1] for d in changed):
                    del cache.results[key]
    # the live days and samples come from `feedback` (the request's snapshot), whatever the rollup must do
    usable = read_only and got.todo is not None
    if usable:
        with _LOCK:
            cache.seen = max(cache.seen, now)
            mark = now - rollup.MARGIN
            cache.marked_at = mark if cache.marked_at is None else max(cache.marked_at, mark)
    rolled_ok = usable and got.todo is not None and not got.todo.any
    out = _Look(got.todo, cache if usable else None, rolled_ok, generation)
    if read_only:
        with _LOCK:
            _MEMOS[session] = (now, session.get_transaction(), out)
    return out


def rolled(session: Session, *, now: datetime, key: tuple[Any, ...], queries: list[Select[Any]]) -> Any:
    """`rollup.read` of `queries` (named by `key`), answered from the cache while the rollup is unchanged."""
    look = _look(session, now)
    if look.todo is None:
        return None
    cache = look.cache if look.rolled else None
    if cache is not None and (hit := _hit(cache, ("rolled", *key))) is not None:
        return [list(rows) for rows in hit]  # fresh lists: the caller may add to them
    got = rollup.read(session, now=now, queries=queries, todo=look.todo)
    if cache is not None and got is not None:
        # not if rollup rows were rewritten since this look (a later look has already moved the cache on)
        _store(cache, ("rolled", *key), None, tuple(tuple(rows) for rows in got), generation=look.generation)
    return got


def memo(
    session: Session, *, now: datetime, key: tuple[Any, ...], span: tuple[date, date], fn: Callable[[], T]
) -> T:
    """`fn()`, answered from the cache until a feedback served in `span` changes (or the rollup is rebuilt)."""
    look = _look(session, now)
    if look.cache is not None and (hit := _hit(look.cache, ("memo", *key))) is not None:
        return hit
    value = fn()
    if look.cache is not None:
        _store(look.cache, ("memo", *key), span, value)
    return value


def days(session: Session, first: date, last: date, *, now: datetime) -> tuple[list[DayRow], list[PartRow]]:
    """The day rows and part rows of the service days `first`..`last` (live days), from the cache where
    nothing changed since, else computed (and kept)."""
    look = _look(session, now)
    cache = look.cache
    wanted = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    found: dict[date, _Day] = {}
    if cache is not None:
        for d in wanted:
            entry = cache.days.get(d)
            if (
                entry is not None
                and entry.judged_at <= now
                and (entry.pending is None or now < entry.pending)
            ):
                found[d] = entry
    stale = [d for d in wanted if d not in found]
    if stale:
        computed = _compute(session, stale, now)
        found.update(computed)
        if cache is not None:
            boundary = rollup.boundary_of(now)
            with _LOCK:
                for d in [d for d in cache.days if d < boundary]:
                    del cache.days[d]
                cache.days.update(computed)
                cache.recomputed.days.update(computed.keys())
    rows = [r for d in wanted for r in found[d].rows]
    parts = [p for d in wanted for p in found[d].parts]
    return rows, parts


def _compute(session: Session, stale: Sequence[date], now: datetime) -> dict[date, _Day]:
    """The `_Day`s of `stale` from `feedback`: the rollup's own queries, one pass each."""
    day = col(Feedback.service_date)
    first, last = min(stale), max(stale)
    contiguous = (last - first).days + 1 == len(stale)
    where = [day >= first, day <= last] if contiguous else [day.in_(list(stale))]
    # one pass over the days' feedback for the day rows and the topics, then the form's aspects
    sums: dict[tuple[Any, ...], list[int]] = {}
    pending: dict[date, datetime | None] = dict.fromkeys(stale)
    topics: dict[tuple[Any, ...], list[int]] = {}
    names = (*rollup.SUMS, *rollup.RATES)
    result = session.execute(rollup.daily_query(now, where, by_topics=True))
    columns = [list(result.keys()).index(name) for name in names]  # by position: a few thousand rows a look
    for r in result.all():
        d = rollup._day(r.service_date)
        key = (d, r.channel, r.site_id, r.meeting_id, r.meal, r.manager)
        into = sums.setdefault(key, [0] * len(names))
        for k, i in enumerate(columns):
            into[k] += int(r[i] or 0)
        if r.topics:
            rollup.add_topics(topics, r)
        for at in (r.ack_pending, r.rectify_pending):
            if at is not None:
                at = rollup._aware(at)
                known = pending[d]
                pending[d] = at if known is None or at < known else known
    rows: dict[date, list[DayRow]] = {d: [] for d in stale}
    for key, values in sums.items():
        rows[key[0]].append(DayRow(*key, *values))
    parts: dict[date, list[PartRow]] = {d: [] for d in stale}
    for (d, *place), values in topics.items():
        parts[rollup._day(d)].append(PartRow(rollup._day(d), *place, *values))
    for p in rollup.part_rows(session, where, topics=False):
        d = rollup._day(p["service_date"])
        parts[d].append(PartRow(**(p | {"service_date": d})))
    return {d: _Day(tuple(rows[d]), tuple(parts[d]), now, pending[d]) for d in stale}


def _hit(cache: _Cache, key: tuple[Any, ...]) -> Any:
    with _LOCK:
        got = cache.results.get(key)
        if got is None:
            return None
        cache.results.move_to_end(key)
        return got[1]


def _store(
    cache: _Cache,
    key: tuple[Any, ...],
    span: tuple[date, date] | None,
    value: Any,
    *,
    generation: int | None = None,
) -> None:
    with _LOCK:
        if generation is not None and generation != cache.generation:
            return
        cache.recomputed.results[key] += 1
        cache.results[key] = (span, value)
        cache.results.move_to_end(key)
        while len(cache.results) > RESULTS:
            cache.results.popitem(last=False)


def recomputed(engine: Engine) -> Recomputed | None:
    """What the cache of `engine`'s database computed again since it started (None: no cache)."""
    with _LOCK:
        cache = _CACHES.get(str(engine.url))
        return None if cache is None else cache.recomputed


def clear() -> None:
    """Forget every cached figure (tests; a database replaced under a running process)."""
    with _LOCK:
        _CACHES.clear()
