"""Shared by the console, API and browser tests: accounts, logging in, the fake WeChat API, a sealed volume
and a pending lookup request."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from console.auth import create_user
from core.clock import to_local, utcnow
from core.db import unit_of_work
from core.settings import Settings
from exports.seal import compile_locked
from feedback.models import Feedback, Person
from lookups import service
from tests.conftest import make_settings
from tests.support.fake_wechat import FakeWeChat
from tests.support.volume_data import fill_period

PASSWORD = "correct-horse-battery"
USERS = {  # username: (role, display name)
    "admin": ("admin", "系统管理员"),
    "canteen": ("canteen_manager", "李经理"),
    "reception": ("reception_manager", "赵会务"),
    "archivist": ("archivist", "王档案"),
}
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
# The demo ages its feedback relative to "today" (last week's are mostly handled early in a month), so the
# tests that pick from the demo's last week run on a fixed clock: a Wednesday, 10:00 in Beijing, ticking.
DEMO_NOW = datetime.fromisoformat("2026-12-02T10:00:00+08:00")


@pytest.fixture
def demo_clock() -> Iterator[None]:
    """The clock moved to DEMO_NOW (and ticking) for the whole test, so the demo month is the same on any date."""
    with time_machine.travel(DEMO_NOW, tick=True):
        yield


def add_users(engine: Engine) -> None:
    """One account per role (password PASSWORD)."""
    with unit_of_work(engine) as s:
        for username, (role, name) in USERS.items():
            create_user(s, username=username, password=PASSWORD, role=role, display_name=name)


def login(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Log in through the form (with its CSRF token); returns the POST's response (not followed)."""
    page = client.get("/console/login")
    assert page.status_code == 200
    token = CSRF_FIELD.search(page.text)
    assert token, page.text
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf": token.group(1)},
        follow_redirects=False,
    )


def csrf_of(client: Any, path: str) -> str:
    """The session's CSRF token, read from a page's form."""
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code, page.text[:300])
    found = CSRF_FIELD.search(page.text)
    assert found, page.text
    return found.group(1)


def local_today(settings: Settings) -> date:
    """Today in the configured time zone."""
    return to_local(utcnow(), settings.tz).date()


def last_week(settings: Settings) -> tuple[date, date]:
    """Monday and Sunday of last week (local)."""
    today = local_today(settings)
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=6)


def lowest_lunch(
    session: Session, start: date, end: date, *, open_only: bool = False, status: str | None = None
) -> int:
    """The lowest score of last week's canteen lunches (what the inbox's 评分最低 shows first; with
    `open_only`, of those not yet closed: the 待处理 tab)."""
    scores = [
        s
        for s in session.execute(
            select(col(Feedback.score)).where(
                col(Feedback.channel) == "canteen",
                col(Feedback.meal) == "lunch",
                col(Feedback.service_date) >= start,
                col(Feedback.service_date) <= end,
                col(Feedback.score).is_not(None),
                col(Feedback.status) != "closed" if open_only else col(Feedback.id).is_not(None),
                col(Feedback.status) == status if status else col(Feedback.id).is_not(None),
            )
        ).scalars()
    ]
    assert scores, "the demo month has lunches last week"
    return min(s for s in scores if s is not None)


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path, fake: tuple[FakeWeChat, str]) -> Settings:
    """Settings whose outbound WeChat calls go to the fake (Official Account credentials set)."""
    return make_settings(db_url, tmp_path / "var", wechat_secret="oa-secret", wechat_api_base=fake[1])


def sealed_volume(engine: Engine, settings: Settings, *, period: str = "2026-10", n: int = 12) -> str:
    """A month of closed canteen feedback compiled into one sealed volume; its 档号."""
    fill_period(engine, period=period, n=n, sender_prefix=f"o_vol{period.replace('-', '')}")
    return compile_locked(engine, settings=settings, period=period, channel="canteen").volumes[0]


def pending_lookup(engine: Engine, settings: Settings, code: str, *, openid: str = "o_zhang") -> str:
    """A staff member's lookup request for a volume (as 查阅 over chat registers it); its 登记号."""
    with unit_of_work(engine) as s:
        person = s.execute(select(Person).where(col(Person.openid) == openid)).scalar_one_or_none()
        if person is None:
            person = Person(
                openid=openid, staff_no=f"A{openid[-4:]}", name="张三", department="办公室", roles="staff"
            )
            s.add(person)
            s.flush()
        req = service.request_lookup(
            s, requester=person, code=code, purpose="核对整改情况", channel="mp", settings=settings
        )
        return req.register_no
