"""The console's cached figures (feedback.live, issue 13): what a read-only session (a console GET) reads
from the process's cache equals the direct computation over `feedback` on the same data, with a fixed
clock — after a first look, after changes to the live days (an acknowledgement, a close, a new feedback,
misuse), after a change to an old day (the rollup rebuilt), and after deadlines pass with the clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from core.clock import utcnow
from core.db import read_unit
from core.settings import Settings
from feedback import live, rates, review, stats, worklist
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

    # an old day's feedback handled: the rollup is rebuilt (a new generation), the cache starts again
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        with Session(engine) as s:
            old = (
                s.execute(
                    select(Feedback).where(
                        col(Feedback.status) == Status.new,
                        col(Feedback.service_date) < TODAY - timedelta(days=40),
                    )
                )
                .scalars()
                .first()
            )
            assert old is not None
            review.acknowledge(s, feedback_id=old.id, actor="赵经理")
            s.commit()
        _same(engine, settings)

    # a day on: the new feedback's acknowledge deadline has passed (the 三率 judge it now), no write at all
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        _same(engine, settings)
