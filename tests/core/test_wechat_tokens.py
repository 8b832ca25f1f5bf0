"""Access tokens shared by workers, the stable token, one refresher, one refresh per stale answer, timeouts
(issue 11 finding 5). WeChat is the fake API on loopback; the shared store is the test's own database
(or the local Redis)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, text
from wechatpy.exceptions import WeChatClientException

from core.db import unit_of_work
from core.settings import Settings
from core.wechat_api import official_account, wecom
from core.wechat_tokens import DatabaseShared, RedisShared, TokenKeeper
from tests.conftest import TEST_APPID, make_settings
from tests.support.fake_wechat import FakeWeChat, running

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("HOUQIN_TEST_REDIS", "redis://127.0.0.1:6379/15")


@pytest.fixture
def api() -> Iterator[tuple[FakeWeChat, str]]:
    with running({f"u{i}": {"name": f"成员{i}", "department": [2]} for i in range(5)}) as served:
        yield served


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path, api: tuple[FakeWeChat, str]) -> Settings:
    return make_settings(
        db_url,
        tmp_path / "var",
        wechat_secret="oa-secret",
        wechat_api_base=api[1],
        wecom_corpid="ww_corp",
        wecom_secret="w-secret",
        wecom_api_base=api[1],
    )


def workers(settings: Settings, n: int = 2) -> list[TokenKeeper]:
    """Keepers with nothing in common but the database: as N worker processes see it."""
    return [TokenKeeper(DatabaseShared(settings)) for _ in range(n)]


def test_new_wecom_members_cost_one_gettoken(api_settings: Settings, api: tuple[FakeWeChat, str]) -> None:
    fake, _ = api
    names = [wecom(api_settings).user.get(f"u{i}")["name"] for i in range(5)]  # a client per look-up
    assert names == [f"成员{i}" for i in range(5)]
    assert fake.hits["user/get"] == 5
    assert fake.hits["gettoken"] == 1


def test_two_processes_share_one_stable_token(
    api_settings: Settings, api: tuple[FakeWeChat, str], db_url: str, tmp_path: Path
) -> None:
    fake, url = api
    fake.hang["stable_token"] = 1.0  # slow enough that both processes want a token at once
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOUQIN_")},
        "PYTHONPATH": str(ROOT),
        "HOUQIN_DATABASE_URL": db_url,
        "HOUQIN_DATA_DIR": str(tmp_path / "var"),
        "HOUQIN_WECHAT_APPID": TEST_APPID,
        "HOUQIN_WECHAT_SECRET": "oa-secret",
        "HOUQIN_WECHAT_API_BASE": url,
    }
    code = (
        "from core.settings import Settings; from core.wechat_api import official_account; "
        "print(official_account(Settings(_env_file=None)).access_token)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    tokens = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert tokens == ["STABLE1", "STABLE1"]
    assert fake.hits["stable_token"] == 1 and fake.hits["token"] == 0
    [body] = fake.named("stable_token")
    assert body == {
        "grant_type": "client_credential",
        "appid": TEST_APPID,
        "secret": "oa-secret",
        "force_refresh": False,
    }


def test_concurrent_workers_fetch_once(api_settings: Settings, api: tuple[FakeWeChat, str]) -> None:
    fake, _ = api
    fake.hang["stable_token"] = 0.5
    keepers = workers(api_settings, 4)
    start = threading.Barrier(len(keepers))
    got: list[str] = []

    def one(keeper: TokenKeeper) -> None:
        start.wait()
        got.append(official_account(api_settings, keeper=keeper).access_token)

    threads = [threading.Thread(target=one, args=(k,)) for k in keepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert got == ["STABLE1"] * 4
    assert fake.hits["stable_token"] == 1


def test_workers_share_through_redis(api_settings: Settings, api: tuple[FakeWeChat, str]) -> None:
    fake, _ = api
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Redis unreachable: {exc}")
    prefix = f"houqin-test-{uuid.uuid4().hex[:8]}"
    a, b = (TokenKeeper(RedisShared(REDIS_URL, prefix=prefix)) for _ in range(2))
    try:
        assert official_account(api_settings, keeper=a).access_token == "STABLE1"
        assert official_account(api_settings, keeper=b).access_token == "STABLE1"
        assert fake.hits["stable_token"] == 1
        # a stale answer to one worker: it refreshes; the other then takes the new token from Redis
        fake.invalid_tokens.add("STABLE1")
        official_account(api_settings, keeper=a).message.send_text("o_1", "您好")
        b_client = official_account(api_settings, keeper=b)
        b_client.message.send_text("o_1", "您好")
        assert fake.hits["stable_token"] == 2
        assert [c for c, _ in fake.calls].count("custom_send_stale") == 2
    finally:
        for key in a.shared.redis.scan_iter(f"{prefix}:*"):  # type: ignore[attr-defined]
            a.shared.redis.delete(key)  # type: ignore[attr-defined]


def test_a_stale_token_is_refreshed_once(api_settings: Settings, api: tuple[FakeWeChat, str]) -> None:
    fake, _ = api
    fake.invalid_tokens.add("STABLE1")  # the first token WeChat hands out goes bad before it is used
    official_account(api_settings).message.send_text("o_1", "您好")
    assert fake.hits["stable_token"] == 2
    assert [c for c, _ in fake.calls if c.startswith("custom_send")] == ["custom_send_stale", "custom_send"]


def test_two_workers_with_one_stale_token_refresh_once(
    api_settings: Settings, api: tuple[FakeWeChat, str]
) -> None:
    fake, _ = api
    a, b = workers(api_settings)
    assert official_account(api_settings, keeper=a).access_token == "STABLE1"
    assert official_account(api_settings, keeper=b).access_token == "STABLE1"  # from the database
    fake.invalid_tokens.add("STABLE1")
    for keeper in (a, b):
        official_account(api_settings, keeper=keeper).message.send_text("o_1", "您好")
    assert fake.hits["stable_token"] == 2  # the second worker took the first one's new token
    assert len(fake.named("custom_send")) == 2


def test_a_token_stale_again_is_not_a_refresh_storm(
    api_settings: Settings, api: tuple[FakeWeChat, str]
) -> None:
    fake, _ = api
    fake.invalid_tokens.update(f"TOKEN{i}" for i in range(1, 500))  # WeCom rejects every token
    with pytest.raises(WeChatClientException) as caught:
        wecom(api_settings).user.get("u1")
    assert caught.value.errcode == 40001
    assert fake.hits["gettoken"] == 2  # one fetch, one refresh; then the error
    assert fake.hits["user/get"] == 2


@pytest.mark.parametrize("endpoint", ["gettoken", "user/get"])
def test_a_hanging_wecom_api_times_out_within_the_budget(
    api_settings: Settings, api: tuple[FakeWeChat, str], endpoint: str
) -> None:
    fake, _ = api
    fake.hang[endpoint] = 10
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        wecom(api_settings, budget_s=1.0).user.get("u1")
    assert time.monotonic() - started < 1.8


def test_a_stored_token_is_read_while_another_holds_the_write_lock(
    api_settings: Settings, api: tuple[FakeWeChat, str], engine: Engine
) -> None:
    fake, _ = api
    a, b = workers(api_settings)
    official_account(api_settings, keeper=a).access_token  # noqa: B018 — stored in the database
    with unit_of_work(engine) as session:  # a writer holds the lock (SQLite: BEGIN IMMEDIATE)
        session.execute(text("UPDATE counter SET value = value WHERE name = 'nothing'"))
        started = time.monotonic()
        assert official_account(api_settings, keeper=b).access_token == "STABLE1"
        assert time.monotonic() - started < 0.5
    assert fake.hits["stable_token"] == 1
