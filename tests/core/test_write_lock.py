"""Issue 11: nothing slow inside SQLite's write lock. argon2 runs outside any transaction, and read-only
units of work begin deferred, so a login burst or a console page never stalls the webhook's ingest."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from sqlalchemy import Engine, text

from console import auth
from core.db import read_unit, unit_of_work


def _writable_now(engine: Engine) -> bool:
    """Whether another connection can take the write lock at once (busy_timeout 0)."""
    conn = sqlite3.connect(str(engine.url.database), timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


@pytest.fixture
def sqlite_engine(engine: Engine) -> Engine:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single write lock")
    return engine


def test_argon2_runs_outside_the_write_lock(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with unit_of_work(sqlite_engine) as s:
        auth.create_user(s, username="wang", password="correct horse 9", role="admin")
    seen: list[bool] = []
    real = auth._hasher

    class Watching:
        def verify(self, hashed: str, password: str) -> Any:
            seen.append(_writable_now(sqlite_engine))  # ingest could write while the hash is computed
            return real.verify(hashed, password)

    monkeypatch.setattr(auth, "_hasher", Watching())
    with unit_of_work(sqlite_engine) as s:
        auth.login(s, username="wang", password="correct horse 9", client="t")
    with unit_of_work(sqlite_engine) as s, pytest.raises(auth.AuthError):
        auth.login(s, username="nobody", password="guess", client="t")
    assert seen == [True, True]


def test_a_read_unit_takes_no_write_lock(sqlite_engine: Engine) -> None:
    with read_unit(sqlite_engine) as s:
        s.execute(text("SELECT count(*) FROM feedback")).scalar_one()
        assert _writable_now(sqlite_engine)
    with unit_of_work(sqlite_engine) as s:
        s.execute(text("SELECT count(*) FROM feedback")).scalar_one()
        assert not _writable_now(sqlite_engine)  # writes still begin IMMEDIATE
