"""A year chinese-calendar has no holiday schedule for (issue 11): deadlines count Monday–Friday with one
logged warning, and a feedback through /wechat, and the console that lists it, still work that year."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from core.settings import Settings, SlaRules
from feedback import sla
from feedback.models import Feedback
from server.app import create_app
from tests.support.console_helpers import add_users, login
from tests.support.wechat_peer import WeChatPeer, reply_text, text_xml

TZ = ZoneInfo("Asia/Shanghai")
YEAR = 2099  # far past any schedule the State Council has published


def local(m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(YEAR, m, d, hh, mm, tzinfo=TZ)


def test_the_package_has_no_schedule_for_the_year() -> None:
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(YEAR, 1, 5))


def test_deadlines_in_an_unknown_year_count_weekdays_and_warn_once(caplog: pytest.LogCaptureFixture) -> None:
    sla.is_workday.cache_clear()
    sla._warn_unknown_year.cache_clear()
    caplog.set_level(logging.WARNING, logger="houqin.sla")
    # Friday 2099-01-02 16:00 (New Year's Day is a Thursday): no holidays known, Saturday and Sunday off
    received = local(1, 2, 16, 0)
    assert received.weekday() == 4
    food = sla.deadlines(SlaRules(), score=4, comment="汤里有头发", received_at=received, tz=TZ)
    assert food.ack_due_at == local(1, 5, 9, 0).astimezone(UTC)  # 16:00–17:30, then Monday 08:30 + 30 min
    low = sla.deadlines(SlaRules(), score=2, comment="太咸", received_at=received, tz=TZ)
    assert low.rectify_due_at == local(1, 9, 17, 30).astimezone(UTC)  # 5 weekdays: Mon 5 … Fri 9
    warned = [r for r in caplog.records if r.name == "houqin.sla"]
    assert len(warned) == 1 and str(YEAR) in warned[0].getMessage()


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    add_users(engine)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def test_a_feedback_in_an_unknown_year_is_answered_and_listed(client: TestClient, engine: Engine) -> None:
    peer = WeChatPeer()
    with time_machine.travel(local(2, 6, 10, 0), tick=True):  # a Friday, 10:00 local
        params, body = peer.safe(text_xml("2分 红烧肉太咸了", sender="o_2099"))
        assert "FK2099" in reply_text(peer, client.post("/wechat", params=params, content=body))
        with Session(engine) as s:
            fb = s.execute(select(Feedback).where(col(Feedback.sender) == "o_2099")).scalar_one()
        assert fb.ack_due_at is not None and fb.rectify_due_at is not None
        assert fb.rectify_due_at.astimezone(TZ) == local(2, 13, 17, 30)  # 5 weekdays: Mon 9 … Fri 13
        login(client, "canteen")
        assert client.get("/console/").status_code == 200
        assert "红烧肉太咸了" in client.get("/console/feedback").text
