"""A score replaced in chat (「是」 to 「要改为1分吗？」) recomputes the feedback's HOUQIN_SLA deadlines as if it
had been received with the new score: 4分 → 1分 gets the complaint deadlines, 1分 → 5分 loses them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from core.settings import Settings
from feedback import sla
from feedback.models import Feedback, Site
from server.app import create_app
from tests.conftest import make_settings
from tests.support.wechat_peer import WeChatPeer, event_xml, reply_text, text_xml

# Wednesday 2026-11-25 02:00 UTC is 10:00 in Asia/Shanghai, inside working hours
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


@pytest.fixture
def app_settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path / "var")


@pytest.fixture
def client(app_settings: Settings, engine: Any) -> Iterator[TestClient]:
    with Session(engine) as s:
        s.add(Site(code="yst", name="机关一食堂"))
        s.commit()
    with time_machine.travel(NOW, tick=False), TestClient(create_app(app_settings, engine=engine)) as c:
        yield c


def say(client: TestClient, xml: str) -> str:
    peer = WeChatPeer()
    params, body = peer.safe(xml)
    return reply_text(peer, client.post("/wechat", params=params, content=body))


def feedback(engine: Any) -> Feedback:
    with Session(engine) as s:
        return s.execute(select(Feedback)).scalar_one()


def as_if_created(settings: Settings, fb: Feedback, score: int) -> tuple[datetime | None, datetime | None]:
    due = sla.deadlines(
        settings.sla, score=score, comment=fb.comment, received_at=fb.created_at, tz=settings.tz
    )
    return due.ack_due_at, due.rectify_due_at


def _naive(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.astimezone(UTC).replace(tzinfo=None)


def due_of(fb: Feedback) -> tuple[datetime | None, datetime | None]:
    return _naive(fb.ack_due_at), _naive(fb.rectify_due_at)


@pytest.mark.parametrize(("first", "second"), [(4, 1), (1, 5), (5, 2)])
def test_a_replaced_score_gets_the_deadlines_of_its_new_score(
    client: TestClient, engine: Any, app_settings: Settings, first: int, second: int
) -> None:
    say(client, event_xml("SCAN", key="canteen:yst:3", sender="o_sla"))
    say(client, text_xml(str(first), sender="o_sla"))
    before = feedback(engine)
    assert due_of(before) == tuple(map(_naive, as_if_created(app_settings, before, first)))
    assert "要改为" in say(client, text_xml(str(second), sender="o_sla"))
    say(client, text_xml("是", sender="o_sla"))
    after = feedback(engine)
    assert after.score == second
    expected = tuple(map(_naive, as_if_created(app_settings, after, second)))
    assert due_of(after) == expected
    complaint = second <= app_settings.sla.max_score
    assert (after.rectify_due_at is not None) == complaint  # a complaint must be rectified; a 5分 need not


def test_rescore_without_settings_changes_nothing(engine: Any) -> None:
    with Session(engine) as s:
        assert sla.rescore(s, feedback_id=1, score=1, comment="", settings=None) is None
