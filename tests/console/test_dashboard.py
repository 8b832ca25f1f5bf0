"""The dashboard's per-aspect stars (issue 15's form; issue 13): `GET /api/v1/dashboard` carries average and
n per aspect, overall and per canteen, and the page shows them per canteen; the role's channel only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from console.auth import create_token
from core.db import unit_of_work
from core.settings import Settings
from feedback.models import Feedback, FeedbackAspect, Site
from server.app import create_app
from server.demo.fill import fill_demo
from tests.support.console_helpers import add_users, local_today, login


@pytest.fixture
def client(settings: Settings, engine: Engine, demo_clock: None) -> Iterator[TestClient]:
    with Session(engine) as s:
        fill_demo(s, settings=settings, count=120, seed=9, today=local_today(settings))
        s.commit()
        canteen = list(
            s.execute(
                select(col(Feedback.id), col(Feedback.site_id)).where(
                    col(Feedback.channel) == "canteen",
                    col(Feedback.misuse).is_(False),
                    col(Feedback.service_date) >= local_today(settings) - timedelta(days=29),
                    col(Feedback.service_date) <= local_today(settings),
                )
            ).all()
        )
        assert len(canteen) >= 12
        for k, (fid, _site) in enumerate(canteen[:10]):
            s.add(FeedbackAspect(feedback_id=fid, aspect="口味", score=2 + k % 4))
            s.add(FeedbackAspect(feedback_id=fid, aspect="卫生", score=5))
        s.commit()
    add_users(engine)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def _expected(engine: Engine) -> dict[str, dict[str, tuple[int, float]]]:
    """Per canteen name, per aspect: (n, mean), counted by hand from the rows."""
    out: dict[str, dict[str, list[int]]] = {}
    with Session(engine) as s:
        names = {i: n for i, n in s.execute(select(col(Site.id), col(Site.name))).all()}
        for site, aspect, score in s.execute(
            select(col(Feedback.site_id), col(FeedbackAspect.aspect), col(FeedbackAspect.score)).join(
                Feedback, col(Feedback.id) == col(FeedbackAspect.feedback_id)
            )
        ).all():
            out.setdefault(names[site], {}).setdefault(aspect, []).append(score)
    return {
        place: {a: (len(v), round(sum(v) / len(v), 2)) for a, v in aspects.items()}
        for place, aspects in out.items()
    }


def test_dashboard_api_and_page_show_the_aspects(client: TestClient, engine: Engine) -> None:
    with unit_of_work(engine) as s:
        canteen = {"Authorization": f"Bearer {create_token(s, username='canteen', name='t')}"}
        reception = {"Authorization": f"Bearer {create_token(s, username='reception', name='t')}"}
    d = client.get("/api/v1/dashboard", headers=canteen).json()["aspects"]
    expected = _expected(engine)
    got = {p["label"]: {a["label"]: (a["n"], a["mean"]) for a in p["aspects"]} for p in d["by_site"]}
    assert got == expected and d["by_meeting"] == []
    assert [a["label"] for a in d["overall"]] == ["口味", "卫生"]
    assert {a["label"]: a["n"] for a in d["overall"]} == {"口味": 10, "卫生": 10}
    # a reception manager sees meetings only: no canteen's aspects
    r = client.get("/api/v1/dashboard", headers=reception).json()["aspects"]
    assert r == {"overall": [], "by_site": [], "by_meeting": []}
    login(client, "canteen")
    page = client.get("/console/dashboard").text
    assert 'id="aspects"' in page and "分项平均分" in page
    for place, aspects in expected.items():
        assert place in page
        for name, (n, mean) in aspects.items():
            assert f'{name} {mean}分 <span class="muted">n={n}</span>' in page
