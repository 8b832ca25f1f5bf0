"""Rows written by the hot path's raw SQL read back identically through the ORM, and the reverse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session

from core.counters import next_value, peek
from feedback import service
from feedback.models import Feedback
from handlers import dialogs


def test_raw_feedback_reads_back_through_the_orm(engine) -> None:  # type: ignore[no-untyped-def]
    at = datetime(2026, 11, 24, 4, 30, 12, 345678, tzinfo=UTC)
    with Session(engine) as s:
        row = service.create_feedback(
            s,
            sender="o_x",
            local_day=date(2026, 11, 24),
            service_date=date(2026, 11, 24),
            meal="lunch",
            score=4,
            comment="红烧肉偏咸",
            created_at=at,
        )
        s.commit()
    with Session(engine) as s:
        fb = s.get(Feedback, row.id)
        assert fb is not None
        assert (fb.reference, fb.score, fb.meal, fb.comment, fb.status) == (
            "FK20261124-0001",
            4,
            "lunch",
            "红烧肉偏咸",
            "new",
        )
        assert fb.created_at == at and fb.service_date == date(2026, 11, 24)
        again = service.get_feedback(s, feedback_id=row.id)
        assert (
            again is not None and again.service_date == date(2026, 11, 24) and again.comment == "红烧肉偏咸"
        )


def test_dialog_window_expiry_is_compared_in_utc(engine) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 24, 23, 59, 0, tzinfo=UTC)
    with Session(engine) as s:
        dialogs.open_window(s, sender="o_w", now=now, minutes=10, meal="dinner")
        s.commit()
    with Session(engine) as s:
        assert dialogs.current_window(s, sender="o_w", now=now + timedelta(minutes=9)) is not None
        assert dialogs.current_window(s, sender="o_w", now=now + timedelta(minutes=10)) is None


def test_counters_are_per_name_and_survive_rollback(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        assert [next_value(s, name="a") for _ in range(3)] == [1, 2, 3]
        assert next_value(s, name="b") == 1
        s.commit()
    with Session(engine) as s:
        assert next_value(s, name="a") == 4
        s.rollback()  # a rolled-back allocation is not used up: numbers stay gap-free
    with Session(engine) as s:
        assert peek(s, name="a") == 3 and next_value(s, name="a") == 4
