"""Accounts and credentials with a lifecycle (issue 11, finding 10; both databases): the login limit is an
atomic counter (a burst of concurrent guesses on PostgreSQL gets no more than the limit through), with a
progressive delay and a fixed window strangers cannot extend; long names are counted whole; demo
passwords are refused in production; a password rule; `houqin user passwd|disable|list` and
`houqin token list|revoke` with expiry."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from console import auth
from console.auth import MAX_FAILURES, AuthError, create_token, create_user
from console.passwords import DEMO_PASSWORD
from core.clock import utcnow
from core.db import unit_of_work
from core.settings import Settings
from server.app import create_app
from server.cli import app as cli
from tests.support.console_helpers import PASSWORD, add_users

WRONG = "用户名或密码不正确。"


def attempt(engine: Engine, username: str, password: str, **kw: object) -> str:
    """One login as the page makes it (its own session, committed either way): 'ok' or the refusal."""
    with Session(engine, expire_on_commit=False) as s:
        try:
            auth.login(s, username=username, password=password, client="203.0.113.9", **kw)  # type: ignore[arg-type]
            return "ok"
        except AuthError as exc:
            return str(exc)
        finally:
            s.commit()


def test_a_concurrent_burst_gets_no_more_than_the_limit_through(engine: Engine, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("the race is PostgreSQL's: SQLite serialises writers")
    add_users(engine)
    results: list[str] = []
    start = threading.Barrier(21)

    def guess(password: str) -> None:
        start.wait()
        results.append(attempt(engine, "admin", password))

    threads = [threading.Thread(target=guess, args=(f"wrong-guess-{i}",)) for i in range(20)]
    threads.append(threading.Thread(target=guess, args=(PASSWORD,)))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    checked = [r for r in results if r in (WRONG, "ok")]  # the password was really checked
    assert len(results) == 21 and len(checked) <= MAX_FAILURES, results


def test_progressive_delay_and_a_window_strangers_cannot_extend(engine: Engine) -> None:
    add_users(engine)
    t0 = utcnow()
    assert attempt(engine, "admin", "wrong-1", now=t0) == WRONG
    assert attempt(engine, "admin", "wrong-2", now=t0) == WRONG
    assert attempt(engine, "admin", "wrong-3", now=t0) == WRONG
    assert "秒后再试" in attempt(engine, "admin", PASSWORD, now=t0)  # the delay after the third
    assert attempt(engine, "admin", "wrong-4", now=t0 + timedelta(seconds=2)) == WRONG
    assert attempt(engine, "admin", "wrong-5", now=t0 + timedelta(seconds=10)) == WRONG
    for minute in range(1, 15):  # a stranger keeps trying every minute: refused, and not counted on
        assert "次数过多" in attempt(engine, "admin", "wrong", now=t0 + timedelta(minutes=minute))
    later = t0 + auth.FAILURE_WINDOW + timedelta(seconds=1)
    assert attempt(engine, "admin", PASSWORD, now=later) == "ok"  # the window ends: the owner gets in


def test_a_name_over_60_characters_is_counted_as_itself(engine: Engine) -> None:
    long = "a" * 70
    t0 = utcnow()
    outcomes = [attempt(engine, long, "x", now=t0 + timedelta(seconds=10 * n)) for n in range(6)]
    assert outcomes[:5] == [WRONG] * 5 and "次数过多" in outcomes[5]


def test_demo_password_refused_in_production_and_the_password_rule(engine: Engine) -> None:
    with unit_of_work(engine) as s:
        create_user(s, username="demo", password=DEMO_PASSWORD, role="admin", _demo=True)
        for bad, why in (
            ("short1", "至少"),
            ("1234567890", "常见"),
            ("qwertyuiop", "常见"),
            ("xyzadmin99", "用户名"),
        ):
            with pytest.raises(ValueError, match=why):
                create_user(s, username="admin", password=bad, role="admin")
    assert attempt(engine, "demo", DEMO_PASSWORD) == "ok"  # development
    assert "生产环境" in attempt(engine, "demo", DEMO_PASSWORD, production=True)


def test_user_and_token_lifecycle_on_the_cli(
    engine: Engine, settings: Settings, cli_env: dict[str, str]
) -> None:
    add_users(engine)
    runner = CliRunner()
    with unit_of_work(engine) as s:
        token = create_token(s, username="canteen", name="report-script")
        old = create_token(s, username="admin", name="old", days=1)
    with TestClient(create_app(settings, engine=engine)) as client:

        def me(t: str) -> int:
            return client.get("/api/v1/me", headers={"Authorization": f"Bearer {t}"}).status_code

        assert me(token) == 200 and me(old) == 200
        listed = runner.invoke(cli, ["token", "list"], env=cli_env)
        assert listed.exit_code == 0 and "report-script" in listed.output and token not in listed.output
        token_id = next(line.split("\t")[0] for line in listed.output.splitlines() if "report-script" in line)
        assert runner.invoke(cli, ["token", "revoke", token_id], env=cli_env).exit_code == 0
        assert me(token) == 401
        with time_machine.travel(utcnow() + timedelta(days=2)):
            assert me(old) == 401  # expired
        bad = runner.invoke(cli, ["user", "passwd", "canteen", "--password", "12345678"], env=cli_env)
        assert bad.exit_code == 2 and "至少" in bad.output
        ok = runner.invoke(
            cli, ["user", "passwd", "canteen", "--password", "new-long-passphrase"], env=cli_env
        )
        assert ok.exit_code == 0
        assert attempt(engine, "canteen", PASSWORD) == WRONG
        assert attempt(engine, "canteen", "new-long-passphrase") == "ok"
        with unit_of_work(engine) as s:
            admin_token = create_token(s, username="reception", name="x")
        assert runner.invoke(cli, ["user", "disable", "reception"], env=cli_env).exit_code == 0
        assert me(admin_token) == 401 and attempt(engine, "reception", PASSWORD) == WRONG
        users = runner.invoke(cli, ["user", "list"], env=cli_env).output
        assert "reception\treception_manager\t赵会务\tdisabled" in users and "canteen\t" in users
