"""The manager's day (issue 13): deadlines in working time across the 2026 National Day holiday, the
return visit (回访) round trip through /wechat, 今日待办 and its inbox tabs, 三率 with n and 环比."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from console.auth import create_token
from core.db import unit_of_work
from core.models import Outbox
from core.settings import Settings, SlaRules
from feedback import rates, sla
from feedback.models import Feedback, FeedbackEvent, Status
from feedback.service import create_feedback
from ingest.store import Store
from server.app import create_app
from tests.support.console_helpers import add_users, login
from tests.support.wechat_peer import WeChatPeer, reply_text, text_xml

TZ = ZoneInfo("Asia/Shanghai")


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


# --- deadlines in working time ---------------------------------------------------------------------------


def test_the_calendar_package_knows_national_day_2026() -> None:
    """What the tests below rely on, read from chinese-calendar itself: 10-01..10-07 off, 10-10 (a Saturday)
    and 09-20 (a Sunday) make-up working days, 10-08 back at work."""
    assert all(not chinese_calendar.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert date(2026, 10, 10).weekday() == 5 and chinese_calendar.is_workday(date(2026, 10, 10))
    assert date(2026, 9, 20).weekday() == 6 and chinese_calendar.is_workday(date(2026, 9, 20))
    assert chinese_calendar.is_workday(date(2026, 10, 8))


def test_deadlines_skip_national_day_and_count_the_make_up_saturday() -> None:
    rules = SlaRules()
    received = local(2026, 9, 30, 16, 0)  # Wednesday, the last working day before the holiday
    food = sla.deadlines(rules, score=4, comment="汤里有头发", received_at=received, tz=TZ)
    # 2 working hours: 16:00–17:30 on 09-30, then 30 minutes after 08:30 on 10-08 (10-01..07 off)
    assert food.ack_due_at == local(2026, 10, 8, 9, 0).astimezone(UTC)
    assert food.rectify_due_at == local(2026, 10, 8, 17, 30).astimezone(UTC)  # 1 working day
    low = sla.deadlines(rules, score=2, comment="太咸", received_at=received, tz=TZ)
    assert low.ack_due_at == local(2026, 10, 8, 17, 30).astimezone(UTC)
    # 5 working days: 10-08, 10-09, 10-10 (make-up Saturday), 10-12, 10-13
    assert low.rectify_due_at == local(2026, 10, 13, 17, 30).astimezone(UTC)
    fine = sla.deadlines(rules, score=5, comment="很好", received_at=received, tz=TZ)
    assert fine.rectify_due_at is None and fine.ack_due_at == local(2026, 10, 10, 17, 30).astimezone(UTC)
    # a make-up Sunday counts too: from Friday 09-18, the next working day is Sunday 09-20
    sunday = sla.deadlines(rules, score=1, comment="", received_at=local(2026, 9, 18, 10), tz=TZ)
    assert sunday.ack_due_at == local(2026, 9, 20, 17, 30).astimezone(UTC)
    # received in the lunch break, hours start at 13:30
    lunch = sla.deadlines(rules, score=3, comment="发霉", received_at=local(2026, 10, 9, 12, 10), tz=TZ)
    assert lunch.ack_due_at == local(2026, 10, 9, 15, 30).astimezone(UTC)


def test_sla_rules_and_hours_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "HOUQIN_SLA", '{"low_score": {"ack_hours": 1, "rectify_days": 2}, "work_hours": ["09:00-17:00"]}'
    )
    rules = Settings().sla
    due = sla.deadlines(rules, score=1, comment="", received_at=local(2026, 9, 30, 16, 30), tz=TZ)
    assert due.ack_due_at == local(2026, 10, 8, 9, 30).astimezone(UTC)
    assert due.rectify_due_at == local(2026, 10, 9, 17, 0).astimezone(UTC)
    monkeypatch.setenv("HOUQIN_SLA", '{"work_hours": ["18:00-09:00"]}')
    with pytest.raises(ValueError, match="ends before it starts"):
        Settings()


def test_created_feedback_carries_its_deadlines(session: Session, settings: Settings) -> None:
    at = local(2026, 9, 30, 16, 0).astimezone(UTC)
    row = create_feedback(
        Store(session), sender="o_x", local_day=date(2026, 9, 30), service_date=date(2026, 9, 30), score=2,
        comment="米饭夹生", created_at=at, settings=settings,
    )  # fmt: skip
    session.commit()
    fb = session.get(Feedback, row.id)
    assert fb is not None and fb.ack_due_at is not None and fb.rectify_due_at is not None
    assert fb.ack_due_at.astimezone(TZ) == local(2026, 10, 8, 17, 30)
    assert fb.rectify_due_at.astimezone(TZ) == local(2026, 10, 13, 17, 30)


# --- the return visit through /wechat --------------------------------------------------------------------


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    add_users(engine)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def bearer(engine: Engine, username: str) -> dict[str, str]:
    with unit_of_work(engine) as s:
        return {"Authorization": f"Bearer {create_token(s, username=username, name='test')}"}


def say(client: TestClient, peer: WeChatPeer, text: str, sender: str = "o_revisit") -> str:
    params, body = peer.safe(text_xml(text, sender=sender))
    return reply_text(peer, client.post("/wechat", params=params, content=body))


def questions(engine: Engine, sender: str) -> list[str]:
    with Session(engine) as s:
        rows = s.execute(
            select(Outbox).where(col(Outbox.to_user) == sender).order_by(col(Outbox.id))
        ).scalars()
        return [o.payload for o in rows if "回访" in o.payload]


def test_return_visit_round_trip(client: TestClient, engine: Engine) -> None:
    peer, head = WeChatPeer(), bearer(engine, "canteen")
    with time_machine.travel(local(2026, 10, 9, 11, 0), tick=True) as clock:
        assert "FK" in say(client, peer, "2分 红烧肉太咸了")
        with Session(engine) as s:
            fb = s.execute(select(Feedback).where(col(Feedback.sender) == "o_revisit")).scalar_one()
        assert fb.score == 2 and fb.rectify_due_at is not None
        got = client.get(f"/api/v1/feedback/{fb.id}", headers=head).json()
        assert got["ack_due_at"] and got["rectify_due_at"] and got["revisit_answer"] is None
        act = f"/api/v1/feedback/{fb.id}/actions/"
        assert client.post(act + "reply", json={"text": "已通知厨师减盐"}, headers=head).status_code == 200
        body = {"measure": "红烧肉减盐并试味后出餐", "owner": "王师傅", "deadline": "2026-10-12"}
        assert client.post(act + "rectification", json=body, headers=head).status_code == 200
        assert client.post(act + "close", headers=head).status_code == 200
        asked = questions(engine, "o_revisit")
        assert len(asked) == 1
        assert "红烧肉减盐并试味后出餐" in asked[0] and "对处理结果：1 满意 2 基本满意 3 不满意" in asked[0]

        clock.shift(timedelta(minutes=15))  # the feedback window has closed: a bare digit is an answer
        assert "不满意" in say(client, peer, "3")
        with Session(engine) as s:
            again = s.get(Feedback, fb.id)
            assert again is not None and again.status == Status.rectifying and again.revisit_answer == 3
            actions = [
                e.action
                for e in s.execute(
                    select(FeedbackEvent).where(col(FeedbackEvent.feedback_id) == fb.id)
                ).scalars()
            ]
        assert actions[-2:] == ["revisit_answered", "reopened"]
        assert (
            client.get(f"/api/v1/feedback/{fb.id}", headers=head).json()["revisit_answer_label"] == "不满意"
        )
        login(client, "canteen")
        page = client.get(f"/console/feedback/{fb.id}").text
        assert '<dt>回访</dt><dd id="loop"><span class="tag alert">不满意' in page and "整改期限" in page

        assert client.post(act + "close", headers=head).status_code == 200
        assert len(questions(engine, "o_revisit")) == 2  # asked again after the second closing
        clock.shift(timedelta(minutes=1))
        assert "满意" in say(client, peer, "１")  # a full-width digit is the same answer
        rates = client.get("/api/v1/dashboard?start=2026-10-01&end=2026-10-09", headers=head).json()["rates"]
        assert rates["overall"]["satisfaction"] == {
            "pct": 100.0,
            "n": 1,
            "hits": 1,
            "previous": None,
            "change": None,
        }
        assert rates["overall"]["response"]["n"] == 1 and rates["overall"]["response"]["pct"] == 100.0
        assert rates["by_manager"][0]["label"] == "李经理"

        # with nothing pending, a bare digit is feedback again (a score), not an answer
        clock.shift(timedelta(minutes=15))
        assert "FK" in say(client, peer, "2")


def test_a_digit_inside_an_open_window_is_a_score(client: TestClient, engine: Engine) -> None:
    peer = WeChatPeer()
    with time_machine.travel(local(2026, 10, 9, 11, 0), tick=True):
        say(client, peer, "这道菜不错", sender="o_win")  # opens a window, unscored
        say(client, peer, "5", sender="o_win")
        with Session(engine) as s:
            fb = s.execute(select(Feedback).where(col(Feedback.sender) == "o_win")).scalar_one()
        assert fb.score == 5 and fb.revisit_answer is None


# --- 今日待办 and 三率 -------------------------------------------------------------------------------------


def _add(s: Session, settings: Settings, *, score: int, comment: str, at: datetime, sender: str) -> int:
    row = create_feedback(
        Store(s), sender=sender, local_day=at.astimezone(TZ).date(), service_date=at.astimezone(TZ).date(),
        score=score, comment=comment, created_at=at.astimezone(UTC), settings=settings,
    )  # fmt: skip
    return row.id


def test_worklist_counts_and_their_inbox_tabs_hold_the_same_items(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    head = bearer(engine, "canteen")
    with unit_of_work(engine) as s:
        overdue_ack = _add(s, settings, score=1, comment="太难吃", at=local(2026, 10, 7, 19), sender="a")
        food = _add(s, settings, score=4, comment="菜里有虫子", at=local(2026, 10, 9, 10), sender="b")
        yesterday_low = _add(s, settings, score=2, comment="凉了", at=local(2026, 10, 8, 12), sender="c")
        _add(s, settings, score=5, comment="好吃", at=local(2026, 10, 9, 10), sender="d")
    with time_machine.travel(local(2026, 10, 9, 11, 0), tick=False):
        lines = {w["tab"]: w for w in client.get("/api/v1/worklist", headers=head).json()}
        assert lines["alerts_unacked"]["count"] == 3
        assert lines["ack_overdue"]["count"] == 1 and lines["ack_overdue"]["items"][0]["id"] == overdue_ack
        # food safety: rectify by the close of the next working day (10-10, the make-up Saturday): not today
        assert lines["rectify_due_today"]["count"] == 0
        assert lines["lowest_yesterday"]["count"] == 1
        for tab, line in lines.items():
            assert line["inbox"] == f"/console/feedback?tab={tab}"
            page = client.get(f"/api/v1/feedback?tab={tab}", headers=head).json()
            assert page["total"] == line["count"], tab
        listed = {
            i["id"] for i in client.get("/api/v1/feedback?tab=lowest_yesterday", headers=head).json()["items"]
        }
        assert listed == {yesterday_low}
        assert client.get("/api/v1/feedback?tab=nonsense", headers=head).status_code == 422
        item = client.get(f"/api/v1/feedback/{overdue_ack}", headers=head).json()
        assert item["ack_overdue"] is True and item["rectify_overdue"] is False
    with time_machine.travel(local(2026, 10, 10, 12, 0), tick=False):
        lines = {w["tab"]: w for w in client.get("/api/v1/worklist", headers=head).json()}
        assert (
            lines["rectify_due_today"]["count"] == 1 and lines["rectify_due_today"]["items"][0]["id"] == food
        )
        assert client.get("/api/v1/feedback?tab=rectify_due_today", headers=head).json()["total"] == 1


def test_rates_have_n_and_compare_with_the_previous_period(engine: Engine, settings: Settings) -> None:
    from feedback import review

    with unit_of_work(engine) as s:
        before = _add(s, settings, score=2, comment="慢", at=local(2026, 10, 12, 9), sender="p")
        late = _add(s, settings, score=2, comment="慢", at=local(2026, 10, 19, 9), sender="q")
        quick = _add(s, settings, score=2, comment="咸", at=local(2026, 10, 19, 9), sender="r")
    with unit_of_work(engine) as s:
        review.acknowledge(s, feedback_id=before, actor="李经理")
        review.acknowledge(s, feedback_id=quick, actor="李经理")
    with unit_of_work(engine) as s:
        # 'before' and 'quick' were acknowledged now (well after their deadline in 2026-10): move them back
        for fid, when in ((before, local(2026, 10, 12, 10)), (quick, local(2026, 10, 19, 10))):
            fb = s.get(Feedback, fid)
            assert fb is not None
            fb.acknowledged_at = when.astimezone(UTC)
            s.add(fb)
    with Session(engine) as s:
        report = rates.rates(
            s, start=date(2026, 10, 19), end=date(2026, 10, 25), now=local(2026, 10, 26).astimezone(UTC)
        ).as_dict()
    response = report["overall"]["response"]
    assert (response["hits"], response["n"], response["pct"]) == (1, 2, 50.0)  # 'late' never acknowledged
    assert response["previous"] == 100.0 and response["change"] == -50.0
    assert report["previous_start"] == date(2026, 10, 12)
    assert report["overall"]["satisfaction"]["n"] == 0 and report["overall"]["satisfaction"]["pct"] is None
    assert [r["label"] for r in report["by_manager"]] == ["李经理"]
    assert report["by_meeting"] == []  # nothing to show: no empty slice
    del late


# --- escalation ------------------------------------------------------------------------------------------


def test_overdue_items_are_escalated_once_through_the_outbox(engine: Engine, settings: Settings) -> None:
    from feedback.models import Person
    from server.scheduler import escalate_tick, job_table

    with unit_of_work(engine) as s:
        s.add(Person(openid="o_boss", name="局领导", roles="admin"))
        s.add(Person(openid="o_clerk", name="办事员", roles=""))
        late = _add(s, settings, score=1, comment="饭是馊的", at=local(2026, 10, 9, 9), sender="e")
        fresh = _add(s, settings, score=5, comment="好", at=local(2026, 10, 9, 9), sender="f")
    later = local(2026, 10, 9, 12, 0)  # food safety: 2 working hours from 09:00 → 11:00
    with time_machine.travel(later, tick=False):
        first = escalate_tick(engine, settings, job_table(), now=later)
        assert first.ran and first.counts == {"escalated": 1}
        assert not escalate_tick(engine, settings, job_table(), now=later).ran  # the slot is claimed
        again = escalate_tick(engine, settings, job_table(), now=later + timedelta(minutes=15))
        assert again.counts == {"escalated": 0}  # once per item
    with Session(engine) as s:
        sent = list(s.execute(select(Outbox).where(col(Outbox.payload).contains("督办"))).scalars())
        assert [o.to_user for o in sent] == ["o_boss"] and "受理期限" in sent[0].payload
        fb = s.get(Feedback, late)
        assert fb is not None and fb.escalated_at is not None
        other = s.get(Feedback, fresh)
        assert other is not None and other.escalated_at is None


# --- demo data at scale ----------------------------------------------------------------------------------


def test_bulk_demo_fills_months_with_handled_feedback(engine: Engine, settings: Settings) -> None:
    from feedback.models import Person
    from server.demo.bulk import fill_bulk

    b = fill_bulk(engine, settings=settings, count=1200, months=3, seed=5, today=date(2026, 11, 20))
    assert b.feedbacks == 1200 and b.first_day == date(2026, 9, 1) and b.last_day == date(2026, 11, 19)
    with Session(engine) as s:
        rows = list(s.execute(select(Feedback)).scalars())
        assert len({r.reference for r in rows}) == 1200
        assert all(b.first_day <= r.service_date <= b.last_day and r.ack_due_at is not None for r in rows)
        answered = [r for r in rows if r.revisit_answer is not None]
        assert answered and all(r.score is not None and r.score <= 3 for r in answered)
        assert {r.status for r in rows} >= {"new", "closed"}
        assert s.execute(select(Person).where(col(Person.staff_no) == "10001")).scalar_one().name == "张伟"
        report = rates.rates(
            s, start=date(2026, 10, 1), end=date(2026, 10, 31), now=datetime(2026, 11, 20, tzinfo=UTC)
        )
        assert all(r.pct is not None and r.n > 0 for r in report.overall.now)
    with unit_of_work(engine) as s:  # the id sequence moved past the bulk rows (PostgreSQL)
        _add(s, settings, score=5, comment="", at=local(2026, 11, 20, 12), sender="after")
