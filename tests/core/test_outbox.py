"""The outbox against a fake WeChat API on loopback: sent once, retried with backoff, never sent twice."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import Session

from core import outbox
from core.clock import utcnow
from core.db import make_engine
from core.models import Outbox
from core.outbox import DrainCounts, backoff, drain, enqueue
from core.settings import Settings
from tests.conftest import make_settings
from tests.support.fake_wechat import FakeWeChat
from tests.support.servers import free_port


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path, fake: tuple[FakeWeChat, str]) -> Settings:
    return make_settings(
        db_url,
        tmp_path / "var",
        wechat_secret="oa-secret",
        wechat_api_base=fake[1],
        wecom_corpid="ww_corp",
        wecom_secret="wecom-secret",
        wecom_agentid="1000002",
        wecom_api_base=fake[1],
    )


def put(engine: Engine, *messages: tuple[str, str], app: str = "mp") -> list[int]:
    ids = []
    with Session(engine) as s:
        for to_user, text in messages:
            row_id = enqueue(s, to_user=to_user, text=text, app=app)
            assert row_id is not None
            ids.append(row_id)
        s.commit()
    return ids


def row(engine: Engine, row_id: int) -> Outbox:
    with Session(engine) as s:
        return s.execute(select(Outbox).where(Outbox.id == row_id)).scalar_one()  # type: ignore[arg-type]


def test_enqueue_joins_the_callers_transaction_and_dedupes(engine: Engine) -> None:
    with Session(engine) as s:
        assert enqueue(s, to_user="o_a", text="已收到您的反馈", dedupe_key="ack:1") is not None
        s.rollback()  # the change that caused the message was rolled back: so is the message
    with Session(engine) as s:
        first = enqueue(s, to_user="o_a", text="已收到您的反馈", dedupe_key="ack:1")
        assert first is not None
        assert enqueue(s, to_user="o_a", text="已收到您的反馈", dedupe_key="ack:1") is None
        assert enqueue(s, to_user="o_a", text="another") is not None  # no key: never deduped
        s.commit()
    with Session(engine) as s:
        rows = s.execute(select(Outbox).order_by(Outbox.id)).scalars().all()  # type: ignore[arg-type]
    assert [(r.dedupe_key, r.status, r.app, r.payload) for r in rows] == [
        ("ack:1", "pending", "mp", "已收到您的反馈"),
        (None, "pending", "mp", "another"),
    ]
    with Session(engine) as s, pytest.raises(ValueError):
        enqueue(s, to_user="o_a", text="x", app="sms")


def test_a_message_is_sent_once(engine: Engine, api_settings: Settings, fake: tuple[FakeWeChat, str]) -> None:
    api, _ = fake
    (msg,) = put(engine, ("o_diner", "您的反馈 FK20261124-0042 已处理，谢谢！"))
    assert drain(engine, settings=api_settings) == DrainCounts(sent=1)
    assert drain(engine, settings=api_settings) == DrainCounts()
    assert api.named("custom_send") == [
        {
            "touser": "o_diner",
            "msgtype": "text",
            "text": {"content": "您的反馈 FK20261124-0042 已处理，谢谢！"},
        }
    ]
    r = row(engine, msg)
    assert (r.status, r.attempts, r.last_error) == ("sent", 1, None) and r.sent_at is not None


def test_a_failing_api_delays_a_message_and_it_is_delivered_once(
    engine: Engine, api_settings: Settings, fake: tuple[FakeWeChat, str]
) -> None:
    api, _ = fake
    api.fail_next, api.fail_errcode = 3, -1
    (msg,) = put(engine, ("o_diner", "整改已完成"))
    now = utcnow()
    for attempt in (1, 2, 3):
        assert drain(engine, settings=api_settings, now=now) == DrainCounts(retried=1)
        r = row(engine, msg)
        assert (r.status, r.attempts) == ("pending", attempt) and "-1" in (r.last_error or "")
        assert r.next_attempt_at == now + backoff(attempt)
        # not due yet: nothing is sent before the backoff has passed
        assert (
            drain(engine, settings=api_settings, now=now + backoff(attempt) - timedelta(seconds=1))
            == DrainCounts()
        )
        now += backoff(attempt)
    assert drain(engine, settings=api_settings, now=now) == DrainCounts(sent=1)
    assert drain(engine, settings=api_settings, now=now + timedelta(days=1)) == DrainCounts()
    assert len(api.named("custom_send_failed")) == 3
    assert [b["touser"] for b in api.named("custom_send")] == ["o_diner"]
    assert row(engine, msg).status == "sent"


def test_backoff_doubles_from_30_seconds_up_to_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]


def test_a_closed_reply_window_is_undeliverable_and_not_retried(
    engine: Engine, api_settings: Settings, fake: tuple[FakeWeChat, str]
) -> None:
    api, _ = fake
    api.fail_next, api.fail_errcode = 1, 45015
    (msg,) = put(engine, ("o_gone", "您的反馈已处理"))
    assert drain(engine, settings=api_settings) == DrainCounts(undeliverable=1)
    assert drain(engine, settings=api_settings, now=utcnow() + timedelta(days=2)) == DrainCounts()
    r = row(engine, msg)
    assert r.status == "undeliverable" and "45015" in (r.last_error or "") and r.sent_at is None
    assert len(api.named("custom_send_failed")) == 1 and api.named("custom_send") == []


def test_an_unreachable_api_is_retried_and_given_up_after_12_attempts(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    down = make_settings(
        db_url, tmp_path / "var", wechat_secret="s", wechat_api_base=f"http://127.0.0.1:{free_port()}"
    )
    (msg,) = put(engine, ("o_diner", "hello"))
    assert drain(engine, settings=down) == DrainCounts(retried=1)
    r = row(engine, msg)
    assert r.status == "pending" and r.attempts == 1 and "ConnectionError" in (r.last_error or "")
    with engine.begin() as conn:
        conn.execute(update(Outbox).where(Outbox.id == msg).values(attempts=11))  # type: ignore[arg-type]
    assert drain(engine, settings=down, now=utcnow() + timedelta(hours=2)) == DrainCounts(undeliverable=1)
    assert row(engine, msg).status == "undeliverable" and row(engine, msg).attempts == 12


def test_without_credentials_messages_stay_pending_and_it_is_said_once(
    engine: Engine, settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "_warned", set())
    (msg,) = put(engine, ("o_diner", "hello"))
    with caplog.at_level(logging.WARNING, logger="houqin.outbox"):
        assert drain(engine, settings=settings) == DrainCounts()  # appid set, secret missing
        assert drain(engine, settings=settings) == DrainCounts()
    warnings = [r for r in caplog.records if "stay pending" in r.getMessage() and "mp " in r.getMessage()]
    assert len(warnings) == 1
    # nothing waits for WeCom here, so nothing is said about it
    assert not any("wecom" in r.getMessage() for r in caplog.records)
    r = row(engine, msg)
    assert (r.status, r.attempts) == ("pending", 0)


def test_wecom_messages_go_to_the_app_agent(
    engine: Engine, api_settings: Settings, fake: tuple[FakeWeChat, str]
) -> None:
    api, _ = fake
    put(engine, ("zhangsan", "查阅申请 CY2026-0007 已同意"), app="wecom")
    assert drain(engine, settings=api_settings) == DrainCounts(sent=1)
    (body,) = api.named("wecom_send")
    assert body["touser"] == "zhangsan" and body["agentid"] == 1000002
    assert body["msgtype"] == "text" and body["text"] == {"content": "查阅申请 CY2026-0007 已同意"}
    assert api.named("custom_send") == []


def test_two_drainers_at_once_never_send_a_message_twice(
    engine: Engine, api_settings: Settings, fake: tuple[FakeWeChat, str]
) -> None:
    api, _ = fake
    users = [f"o_{i:03d}" for i in range(40)]
    put(engine, *[(u, f"message for {u}") for u in users])
    engines = [make_engine(api_settings.database_url) for _ in range(2)]  # as two processes would
    start = threading.Barrier(2)
    totals: list[DrainCounts] = []

    def drainer(eng: Engine) -> None:
        start.wait(timeout=10)
        for _ in range(4):
            totals.append(drain(eng, settings=api_settings, batch=7))

    threads = [threading.Thread(target=drainer, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for e in engines:
        e.dispose()
    drain(engine, settings=api_settings)  # whatever the two left (SQLite lets one drain at a time)
    sent_to = Counter(b["touser"] for b in api.named("custom_send"))
    assert sent_to == Counter(users)  # each exactly once
    assert sum(t.sent for t in totals) <= 40
    with Session(engine) as s:
        statuses = s.execute(select(Outbox.status)).scalars().all()  # type: ignore[call-overload]
    assert statuses == ["sent"] * 40
