"""Managers' actions on feedback, alerts, and dashboard statistics (domain level, no HTTP)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlmodel import Session, col

from core.clock import utcnow
from core.db import unit_of_work
from core.models import Outbox
from feedback import review, service, stats
from feedback.alerts import alert_on_duty, alert_reason, on_duty
from feedback.models import Feedback, FeedbackEvent, InboundMessage, Person
from feedback.service import ArchivedError
from ingest.store import Store


def make(
    engine,
    *,
    score: int | None = 4,
    comment: str = "红烧肉偏咸",
    sender: str = "o_r",
    day: date = date(2026, 11, 20),
) -> int:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as s:
        at = datetime(day.year, day.month, day.day, 4, 30, tzinfo=UTC)
        return service.create_feedback(
            Store(s),
            sender=sender,
            local_day=day,
            service_date=day,
            meal="lunch",
            score=score,
            comment=comment,
            created_at=at,
        ).id


def seen(engine, sender: str, at: datetime) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as s:
        s.add(
            InboundMessage(
                dedupe_key=f"k{sender}{at.timestamp()}",
                sender=sender,
                msg_type="text",
                created_at=at,
                received_at=at,
                raw_xml="<xml/>",
            )
        )


def test_the_loop_acknowledge_reply_rectify_resolve_close(engine) -> None:  # type: ignore[no-untyped-def]
    fid = make(engine)
    seen(engine, "o_r", utcnow() - timedelta(hours=1))
    with unit_of_work(engine) as s:
        review.acknowledge(s, feedback_id=fid, actor="李经理")
        window = review.reply(s, feedback_id=fid, actor="李经理", text="已要求厨师减少用盐")
        assert window.deliverable
        review.record_rectification(
            s, feedback_id=fid, actor="李经理", measure="调整配方", owner="王厨师", deadline="2026-11-30"
        )
        review.resolve(s, feedback_id=fid, actor="李经理")
        review.close(s, feedback_id=fid, actor="李经理")
    with Session(engine) as s:
        fb = s.get(Feedback, fid)
        assert fb is not None and fb.status == "closed"
        trail = [(e.action, e.actor) for e in review.history(s, feedback_id=fid)]
        assert trail == [
            ("acknowledged", "李经理"),
            ("replied", "李经理"),
            ("rectification", "李经理"),
            ("resolved", "李经理"),
            ("closed", "李经理"),
        ]
        rect = json.loads(review.history(s, feedback_id=fid)[2].detail)
        assert rect == {"措施": "调整配方", "责任人": "王厨师", "期限": "2026-11-30", "完成情况": ""}
        out = s.execute(select(Outbox)).scalar_one()
        assert out.to_user == "o_r" and "已要求厨师减少用盐" in out.payload and fb.reference in out.payload


def test_reply_past_48_hours_is_recorded_not_sent(engine) -> None:  # type: ignore[no-untyped-def]
    fid = make(engine)
    seen(engine, "o_r", utcnow() - timedelta(hours=49))
    with unit_of_work(engine) as s:
        window = review.reply(s, feedback_id=fid, actor="李经理", text="迟到的回复")
    assert not window.deliverable and window.window_closes is not None
    with Session(engine) as s:
        assert s.execute(select(Outbox)).first() is None
        assert [e.action for e in review.history(s, feedback_id=fid)] == ["replied"]


def test_empty_reply_and_missing_rectification_fields_are_refused(engine) -> None:  # type: ignore[no-untyped-def]
    fid = make(engine)
    with unit_of_work(engine) as s:
        with pytest.raises(review.ReviewError):
            review.reply(s, feedback_id=fid, actor="a", text="  ")
        with pytest.raises(review.ReviewError):
            review.record_rectification(s, feedback_id=fid, actor="a", measure="", owner="b", deadline="")


def test_archived_feedback_refuses_every_action(engine) -> None:  # type: ignore[no-untyped-def]
    fid = make(engine)
    with unit_of_work(engine) as s:
        s.execute(update(Feedback).where(col(Feedback.id) == fid).values(volume_id=99))
    with unit_of_work(engine) as s:
        for fn in (review.acknowledge, review.resolve, review.close):
            with pytest.raises(ArchivedError):
                fn(s, feedback_id=fid, actor="a")
        with pytest.raises(ArchivedError):
            review.reply(s, feedback_id=fid, actor="a", text="x")
        assert review.bulk(s, feedback_ids=[fid], actor="a", action="close") == 0


def test_bulk_acknowledge(engine) -> None:  # type: ignore[no-untyped-def]
    ids = [make(engine, sender=f"o_{i}") for i in range(3)]
    with unit_of_work(engine) as s:
        assert review.bulk(s, feedback_ids=ids, actor="a", action="acknowledge") == 3
    with Session(engine) as s:
        assert {fb.status for fb in s.execute(select(Feedback)).scalars()} == {"acknowledged"}


@pytest.mark.parametrize(
    ("score", "comment", "expected"),
    [
        (1, "很难吃", "低分（1分）"),
        (2, "", "低分（2分）"),
        (3, "米饭里有异物", "涉及食品安全：异物"),
        (5, "吃完拉肚子了", "涉及食品安全：拉肚子"),
        (3, "一般", None),
        (None, "好吃", None),
    ],
)
def test_alert_reasons(score: int | None, comment: str, expected: str | None) -> None:
    assert alert_reason(score=score, comment=comment) == expected


def test_alerts_go_to_on_duty_managers_once(engine) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as s:
        s.add(Person(openid="o_mgr", name="李经理", roles="staff,on_duty"))
        s.add(Person(openid="o_off", name="休息的", roles="staff"))
        s.add(Person(wecom_userid="zhang", name="张", roles="on_duty"))
    with unit_of_work(engine) as s:
        assert (
            alert_on_duty(s, recipients=on_duty(s), reference="FK1", reason="低分（1分）", comment="难吃")
            == 2
        )
        assert (
            alert_on_duty(s, recipients=on_duty(s), reference="FK1", reason="低分（1分）", comment="难吃")
            == 2
        )  # queued again: deduped
    with Session(engine) as s:
        rows = list(s.execute(select(Outbox).order_by(col(Outbox.id))).scalars())
    assert sorted((r.to_user, r.app) for r in rows) == [("o_mgr", "mp"), ("zhang", "wecom")]


def test_dashboard_numbers(engine, settings) -> None:  # type: ignore[no-untyped-def]
    for i, score in enumerate([5, 4, 4, 2, None, 1]):
        make(
            engine,
            score=score,
            sender=f"o_d{i}",
            comment="红烧肉偏咸" if i % 2 else "米饭很香",
            day=date(2026, 11, 16 + i % 3),
        )
    with unit_of_work(engine) as s:
        fid = s.execute(select(Feedback.id).where(col(Feedback.score) == 2)).scalar_one()
        s.add(FeedbackEvent(feedback_id=fid, actor="a", action="replied", detail="x", at=utcnow()))
    with Session(engine) as s:
        d = stats.dashboard(s, settings=settings, start=date(2026, 11, 16), end=date(2026, 11, 22))
    assert (d.overall.n, d.overall.scored) == (6, 5)
    assert d.overall.mean == round(16 / 5, 2) and d.overall.csat == 60.0  # 3 of 5 scored are 4–5
    assert d.replied == 1 and d.response_rate == round(100 / 6, 1)
    assert [g.n for g in d.by_day] == [2, 2, 2, 0, 0, 0, 0]
    assert dict(d.words)["红烧肉"] == 3 and dict(d.words)["米饭"] == 3 and d.by_meal[0].label == "午餐"
    assert all(len(w) >= 2 for w, _ in d.words)


def test_topics_are_tagged_and_counted(engine, settings) -> None:  # type: ignore[no-untyped-def]
    fid = make(engine, score=2, comment="红烧肉太咸，排队等了二十分钟", sender="o_t")
    make(engine, score=5, comment="服务热情", sender="o_u")
    with Session(engine) as s:
        assert s.get(Feedback, fid).topics == "口味,排队"  # type: ignore[union-attr]
    with unit_of_work(engine) as s:  # a diner's addition re-tags
        row = Store(s).get_feedback(fid)
        assert row is not None
        service.add_to_feedback(Store(s), feedback=row, comment="米饭里有头发", actor="o_t")
    with Session(engine) as s:
        assert s.get(Feedback, fid).topics == "口味,食品安全,排队"  # type: ignore[union-attr]
        d = stats.dashboard(s, settings=settings, start=date(2026, 11, 20), end=date(2026, 11, 20))
    assert {g.label: g.n for g in d.by_topic} == {"口味": 1, "食品安全": 1, "排队": 1, "服务": 1}
