"""WeCom members looked up over HTTP outside any transaction, failures remembered (issue 11 finding 5)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlmodel import Session, col

from core.db import unit_of_work
from core.settings import Settings
from feedback.models import Person
from handlers.wecom import WecomUsers
from tests.conftest import make_settings
from tests.support.fake_wechat import FakeWeChat, running


@pytest.fixture
def api() -> Iterator[tuple[FakeWeChat, str]]:
    with running({f"u{i}": {"name": f"成员{i}", "department": [2]} for i in range(5)}) as served:
        yield served


@pytest.fixture
def wecom_settings(db_url: str, tmp_path: Path, api: tuple[FakeWeChat, str]) -> Settings:
    return make_settings(
        db_url, tmp_path / "var", wecom_corpid="ww_corp", wecom_secret="w-secret", wecom_api_base=api[1]
    )


def test_new_members_are_made_with_one_token(
    engine: Engine, wecom_settings: Settings, api: tuple[FakeWeChat, str]
) -> None:
    fake, _ = api
    users = WecomUsers(engine, wecom_settings)
    assert all(users.resolve(f"u{i}") for i in range(5))
    assert fake.hits["user/get"] == 5 and fake.hits["gettoken"] == 1
    assert users.resolve("u0")  # has a Person now: no look-up
    assert fake.hits["user/get"] == 5
    with Session(engine) as s:
        names = s.execute(select(Person.name).where(col(Person.wecom_userid).is_not(None))).scalars().all()
    assert sorted(names) == [f"成员{i}" for i in range(5)]


def test_a_failed_lookup_is_not_repeated_within_the_retry_time(
    engine: Engine, wecom_settings: Settings, api: tuple[FakeWeChat, str]
) -> None:
    fake, _ = api
    now = [1000.0]
    users = WecomUsers(engine, wecom_settings, clock=lambda: now[0])
    assert not users.resolve("ghost")  # 60111: no such member
    assert not users.resolve("ghost") and users.failed_recently("ghost")
    assert fake.hits["user/get"] == 1
    now[0] += wecom_settings.wecom_lookup_retry_s + 1
    assert not users.failed_recently("ghost")
    assert not users.resolve("ghost")
    assert fake.hits["user/get"] == 2


def test_a_hanging_lookup_holds_no_database_lock(
    engine: Engine, wecom_settings: Settings, api: tuple[FakeWeChat, str]
) -> None:
    fake, _ = api
    fake.hang["user/get"] = 10
    users = WecomUsers(engine, wecom_settings)
    result: list[bool] = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: result.append(users.resolve("u1")))
    worker.start()
    while fake.hits["user/get"] == 0 and time.monotonic() - started < 1.2:
        time.sleep(0.01)
    assert fake.hits["user/get"] == 1  # the look-up is waiting for WeCom now
    before = time.monotonic()
    with unit_of_work(engine) as session:  # on SQLite: BEGIN IMMEDIATE, the write lock
        session.execute(text("UPDATE counter SET value = value WHERE name = 'nothing'"))
    assert time.monotonic() - before < 0.5
    worker.join(5)
    assert result == [False]
    # the hard timeout (WeCom hangs for 10 s; the DB reads around the HTTP call and a loaded machine add some)
    assert time.monotonic() - started < wecom_settings.wecom_lookup_timeout_s + 1.5
    assert users.failed_recently("u1")


def test_two_messages_of_one_new_member_share_one_lookup(
    engine: Engine, wecom_settings: Settings, api: tuple[FakeWeChat, str]
) -> None:
    fake, _ = api
    fake.hang["user/get"] = 0.5
    users = WecomUsers(engine, wecom_settings)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(users.resolve("u2"))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert results == [True, True]
    assert fake.hits["user/get"] == 1
