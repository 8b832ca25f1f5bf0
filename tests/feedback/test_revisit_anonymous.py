"""Return visits (回访) to anonymous form diners (issue 15): a device token cannot receive a message, so the
question waits in 「我的反馈」 and is recorded as such, not queued as an undeliverable send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from core.db import unit_of_work
from core.models import Outbox
from feedback import review, revisit
from feedback.models import Action, Channel, Feedback, FeedbackEvent
from feedback.service import create_feedback
from ingest.store import Store

NOON = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)


def _feedback(engine: Engine, *, sender: str, source: str) -> int:
    with unit_of_work(engine) as s:
        row = create_feedback(
            Store(s),
            sender=sender,
            local_day=NOON.date(),
            service_date=NOON.date(),
            channel=Channel.canteen,
            source=source,
            score=2,
            comment="米饭夹生",
            created_at=NOON,
        )
        return row.id


def _close(engine: Engine, feedback_id: int) -> None:
    with unit_of_work(engine) as s:
        review.close(
            s, feedback_id=feedback_id, actor="张经理", template_id="TPL-1", now=NOON + timedelta(hours=3)
        )


def _asked(engine: Engine, feedback_id: int) -> tuple[str, int, datetime | None]:
    with Session(engine) as s:
        detail = s.execute(
            select(col(FeedbackEvent.detail)).where(
                col(FeedbackEvent.feedback_id) == feedback_id,
                col(FeedbackEvent.action) == Action.revisit_asked,
            )
        ).scalar_one()
        queued = int(s.execute(select(func.count()).select_from(Outbox)).scalar_one())
        fb = s.get(Feedback, feedback_id)
        assert fb is not None
        return str(detail), queued, fb.revisit_asked_at


def test_an_anonymous_form_diner_is_asked_in_mine_only(engine: Engine) -> None:
    fid = _feedback(engine, sender="h5:dev-token-1", source="h5")
    _close(engine, fid)
    detail, queued, asked_at = _asked(engine, fid)
    assert detail == revisit.VIA_MINE
    assert queued == 0  # no template message to a device token, even with a template configured
    assert asked_at is not None  # so 「我的反馈」 shows the question and takes the answer
    with Session(engine) as s:
        fb = revisit.pending_for(s, sender="h5:dev-token-1")
        assert fb is not None and fb.id == fid


def test_an_official_account_diner_still_gets_the_template(engine: Engine) -> None:
    fid = _feedback(engine, sender="o_diner_1", source="mp")
    _close(engine, fid)
    detail, queued, asked_at = _asked(engine, fid)
    assert detail == revisit.VIA_TEMPLATE and queued == 1 and asked_at is not None
