"""Fixtures: every test gets its own migrated database, on SQLite and on PostgreSQL (the same suite runs twice).

SQLite: a migrated template file copied per test. PostgreSQL: a migrated template database cloned per
test with CREATE DATABASE … TEMPLATE. When PostgreSQL is unreachable its half of the suite is skipped,
unless HOUQIN_REQUIRE_POSTGRES=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
import time_machine
from sqlalchemy import Engine
from sqlmodel import Session

from core.db import make_engine
from core.migrate import upgrade
from core.settings import Settings, get_settings
from tests.support.fake_wechat import FakeWeChat
from tests.support.servers import serve

PG_ADMIN = os.environ.get("HOUQIN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TEST_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TEST_APPID = "wx_test_appid_0001"
TEST_TOKEN = "houqin-test-token"


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:
        return str(exc).splitlines()[0]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", ["sqlite", "postgresql"], scope="session")


@pytest.fixture(scope="session")
def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template(_worker: str) -> Iterator[str]:
    problem = _pg_available()
    if problem:
        if os.environ.get("HOUQIN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    name = f"houqin_tmpl_{_worker}_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade(_pg_url(name))
    yield name
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{dbname}"


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for this test."""
    if backend == "sqlite":
        path = tmp_path / "houqin.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"houqin_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield _pg_url(name)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(db_url: str, data_dir: Path, **overrides: object) -> Settings:
    """Test settings: safe mode on, known token/key/appid, the given database."""
    values: dict[str, object] = {
        "env": "test",
        "database_url": db_url,
        "data_dir": data_dir,
        "wechat_token": TEST_TOKEN,
        "wechat_aes_key": TEST_AES_KEY,
        "wechat_appid": TEST_APPID,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path / "var")


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings.database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> Iterator[dict[str, str]]:
    """Environment for CLI tests: only the variables the test sets (no stray HOUQIN_*, no .env) and fresh
    cached settings; pass it as CliRunner.invoke(..., env=cli_env)."""
    for key in list(os.environ):
        if key.startswith("HOUQIN_"):
            monkeypatch.delenv(key)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    get_settings.cache_clear()
    try:
        yield {"HOUQIN_DATABASE_URL": db_url, "HOUQIN_DATA_DIR": str(tmp_path / "data")}
    finally:
        get_settings.cache_clear()


@pytest.fixture
def fake() -> Iterator[tuple[FakeWeChat, str]]:
    """The fake WeChat API on loopback, and its base URL (outbound WeChat calls point there)."""
    api = FakeWeChat()
    with serve(api.app()) as url:
        yield api, url


# HOUQIN_TEST_NOW=2027-03-15T10:00:00+08:00 runs every test with the clock moved to that instant (and ticking):
# the suite must pass on any date (issue 11). Tests that need a clock of their own travel inside it.
_TEST_NOW = os.environ.get("HOUQIN_TEST_NOW", "")


@pytest.fixture(autouse=True)
def _test_now() -> Iterator[None]:
    if not _TEST_NOW:
        yield
        return
    with time_machine.travel(datetime.fromisoformat(_TEST_NOW), tick=True):
        yield
