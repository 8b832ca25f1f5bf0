"""The console's cached figures (feedback.live, issue 13): what a read-only session (a console GET) reads
from the process's cache equals the direct computation over `feedback` on the same data, with a fixed
clock — after a first look, after changes to the live days (an acknowledgement, a close, a new feedback,
misuse), after a change to an old day (the rollup rebuilt), and after deadlines pass with the clock."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from core.clock import utcnow
from core.db import read_unit
from core.settings import Settings
from feedback import live, rates, review, rollup, stats, worklist
from feedback.models import Feedback, Status
from server.demo.bulk import fill_bulk

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 6, 15)
NOW = datetime(2026, 6, 15, 10, 0, tzinfo=TZ)
RANGES = [
    (TODAY - timedelta(days=30), TODAY - timedelta(days=1)),
    (TODAY - timedelta(days=90), TODAY),
    (TODAY - timedelta(days=10), TODAY),
]


def _figures(s: Session, settings: Settings, now: datetime, rollups: bool) -> list[Any]:
    out: list[Any] = []
    for start, end in RANGES:
        for channel in (None, "canteen", "meeting"):
            args: dict[str, Any] = {"start": start, "end": end, "channel": channel, "rollups": rollups}
            out.append(stats.dashboard(s, settings=settings, now=now, **args).as_dict())
            out.append(rates.rates(s, now=now, **args).as_dict())
    return out


def _same(engine: Engine, settings: Settings) -> None:
    """Twice through read-only sessions (the second from the cache) against the direct computation."""
    now = utcnow()
    with Session(engine) as s:
        direct = _figures(s, settings, now, rollups=False)
    for _ in range(2):
        with read_unit(engine) as r:
            assert _figures(r, settings, now, rollups=True) == direct


def _live_day(s: Session, status: str) -> Feedback:
    query = select(Feedback).where(
        col(Feedback.status) == status, col(Feedback.service_date) >= TODAY - timedelta(days=5)
    )
    found = s.execute(query.order_by(col(Feedback.id))).scalars().first()
    assert found is not None
    return found


def _old_day(s: Session) -> Feedback:
    """A new feedback of a day the rollup holds."""
    query = select(Feedback).where(
        col(Feedback.status) == Status.new, col(Feedback.service_date) < TODAY - timedelta(days=40)
    )
    found = s.execute(query.order_by(col(Feedback.id))).scalars().first()
    assert found is not None
    return found


def test_cached_figures_equal_direct(engine: Engine, settings: Settings) -> None:
    live.clear()
    with time_machine.travel(NOW, tick=False):
        fill_bulk(engine, settings=settings, count=2000, months=4, seed=7, today=TODAY)
        _same(engine, settings)
        cache = next(iter(live._CACHES.values()))
        assert cache.days and cache.results  # the second pass was answered from the cache

    with time_machine.travel(NOW + timedelta(minutes=20), tick=False):
        with Session(engine) as s:
            review.acknowledge(s, feedback_id=_live_day(s, Status.new).id, actor="王经理")  # type: ignore[arg-type]
            review.close(s, feedback_id=_live_day(s, Status.acknowledged).id, actor="李经理")  # type: ignore[arg-type]
            one = _live_day(s, Status.new)
            one.misuse, one.updated_at = True, utcnow()
            s.add(one)
            s.add(
                Feedback(
                    reference="FK-LIVE-1",
                    sender="o_live",
                    site_id=one.site_id,
                    meal="lunch",
                    service_date=TODAY,
                    score=1,
                    comment="今天的汤太咸了",
                    ack_due_at=utcnow() + timedelta(hours=2),
                    rectify_due_at=utcnow() + timedelta(days=1),
                )
            )
            s.commit()
        _same(engine, settings)
        with read_unit(engine) as r, Session(engine) as s:
            assert worklist.worklist(r, now=utcnow(), tz=TZ) == worklist.worklist(s, now=utcnow(), tz=TZ)

    # an old day's feedback handled: its rollup rows are rewritten (a new generation), read again
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        with Session(engine) as s:
            old = _old_day(s)
            review.acknowledge(s, feedback_id=old.id, actor="赵经理")  # type: ignore[arg-type]
            s.commit()
        _same(engine, settings)

    # a day on: the new feedback's acknowledge deadline has passed (the 三率 judge it now), no write at all
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        _same(engine, settings)


def _generation(engine: Engine) -> int:
    with Session(engine) as s:
        state = rollup.state(s)
        assert state is not None
        return int(state.generation)


def _expiring(engine: Engine, at: datetime) -> set[date]:
    """The cached live days waiting for a deadline that has passed at `at` (those are computed again)."""
    cache = live._CACHES[str(engine.url)]
    return {d for d, e in cache.days.items() if e.pending is not None and e.pending <= at}


def test_rollup_remark_and_rewrite_keep_what_they_did_not_change(engine: Engine, settings: Settings) -> None:
    live.clear()
    with time_machine.travel(NOW, tick=False):
        fill_bulk(engine, settings=settings, count=2000, months=4, seed=7, today=TODAY)
        _same(engine, settings)
    counted = live.recomputed(engine)
    assert counted is not None
    generation = _generation(engine)

    # past the hourly re-mark, nothing changed: the mark moves on, no rollup row is rewritten — the
    # generation stays, and only the live days whose deadline has passed are computed again
    later = NOW + rollup.REMARK + 2 * rollup.MARGIN
    expiring = _expiring(engine, later)
    days, results = Counter(counted.days), Counter(counted.results)
    with time_machine.travel(later, tick=False):
        _same(engine, settings)
        with Session(engine) as s:
            assert rollup.look(s, utcnow(), rollup.boundary_of(utcnow()), state=rollup.state(s)).todo == (
                rollup._Todo()
            )  # the re-mark was made
    assert _generation(engine) == generation
    assert set((counted.days - days).keys()) == expiring
    assert not counted.results - results  # nothing computed again: the rollup's results stayed too

    # an old day's feedback handled: its rollup rows are rewritten (a new generation); the live days stay,
    # and so do the samples of the ranges without that day
    later += timedelta(minutes=5)
    expiring = _expiring(engine, later)
    days, results = Counter(counted.days), Counter(counted.results)
    with time_machine.travel(later, tick=False):
        with Session(engine) as s:
            old = _old_day(s)
            served = old.service_date
            review.acknowledge(s, feedback_id=old.id, actor="赵经理")  # type: ignore[arg-type]
            s.commit()
        _same(engine, settings)
    assert _generation(engine) > generation  # (rewritten again by every look for MARGIN after the change)
    assert set((counted.days - days).keys()) == expiring
    again = counted.results - results
    assert {k[2:4] for k in again if k[0] == "memo"} == {r for r in RANGES if r[0] <= served <= r[1]}
    assert not [k for k in live._CACHES[str(engine.url)].results if k[0] == "rolled"]  # read afresh
