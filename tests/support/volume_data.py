"""Feedback fixtures for volume tests: a period of feedback, some closed, some open, some hostile."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import col

from core.db import unit_of_work
from feedback import service
from feedback.models import Feedback, Site
from ingest.store import Store

HOSTILE = '=HYPERLINK("http://x","y")'


def fill_period(
    engine: Engine,
    *,
    period: str = "2026-10",
    n: int = 20,
    closed: int | None = None,
    channel: str = "canteen",
    sender_prefix: str = "o_vol",
    comment: str = "红烧肉偏咸",
) -> list[int]:
    """n feedbacks spread over the month (lunch, 机关一食堂); the first `closed` (default all) are closed."""
    year, month = (int(x) for x in period.split("-"))
    ids = []
    with unit_of_work(engine) as s:
        site = Site(code=f"s{year}{month}{channel}{n}", name="机关一食堂")
        s.add(site)
        s.flush()
        for i in range(n):
            day = date(year, month, 1 + i % 28)
            at = datetime(year, month, day.day, 4, 30, tzinfo=UTC) + timedelta(seconds=i)
            fb = service.create_feedback(
                Store(s),
                sender=f"{sender_prefix}_{i % 7}",
                local_day=day,
                service_date=day,
                channel=channel,
                site_id=site.id if channel == "canteen" else None,
                meal="lunch",
                score=None if i % 9 == 8 else 1 + i % 5,
                comment=f"{comment} 第{i}条",
                created_at=at,
            )
            ids.append(fb.id)
        done = ids if closed is None else ids[:closed]
        if done:
            s.execute(update(Feedback).where(col(Feedback.id).in_(done)).values(status="closed"))
    return ids


def set_comment(engine: Engine, feedback_id: int, comment: str) -> None:
    with unit_of_work(engine) as s:
        s.execute(update(Feedback).where(col(Feedback.id) == feedback_id).values(comment=comment))


def close(engine: Engine, ids: list[int]) -> None:
    with unit_of_work(engine) as s:
        s.execute(update(Feedback).where(col(Feedback.id).in_(ids)).values(status="closed"))
