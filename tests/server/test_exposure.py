"""What the app port shows (issue 11, finding 13; both databases): /metrics only to loopback or its
token, the spec and /docs only to admins (off in production), no access-log row for a badly signed
token, and the login form's CSRF cookie Secure in production."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from console.auth import create_token
from core.db import unit_of_work
from lookups.models import AccessLog
from server.app import create_app
from tests.conftest import make_settings
from tests.support.console_helpers import add_users, csrf_of, login


def test_metrics_need_loopback_or_the_token(settings, engine: Engine, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings, engine=engine)
    with TestClient(app, client=("198.51.100.7", 4000)) as world:
        assert world.get("/metrics").status_code == 403
    with TestClient(app, client=("127.0.0.1", 4000)) as local:
        assert local.get("/metrics").status_code == 200
        assert (
            local.get("/metrics", headers={"x-forwarded-for": "198.51.100.7"}).status_code == 403
        )  # via nginx
    tokened = create_app(make_settings(db_url, tmp_path / "v2", metrics_token="scrape-secret"), engine=engine)
    with TestClient(tokened, client=("198.51.100.7", 4000)) as world:
        assert world.get("/metrics").status_code == 403
        assert world.get("/metrics", headers={"authorization": "Bearer scrape-secret"}).status_code == 200


def test_docs_for_admins_only_and_off_in_production(
    settings, engine: Engine, db_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    add_users(engine)
    with unit_of_work(engine) as s:
        admin = {"Authorization": f"Bearer {create_token(s, username='admin', name='t')}"}
    with TestClient(create_app(settings, engine=engine)) as c:
        assert c.get("/docs").status_code == 401 and c.get("/openapi.json").status_code == 401
        assert c.get("/docs", headers=admin).status_code == 200
    prod = make_settings(
        db_url,
        tmp_path / "prod",
        env="production",
        pseudonym_secret="p" * 32,
        link_secret="l" * 32,
        wechat_token="t" * 16,
    )
    with TestClient(create_app(prod, engine=engine)) as c:
        assert c.get("/docs", headers=admin).status_code == 404
        page = c.get("/console/login")
        cookie = page.headers["set-cookie"]
        assert "houqin_login_csrf" in cookie.lower() or "csrf" in cookie.lower()
        assert "secure" in cookie.lower()


def test_badly_signed_access_links_write_no_rows(settings, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings, engine=engine)) as c:
        for n in range(50):
            assert c.get(f"/access/forged-token-{n}").status_code == 403
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(AccessLog)).scalar_one() == 0


def test_console_pages_answer_bad_input_with_a_4xx(settings, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    """Issue 11, finding 12, on the pages (the API is fuzzed by tests/console/test_schemathesis.py)."""
    add_users(engine)
    with TestClient(create_app(settings, engine=engine)) as c:
        login(c, "admin")
        for path in (
            "/console/feedback/99999999999999999999999",
            "/console/feedback?site=99999999999999999999",
            "/console/feedback?score=²",
            "/console/feedback?meeting=²",
            "/console/dashboard?start=2026-02-30",
            "/console/dashboard?start=0001-01-01&end=2026-11-01",
            "/console/media/99999999999999999999",
        ):
            r = c.get(path, follow_redirects=False)
            assert 400 <= r.status_code < 500, (path, r.status_code)
        csrf = csrf_of(c, "/console/feedback")
        r = c.post(
            "/console/feedback/bulk",
            data={"csrf": csrf, "action": "drop", "ids": "1"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and "err=1" in r.headers["location"]
        r = c.post(
            "/console/feedback/bulk", data={"csrf": csrf, "action": "close", "ids": "99999999999999999999"}
        )
        assert 400 <= r.status_code < 500
