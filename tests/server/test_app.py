"""The app around the webhook: health, the simulator (real signed, encrypted XML through /wechat), production."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from core.db import make_engine
from feedback.models import Feedback, FeedbackMedia, Site
from server.app import create_app
from tests.conftest import make_settings
from tests.support.fake_wechat import PNG_1PX


def test_healthz(settings, engine) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings, engine=engine)) as c:
        body = c.get("/healthz").json()
        assert (body["status"], body["database"], body["spool"]["depth"]) == ("ok", "ok", 0)
    dead = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1")
    with TestClient(create_app(settings, engine=dead)) as c:
        r = c.get("/healthz")
        assert r.status_code == 503 and r.json()["status"] == "degraded"


def test_simulator_round_trip_in_safe_mode(settings, engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        s.add(Site(code="yst", name="机关一食堂"))
        s.commit()
    with TestClient(create_app(settings, engine=engine)) as c:
        assert "微信模拟器" in c.get("/simulator").text
        scenes = c.get("/simulator/scenes").json()["scenes"]
        assert {"scene": "canteen:yst", "label": "机关一食堂（餐桌码）"} in scenes
        r = c.post("/simulator/send", json={"kind": "text", "content": "反馈 午餐 4 红烧肉偏咸"}).json()
        assert r["status"] == 200 and r["mode"] == "safe" and "FK" in r["reply"]
        assert "<Encrypt>" not in r["request_xml"] and "红烧肉偏咸" in r["request_xml"]
        photo = "data:image/png;base64," + base64.b64encode(PNG_1PX).decode()
        r = c.post("/simulator/send", json={"kind": "image", "photo": photo}).json()
        assert "照片已收到" in r["reply"]
        media_path = r["request_xml"].split("<PicUrl><![CDATA[")[1].split("]]>")[0]
        assert c.get(media_path).content == PNG_1PX
    with Session(engine) as s:
        fb = s.execute(select(Feedback)).scalar_one()
        assert (fb.score, fb.meal, fb.comment) == (4, "lunch", "红烧肉偏咸")
        assert s.execute(select(FeedbackMedia)).scalar_one().feedback_id == fb.id


def test_simulator_is_off_in_production(db_url, tmp_path, engine) -> None:  # type: ignore[no-untyped-def]
    s = make_settings(db_url, tmp_path, env="production", pseudonym_secret="p", link_secret="l")
    with TestClient(create_app(s, engine=engine)) as c:
        assert c.get("/simulator").status_code == 404
        assert c.post("/simulator/send", json={"kind": "text", "content": "5"}).status_code == 404
