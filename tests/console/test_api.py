"""The JSON API (/api/v1; TestClient, both databases): 401 without credentials, 403 for the wrong role,
bearer tokens without CSRF, cookie sessions with X-CSRF-Token, and every route the pages have."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from console.auth import create_token
from core.clock import utcnow
from core.db import unit_of_work
from core.outbox import DrainCounts, drain
from core.settings import Settings
from exports.models import Volume
from feedback.models import Feedback, InboundMessage
from lookups.models import LookupRequest
from server.app import create_app
from server.demo.fill import fill_demo
from tests.support.console_helpers import (
    add_users,
    last_week,
    local_today,
    login,
    lowest_lunch,
    pending_lookup,
    sealed_volume,
)
from tests.support.fake_wechat import FakeWeChat


@pytest.fixture
def app_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    add_users(engine)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def token_for(engine: Engine, username: str) -> dict[str, str]:
    with unit_of_work(engine) as s:
        return {"Authorization": f"Bearer {create_token(s, username=username, name='test')}"}


@pytest.fixture
def tokens(app_client: TestClient, engine: Engine) -> dict[str, dict[str, str]]:
    """Bearer headers per user."""
    return {u: token_for(engine, u) for u in ("admin", "canteen", "reception", "archivist")}


@pytest.fixture
def demo(session: Session, settings: Settings, demo_clock: None) -> None:
    """The demo (as `houqin demo` fills it) on the fixed demo clock."""
    fill_demo(session, settings=settings, count=300, seed=7, today=local_today(settings))
    session.commit()
    session.close()


GETS = {  # path: roles allowed (admin always)
    "/api/v1/feedback": {"canteen", "reception"},
    "/api/v1/dashboard": {"canteen", "reception"},
    "/api/v1/meetings": {"reception"},
    "/api/v1/volumes": {"archivist"},
    "/api/v1/lookups": {"archivist"},
    "/api/v1/register": {"archivist"},
    "/api/v1/me": {"canteen", "reception", "archivist"},
}


def test_no_credentials_is_401_everywhere(app_client: TestClient) -> None:
    for path in GETS:
        assert app_client.get(path).status_code == 401, path
    assert (
        app_client.get("/api/v1/feedback", headers={"Authorization": "Bearer hq_not-a-token"}).status_code
        == 401
    )
    for path in (
        "/api/v1/feedback/1/actions/close",
        "/api/v1/feedback/bulk",
        "/api/v1/meetings",
        "/api/v1/volumes/X/receive",
        "/api/v1/lookups/CY2026-0001/decision",
    ):
        assert app_client.post(path, json={}).status_code == 401, path


@pytest.mark.parametrize("username", ["canteen", "reception", "archivist", "admin"])
def test_each_role_is_refused_on_the_others_routes(
    app_client: TestClient, tokens: dict[str, dict[str, str]], username: str
) -> None:
    h = tokens[username]
    for path, allowed in GETS.items():
        expected = 200 if username == "admin" or username in allowed else 403
        assert app_client.get(path, headers=h).status_code == expected, (username, path)
    writes = {
        "/api/v1/feedback/1/actions/reply": {"canteen", "reception"},
        "/api/v1/feedback/bulk": {"canteen", "reception"},
        "/api/v1/meetings": {"reception"},
        "/api/v1/volumes/X/receive": {"archivist"},
        "/api/v1/lookups/CY2026-0001/decision": {"archivist"},
    }
    for path, allowed in writes.items():
        r = app_client.post(path, json={}, headers=h)
        if username == "admin" or username in allowed:
            assert r.status_code != 403, (username, path)
        else:
            assert r.status_code == 403, (username, path, r.status_code)


def test_openapi_documents_the_api(app_client: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    assert app_client.get("/openapi.json").status_code == 401  # admins only (issue 11)
    assert app_client.get("/docs", headers=tokens["canteen"]).status_code == 403
    spec = app_client.get("/openapi.json", headers=tokens["admin"]).json()
    for path in (
        "/api/v1/feedback",
        "/api/v1/feedback/{feedback_id}",
        "/api/v1/feedback/{feedback_id}/actions/{action}",
        "/api/v1/feedback/bulk",
        "/api/v1/dashboard",
        "/api/v1/meetings",
        "/api/v1/volumes",
        "/api/v1/volumes/{code}/receive",
        "/api/v1/lookups",
        "/api/v1/lookups/{register_no}/decision",
    ):
        assert path in spec["paths"], path
    assert not any(p.startswith("/console") for p in spec["paths"])
    assert {
        "FeedbackOut",
        "FeedbackDetail",
        "DashboardOut",
        "MeetingOut",
        "VolumeOut",
        "ReceiveOut",
        "LookupOut",
    } <= set(spec["components"]["schemas"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert app_client.get("/docs", headers=tokens["admin"]).status_code == 200


# --- feedback ------------------------------------------------------------------------------------------


def test_inbox_filters_and_channels(
    app_client: TestClient, tokens: dict[str, dict[str, str]], engine: Engine, settings: Settings, demo: None
) -> None:
    monday, sunday = last_week(settings)
    r = app_client.get(
        "/api/v1/feedback",
        headers=tokens["canteen"],
        params={"start": str(monday), "end": str(sunday), "meal": "lunch", "sort": "low", "limit": 5},
    )
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] >= len(page["items"]) > 0
    first = page["items"][0]
    with Session(engine) as s:
        assert first["score"] == lowest_lunch(s, monday, sunday)
    assert all(
        i["meal"] == "lunch" and i["meal_label"] == "午餐" and i["channel"] == "canteen"
        for i in page["items"]
    )
    assert all(monday <= date.fromisoformat(i["service_date"]) <= sunday for i in page["items"])
    assert [i["score"] for i in page["items"]] == sorted(i["score"] for i in page["items"])

    everything = app_client.get("/api/v1/feedback", headers=tokens["admin"], params={"limit": 500}).json()
    meetings_only = app_client.get(
        "/api/v1/feedback", headers=tokens["reception"], params={"limit": 500}
    ).json()
    canteen_only = app_client.get("/api/v1/feedback", headers=tokens["canteen"], params={"limit": 500}).json()
    assert meetings_only["total"] + canteen_only["total"] == everything["total"] == 300
    assert {i["channel"] for i in meetings_only["items"]} == {"meeting"}
    assert all(i["meeting"] and i["meeting_code"] and i["meal"] is None for i in meetings_only["items"])
    unscored = app_client.get("/api/v1/feedback", headers=tokens["admin"], params={"score": "none"}).json()
    assert unscored["total"] > 0 and all(i["score"] is None for i in unscored["items"])
    assert (
        app_client.get("/api/v1/feedback", headers=tokens["admin"], params={"score": "7"}).status_code == 422
    )
    first = app_client.get("/api/v1/feedback", headers=tokens["admin"], params={"limit": 10}).json()
    paged = app_client.get(
        "/api/v1/feedback", headers=tokens["admin"], params={"limit": 10, "cursor": first["next_cursor"]}
    ).json()
    assert paged["total"] == 300 and [i["id"] for i in paged["items"]] == [
        i["id"] for i in everything["items"][10:20]
    ]

    canteen_id = canteen_only["items"][0]["id"]
    assert app_client.get(f"/api/v1/feedback/{canteen_id}", headers=tokens["reception"]).status_code == 404
    detail = app_client.get(f"/api/v1/feedback/{canteen_id}", headers=tokens["canteen"]).json()
    assert detail["pseudonym"].startswith("用户") and "sender" not in detail
    assert isinstance(detail["events"], list) and detail["reply_window"]["deliverable"] is False


@pytest.mark.usefixtures("demo_clock")
def test_actions_by_bearer_token_reach_the_diner(
    api_settings: Settings, engine: Engine, fake: tuple[FakeWeChat, str]
) -> None:
    api, _ = fake
    add_users(engine)
    with unit_of_work(engine) as s:
        fill_demo(s, settings=api_settings, count=200, seed=11, today=local_today(api_settings))
    with TestClient(create_app(api_settings, engine=engine)) as client:
        h = token_for(engine, "canteen")
        items = client.get(
            "/api/v1/feedback", headers=h, params={"status": "new", "sort": "low", "limit": 1}
        ).json()["items"]
        fb = items[0]
        with unit_of_work(engine) as s:
            sender = s.get(Feedback, fb["id"]).sender  # type: ignore[union-attr]
            s.add(
                InboundMessage(
                    dedupe_key="t:1", sender=sender, msg_type="text", created_at=utcnow(), raw_xml="<xml/>"
                )
            )
        base = f"/api/v1/feedback/{fb['id']}/actions"
        r = client.post(f"{base}/acknowledge", headers=h)
        assert r.status_code == 200 and r.json()["feedback"]["status"] == "acknowledged"
        r = client.post(f"{base}/reply", headers=h, json={"text": "已转厨房，谢谢您。"})
        assert r.status_code == 200 and r.json()["message"] == "回复已记录，已加入发送队列（客服消息）"
        assert client.post(f"{base}/reply", headers=h, json={"text": "  "}).status_code == 422
        r = client.post(
            f"{base}/rectification",
            headers=h,
            json={"measure": "加强口味把关", "owner": "王厨师长", "deadline": str(local_today(api_settings))},
        )
        assert r.status_code == 200 and r.json()["feedback"]["status"] == "rectifying"
        assert client.post(f"{base}/rectification", headers=h, json={"measure": ""}).status_code == 422
        assert client.post(f"{base}/resolve", headers=h).json()["feedback"]["status"] == "resolved"
        assert client.post(f"{base}/close", headers=h).json()["feedback"]["status"] == "closed"
        assert client.post(f"{base}/archive", headers=h).status_code == 422  # not an action
        detail = client.get(f"/api/v1/feedback/{fb['id']}", headers=h).json()
        assert [e["action"] for e in detail["events"]][-5:] == [
            "acknowledged",
            "replied",
            "rectification",
            "resolved",
            "closed",
        ]
        assert all(e["actor"] == "李经理" for e in detail["events"][-5:])
        assert detail["reply_window"]["deliverable"] is True
    assert drain(engine, settings=api_settings) == DrainCounts(sent=1)
    [sent] = api.named("custom_send")
    assert sent["touser"] == sender and "已转厨房，谢谢您。" in sent["text"]["content"]


def test_bulk_and_archived_feedback(
    app_client: TestClient, tokens: dict[str, dict[str, str]], engine: Engine, settings: Settings, demo: None
) -> None:
    h = tokens["canteen"]
    new = app_client.get("/api/v1/feedback", headers=h, params={"status": "new", "limit": 500}).json()[
        "items"
    ]
    meeting_new = app_client.get(
        "/api/v1/feedback", headers=tokens["reception"], params={"status": "new"}
    ).json()["items"]
    ids = [i["id"] for i in new[:3]] + [i["id"] for i in meeting_new[:1]]
    r = app_client.post("/api/v1/feedback/bulk", headers=h, json={"ids": ids, "action": "acknowledge"})
    assert r.status_code == 200 and r.json() == {"changed": 3}  # the meeting feedback is not the canteen's
    assert (
        app_client.post("/api/v1/feedback/bulk", headers=h, json={"ids": ids, "action": "delete"}).status_code
        == 422
    )
    with unit_of_work(engine) as s:
        s.execute(update(Feedback).where(col(Feedback.id) == ids[0]).values(volume_id=999))
    r = app_client.post(f"/api/v1/feedback/{ids[0]}/actions/close", headers=h)
    assert r.status_code == 409 and "已归档" in r.json()["detail"]
    assert app_client.post("/api/v1/feedback/999999/actions/close", headers=h).status_code == 404


def test_dashboard(
    app_client: TestClient, tokens: dict[str, dict[str, str]], settings: Settings, demo: None
) -> None:
    d = app_client.get("/api/v1/dashboard", headers=tokens["canteen"]).json()
    assert date.fromisoformat(d["end"]) == local_today(settings)
    assert len(d["by_day"]) == 30 and d["overall"]["n"] == sum(g["n"] for g in d["by_day"])
    assert d["by_meeting"] == [] and {g["label"] for g in d["by_meal"]} <= {"早餐", "午餐", "晚餐"}
    assert 0 <= d["overall"]["csat"] <= 100 and d["words"] and {"word", "n"} <= set(d["words"][0])
    m = app_client.get(
        "/api/v1/dashboard",
        headers=tokens["reception"],
        params={"start": str(local_today(settings) - timedelta(days=60))},
    ).json()
    assert m["by_site"] == [] and m["by_meeting"]
    assert (
        app_client.get(
            "/api/v1/dashboard",
            headers=tokens["canteen"],
            params={"start": "2026-12-01", "end": "2026-11-01"},
        ).status_code
        == 422
    )


# --- session cookies and CSRF ---------------------------------------------------------------------------


def test_cookie_sessions_need_the_csrf_header_and_bearer_tokens_do_not(
    app_client: TestClient, tokens: dict[str, dict[str, str]], engine: Engine, settings: Settings
) -> None:
    body = {"code": "HY1", "title": "座谈会", "starts_on": "2026-11-26", "ends_on": "2026-11-26"}
    assert login(app_client, "reception").status_code == 303
    me = app_client.get("/api/v1/me").json()
    assert me["role"] == "reception_manager" and me["display_name"] == "赵会务" and me["csrf_token"]
    assert app_client.post("/api/v1/meetings", json=body).status_code == 403
    assert (
        app_client.post("/api/v1/meetings", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    )
    r = app_client.post("/api/v1/meetings", json=body, headers={"X-CSRF-Token": me["csrf_token"]})
    assert r.status_code == 201, r.text
    app_client.cookies.clear()
    r = app_client.post("/api/v1/meetings", json={**body, "code": "HY2"}, headers=tokens["reception"])
    assert r.status_code == 201
    assert app_client.get("/api/v1/me", headers=tokens["reception"]).json()["csrf_token"] is None
    with unit_of_work(engine) as s:  # a revoked token is no token
        from console.models import ApiToken

        s.execute(update(ApiToken).values(revoked=True))
    assert app_client.get("/api/v1/meetings", headers=tokens["reception"]).status_code == 401


# --- meetings --------------------------------------------------------------------------------------------


def test_meetings(app_client: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    h = tokens["reception"]
    body = {
        "code": "hy2026b",
        "title": "公共机构节能工作推进会",
        "starts_on": "2026-12-01",
        "ends_on": "2026-12-02",
        "venue": "第一会议室",
        "organiser": "节能处",
    }
    r = app_client.post("/api/v1/meetings", headers=h, json=body)
    assert r.status_code == 201
    m = r.json()
    assert (m["code"], m["feedback_count"], m["mean_score"], m["qr_url"]) == ("HY2026B", 0, None, None)
    assert app_client.post("/api/v1/meetings", headers=h, json=body).status_code == 409
    assert app_client.post("/api/v1/meetings", headers=h, json={**body, "code": "HY 1"}).status_code == 422
    assert (
        app_client.post(
            "/api/v1/meetings", headers=h, json={**body, "code": "HY3", "ends_on": "2026-11-01"}
        ).status_code
        == 422
    )
    r = app_client.put(
        "/api/v1/meetings/hy2026b", headers=h, json={**body, "title": "节能推进会", "venue": "二号楼"}
    )
    assert r.status_code == 200 and (r.json()["title"], r.json()["venue"], r.json()["code"]) == (
        "节能推进会",
        "二号楼",
        "HY2026B",
    )
    assert app_client.put("/api/v1/meetings/NOPE", headers=h, json=body).status_code == 404
    [listed] = app_client.get("/api/v1/meetings", headers=h).json()
    assert listed["title"] == "节能推进会"
    png = app_client.get(listed["poster_url"], headers=h)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(png.content)) as img:
        assert img.size == (1240, 1754)


# --- volumes and lookups ---------------------------------------------------------------------------------


def test_volumes_receive_and_history(
    app_client: TestClient, tokens: dict[str, dict[str, str]], engine: Engine, settings: Settings
) -> None:
    h = tokens["archivist"]
    good = sealed_volume(engine, settings, period="2026-09")
    bad = sealed_volume(engine, settings, period="2026-10")
    with Session(engine) as s:
        vol = s.execute(select(Volume).where(col(Volume.archival_code) == bad)).scalar_one()
    (settings.data_dir / vol.file_name).write_bytes(b"not a workbook")
    listed = {v["archival_code"]: v for v in app_client.get("/api/v1/volumes", headers=h).json()}
    assert (
        listed[good]["status"] == "sealed"
        and listed[good]["item_count"] == 12
        and listed[good]["received_by"] is None
    )
    xlsx = app_client.get(listed[good]["download_url"], headers=h)
    assert (
        xlsx.status_code == 200
        and load_workbook(io.BytesIO(xlsx.content), read_only=True).sheetnames[0] == "案卷封面"
    )
    pdf = app_client.get(listed[good]["pdf_url"], headers=h)
    assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"
    assert app_client.get(listed[good]["pdf_url"], headers=tokens["canteen"]).status_code == 403

    r = app_client.post(f"/api/v1/volumes/{good}/receive", headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["received"] is True and out["problems"] == []
    assert out["volume"]["status"] == "received" and out["volume"]["received_by"] == "王档案"
    again = app_client.post(f"/api/v1/volumes/{good}/receive", headers=h)
    assert again.status_code == 409 and "already received by 王档案" in again.json()["problems"][0]

    refused = app_client.post(f"/api/v1/volumes/{bad}/receive", headers=h)
    assert refused.status_code == 409
    assert refused.json()["received"] is False and refused.json()["volume"]["status"] == "sealed"
    assert any("电子文件" in p for p in refused.json()["problems"])
    history = app_client.get(f"/api/v1/volumes/{bad}", headers=h).json()
    latest = history["events"][0]
    assert (latest["event_type"], latest["outcome"]) == ("receipt", "fail")
    assert history["seal"] and history["content_sha256"]
    assert app_client.post("/api/v1/volumes/J001-WS·2026-D10-CYF-0099/receive", headers=h).status_code == 404


def test_lookups_decided_by_api(api_settings: Settings, engine: Engine, fake: tuple[FakeWeChat, str]) -> None:
    api, _ = fake
    add_users(engine)
    code = sealed_volume(engine, api_settings)
    first = pending_lookup(engine, api_settings, code)
    second = pending_lookup(engine, api_settings, code, openid="o_wu_0002")
    with TestClient(create_app(api_settings, engine=engine)) as client:
        h = token_for(engine, "archivist")
        pending = client.get("/api/v1/lookups", headers=h).json()
        assert {p["register_no"] for p in pending} == {first, second}
        assert all(p["decision"] == "pending" and p["decision_label"] == "待审批" for p in pending)
        url = f"/api/v1/lookups/{first}/decision"
        r = client.post(url, headers=h, json={"decision": "approve", "reason": ""})
        assert (
            r.status_code == 200 and r.json()["decision"] == "approved" and r.json()["approver"] == "王档案"
        )
        assert r.json()["access_expires_at"] is not None
        assert client.post(url, headers=h, json={"decision": "reject", "reason": "x"}).status_code == 409
        url2 = f"/api/v1/lookups/{second.lower()}/decision"
        assert client.post(url2, headers=h, json={"decision": "reject"}).status_code == 422
        assert client.post(url2, headers=h, json={"decision": "maybe"}).status_code == 422
        assert (
            client.post(url2, headers=h, json={"decision": "reject", "reason": "不符合查阅范围"}).json()[
                "decision"
            ]
            == "rejected"
        )
        assert (
            client.post(
                "/api/v1/lookups/CY2000-0001/decision", headers=h, json={"decision": "approve"}
            ).status_code
            == 404
        )
        assert client.get("/api/v1/lookups", headers=h).json() == []
        decided = client.get("/api/v1/lookups", headers=h, params={"status": "decided"}).json()
        assert {d["register_no"] for d in decided} == {first, second}
        year = int(first[2:6])
        register = client.get("/api/v1/register", headers=h, params={"year": year}).json()
        assert [r["register_no"] for r in register] == [first, second]
        exported = client.post("/api/v1/register/export", headers=h, params={"year": year})
        assert exported.status_code == 200 and exported.content[:2] == b"PK"
    with Session(engine) as s:
        assert (
            s.execute(
                select(col(LookupRequest.decision)).where(col(LookupRequest.register_no) == first)
            ).scalar_one()
            == "approved"
        )
    assert drain(engine, settings=api_settings) == DrainCounts(sent=2)
    sent: dict[str, Any] = {m["touser"]: m["text"]["content"] for m in api.named("custom_send")}
    assert "/access/" in sent["o_zhang"] and "不符合查阅范围" in sent["o_wu_0002"]
