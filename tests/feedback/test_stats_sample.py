"""The dashboard's sample of a range's newest feedbacks (feedback.stats, issue 13): on SQLite it is read by
walking the table newest first when the range is wide; that gives exactly the rows the range's own index
gives, for ranges ending now, ranges in the past, and one channel."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from core.settings import Settings
from feedback import sample
from feedback.models import Feedback
from server.demo.bulk import fill_bulk

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 6, 15)


def test_newest_sample_same_either_way(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sample, "SAMPLE", 40)
    with time_machine.travel(datetime(2026, 6, 15, 10, 0, tzinfo=TZ), tick=False):
        fill_bulk(engine, settings=settings, count=1500, months=24, seed=7, today=TODAY)
    ranges = [
        (TODAY - timedelta(days=730), TODAY - timedelta(days=1)),
        (TODAY - timedelta(days=300), TODAY - timedelta(days=200)),
        (TODAY - timedelta(days=30), TODAY),
    ]
    with Session(engine) as s:
        old = col(Feedback.service_date) < TODAY - timedelta(days=60)
        day = s.execute(select(col(Feedback.service_date)).where(old).limit(1)).scalar_one()
        ranges += [(day, day), (day - timedelta(days=1), day)]  # one day, two days: the bounds decide
        for start, end in ranges:
            for channel in (None, "canteen"):
                where = [
                    col(Feedback.service_date) >= start,
                    col(Feedback.service_date) <= end,
                    col(Feedback.misuse).is_(False),
                ]
                if channel:
                    where.append(col(Feedback.channel) == channel)
                n = s.execute(select(func.count()).where(*where)).scalar_one()
                expected = list(
                    s.execute(
                        select(col(Feedback.id), col(Feedback.created_at), col(Feedback.comment))
                        .where(*where)
                        .order_by(col(Feedback.id).desc())
                        .limit(40)
                    )
                )
                assert expected
                for in_range in (0, n, 10**9):  # the index, the heuristic, the walk (on SQLite)
                    got = sample._newest(s, where, start=start, end=end, in_range=in_range)
                    assert got == expected, (start, end, channel, in_range)
