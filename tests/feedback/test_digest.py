"""The managers' daily digest (counts, CSAT with n, lowest scores, overdue rectifications; queued once per
day and person, run by the `digest` scheduler job claimed per day), and the template-message fallback
for replies past WeChat's 48-hour window, delivered through the fake WeChat API on loopback."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from core.clock import utcnow
from core.models import Outbox
from core.outbox import DrainCounts, drain
from core.settings import Settings
from feedback import review
from feedback.digest import daily_digest, queue_daily_digest
from feedback.models import Feedback, InboundMessage, Person
from server.app import create_app
from server.scheduler import build_scheduler
from tests.conftest import make_settings
from tests.support.console_helpers import add_users, login
from tests.support.fake_wechat import FakeWeChat

DAY = date(2026, 11, 24)


def add_feedback(session: Session, ref: str, *, score: int | None, comment: str = "", **kw: Any) -> Feedback:
    fb = Feedback(
        reference=ref,
        sender=kw.pop("sender", "o_diner"),
        service_date=kw.pop("service_date", DAY),
        score=score,
        comment=comment,
        **kw,
    )
    session.add(fb)
    session.flush()
    return fb


def outbox_rows(engine: Engine) -> list[Outbox]:
    with Session(engine) as s:
        return list(s.execute(select(Outbox).order_by(col(Outbox.id))).scalars())


@pytest.fixture
def day_of_feedback(session: Session) -> None:
    add_feedback(session, "FK20261124-0001", score=5, comment="很好")
    add_feedback(session, "FK20261124-0002", score=1, comment="饭菜是凉的")
    add_feedback(session, "FK20261124-0003", score=2, comment="排队太久")
    add_feedback(session, "FK20261124-0004", score=4)
    add_feedback(session, "FK20261124-0005", score=3, comment="一般")
    add_feedback(session, "FK20261124-0006", score=None, comment="建议增加素菜")
    add_feedback(session, "FK20261124-0007", score=1, comment="广告", misuse=True)
    add_feedback(session, "FK20261123-0001", score=1, service_date=DAY - timedelta(days=1))
    late = add_feedback(session, "FK20261120-0001", score=2, service_date=DAY - timedelta(days=4))
    on_time = add_feedback(session, "FK20261120-0002", score=2, service_date=DAY - timedelta(days=4))
    done = add_feedback(session, "FK20261120-0003", score=2, service_date=DAY - timedelta(days=4))
    moved = add_feedback(session, "FK20261120-0004", score=2, service_date=DAY - timedelta(days=4))
    for fb, deadline in ((late, "2026-11-22"), (on_time, "2026-11-25"), (done, "2026-11-21")):
        review.record_rectification(
            session, feedback_id=fb.id or 0, actor="李经理", measure="整改", owner="张师傅", deadline=deadline
        )
    review.resolve(session, feedback_id=done.id or 0, actor="李经理")
    # a later rectification moved the deadline: the latest one counts
    for deadline in ("2026-11-20", "2026-12-01"):
        review.record_rectification(
            session,
            feedback_id=moved.id or 0,
            actor="李经理",
            measure="整改",
            owner="王师傅",
            deadline=deadline,
        )
    session.add_all(
        [
            Person(openid="o_duty", name="值班", roles="on_duty"),
            Person(wecom_userid="lijingli", name="李经理", roles="canteen_manager,on_duty"),
            Person(openid="o_boss", name="局长", roles="manager"),
            Person(openid="o_archivist", name="档案员", roles="archivist"),
            Person(name="无微信", roles="manager"),
        ]
    )
    session.commit()


def test_the_digest_sums_up_the_day(session: Session, settings: Settings, day_of_feedback: None) -> None:
    text = daily_digest(session, settings=settings, day=DAY)
    lines = text.splitlines()
    assert lines[0] == "【每日反馈摘要】2026-11-24"
    assert lines[1] == "反馈 6 条，其中待受理 6 条"  # the misuse row is not counted
    assert lines[2] == "平均分 3.0，满意度 40.0%（4–5分 2/5，n=5）"
    assert lines[3:7] == [
        "评分最低：",
        "· FK20261124-0002 1分 饭菜是凉的",
        "· FK20261124-0003 2分 排队太久",
        "· FK20261124-0005 3分 一般",
    ]
    assert lines[7:] == ["整改逾期 1 条：", "· FK20261120-0001 期限2026-11-22 责任人张师傅"]


def test_an_empty_day_says_so_with_n(session: Session, settings: Settings) -> None:
    assert daily_digest(session, settings=settings, day=DAY).splitlines()[1:] == [
        "反馈 0 条，其中待受理 0 条",
        "满意度 —（n=0）",
        "整改逾期：无",
    ]


def test_the_digest_goes_once_to_every_manager_and_on_duty_person(
    session: Session, engine: Engine, settings: Settings, day_of_feedback: None
) -> None:
    assert queue_daily_digest(session, settings=settings, day=DAY) == 3
    session.commit()
    assert queue_daily_digest(session, settings=settings, day=DAY) == 0  # deduped per day and person
    session.commit()
    rows = outbox_rows(engine)
    people = {p.name: p.id for p in session.execute(select(Person)).scalars()}
    assert sorted((r.app, r.to_user, r.dedupe_key) for r in rows) == sorted(
        [
            ("mp", "o_duty", f"digest:2026-11-24:{people['值班']}"),
            ("wecom", "lijingli", f"digest:2026-11-24:{people['李经理']}"),
            ("mp", "o_boss", f"digest:2026-11-24:{people['局长']}"),
        ]
    )
    assert all(r.kind == "text" and r.payload.startswith("【每日反馈摘要】2026-11-24") for r in rows)


def test_the_digest_job_runs_once_per_day_whichever_scheduler_fires(
    engine: Engine, settings: Settings, session: Session, day_of_feedback: None
) -> None:
    schedulers = [
        build_scheduler(
            engine, make_settings(settings.database_url, settings.data_dir, digest_cron="30 7 * * *")
        )
        for _ in range(2)
    ]
    for scheduler in schedulers:
        job = scheduler.get_job("digest")
        assert (str(job.trigger.fields[5]), str(job.trigger.fields[6])) == ("7", "30")  # hour, minute
        outcome = job.func(*job.args, **job.kwargs, today=DAY + timedelta(days=1))
        assert outcome.period == "2026-11-24"
    rows = outbox_rows(engine)
    assert len(rows) == 3 and {r.payload.splitlines()[0] for r in rows} == {"【每日反馈摘要】2026-11-24"}


def test_the_digest_time_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOUQIN_DIGEST_CRON", "0 9 * * 1-5")
    monkeypatch.setenv("HOUQIN_WECHAT_REPLY_TEMPLATE_ID", "TPL-1")
    s = Settings()
    assert (s.digest_cron, s.wechat_reply_template_id) == ("0 9 * * 1-5", "TPL-1")
    assert Settings(_env_file=None).digest_cron  # type: ignore[call-arg]


# --- template messages past the 48-hour window ---------------------------------------------------------


@pytest.fixture
def template_settings(db_url: str, tmp_path: Path, fake: tuple[FakeWeChat, str]) -> Settings:
    return make_settings(
        db_url,
        tmp_path / "var",
        wechat_secret="oa-secret",
        wechat_api_base=fake[1],
        wechat_reply_template_id="TPL_REPLY_1",
    )


def old_feedback(session: Session, *, source: str = "mp") -> Feedback:
    """Feedback whose diner last wrote three days ago: the customer-service window is closed."""
    fb = add_feedback(session, "FK20261121-0001", score=2, comment="菜太咸", sender="o_old", source=source)
    session.add(
        InboundMessage(
            dedupe_key="m-old",
            sender="o_old",
            msg_type="text",
            created_at=utcnow() - timedelta(days=3),
            received_at=utcnow() - timedelta(days=3),
            raw_xml="<xml/>",
        )
    )
    session.commit()
    return fb


def test_past_the_window_a_reply_goes_as_a_template_message_through_the_api(
    session: Session, engine: Engine, template_settings: Settings, fake: tuple[FakeWeChat, str]
) -> None:
    api, _ = fake
    fb = old_feedback(session)
    result = review.reply(
        session, feedback_id=fb.id or 0, actor="李经理", text="已调整口味", template_id="TPL_REPLY_1"
    )
    session.commit()
    assert (result.deliverable, result.via_template) == (False, True)
    (row,) = outbox_rows(engine)
    assert (row.kind, row.app, row.to_user) == ("template", "mp", "o_old")
    payload = json.loads(row.payload)
    assert payload["template_id"] == "TPL_REPLY_1"
    assert set(payload["data"]) == {"first", "keyword1", "keyword2", "remark"}

    assert drain(engine, settings=template_settings) == DrainCounts(sent=1)
    assert drain(engine, settings=template_settings) == DrainCounts()
    (sent,) = api.named("template_send")
    assert sent["touser"] == "o_old" and sent["template_id"] == "TPL_REPLY_1"
    assert sent["data"]["keyword1"] == {"value": "FK20261121-0001"}
    assert sent["data"]["keyword2"] == {"value": "已调整口味"}
    assert api.named("custom_send") == []
    assert outbox_rows(engine)[0].status == "sent"


def test_a_failing_template_send_is_retried(
    session: Session, engine: Engine, template_settings: Settings, fake: tuple[FakeWeChat, str]
) -> None:
    api, _ = fake
    fb = old_feedback(session)
    review.reply(session, feedback_id=fb.id or 0, actor="李经理", text="已调整", template_id="TPL_REPLY_1")
    session.commit()
    api.fail_next = 1
    assert drain(engine, settings=template_settings) == DrainCounts(retried=1)
    later = utcnow() + timedelta(minutes=10)
    assert drain(engine, settings=template_settings, now=later) == DrainCounts(sent=1)
    assert len(api.named("template_send")) == 1


def test_without_a_template_or_for_wecom_the_late_reply_is_only_recorded(
    session: Session, engine: Engine
) -> None:
    fb = old_feedback(session)
    result = review.reply(session, feedback_id=fb.id or 0, actor="李经理", text="已调整")
    assert (result.deliverable, result.via_template) == (False, False)
    fb.source = "wecom"
    session.add(fb)
    result = review.reply(session, feedback_id=fb.id or 0, actor="李经理", text="再次", template_id="TPL")
    session.commit()
    assert (result.deliverable, result.via_template) == (False, False)
    assert outbox_rows(engine) == []


def test_the_console_says_the_reply_went_as_a_template_message(
    session: Session, engine: Engine, template_settings: Settings, fake: tuple[FakeWeChat, str]
) -> None:
    api, _ = fake
    fb = old_feedback(session)
    add_users(engine)
    with TestClient(create_app(template_settings, engine=engine)) as client:
        login(client, "canteen")
        page = client.get(f"/console/feedback/{fb.id}")
        assert "回复将作为模板消息发送" in page.text
        token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        r = client.post(
            f"/console/feedback/{fb.id}/reply",
            data={"csrf": token, "text": "已调整口味"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        shown = client.get(r.headers["location"])
        assert "已作为模板消息加入发送队列" in shown.text
    assert drain(engine, settings=template_settings) == DrainCounts(sent=1)
    assert [c["template_id"] for c in api.named("template_send")] == ["TPL_REPLY_1"]
