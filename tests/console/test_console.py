"""The console pages (TestClient, both databases): logins and their rate limit, roles, CSRF, the canteen
manager's loop (filter, reply through the outbox, rectify, close, dashboard), alerts to the on-duty
manager, meetings and posters, and the archivist's desk (receive a volume, decide a lookup, the register)."""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from console.models import LoginAttempt
from core.clock import utcnow
from core.db import unit_of_work
from core.models import Outbox
from core.outbox import DrainCounts, drain
from core.settings import Settings
from exports.models import FixityEvent, Volume
from feedback.models import Feedback, FeedbackEvent, InboundMessage, Meeting, Person
from lookups.models import LookupRequest
from lookups.register import verify_register
from server.app import create_app
from server.demo.fill import fill_demo
from tests.support.console_helpers import (
    PASSWORD,
    USERS,
    add_users,
    csrf_of,
    last_week,
    local_today,
    login,
    lowest_lunch,
    pending_lookup,
    sealed_volume,
)
from tests.support.fake_wechat import FakeWeChat
from tests.support.wechat_peer import WeChatPeer, reply_text, text_xml


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    add_users(engine)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


@pytest.fixture
def api_client(api_settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The app with outbound WeChat calls going to the fake API."""
    add_users(engine)
    with TestClient(create_app(api_settings, engine=engine)) as c:
        yield c


def signed_in(client: TestClient, username: str) -> TestClient:
    r = login(client, username)
    assert r.status_code == 303 and "err=1" not in r.headers["location"], r.headers.get("location")
    return client


def follow(client: TestClient, r: Any) -> Any:
    assert r.status_code == 303, (r.status_code, r.text[:500])
    return client.get(r.headers["location"])


def count(engine: Engine, model: Any, *where: Any) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


# --- logging in ------------------------------------------------------------------------------------------


def test_login_lands_on_the_roles_home_and_logout_ends_the_session(client: TestClient) -> None:
    r = login(client, "canteen")
    assert r.status_code == 303 and r.headers["location"] == "/console/feedback"
    page = client.get("/console/feedback")
    assert page.status_code == 200 and "李经理（食堂管理员）" in page.text
    token = csrf_of(client, "/console/feedback")
    r = client.post("/console/logout", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    again = client.get("/console/feedback", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/console/login"

    r = login(client, "archivist")
    assert r.headers["location"] == "/console/volumes"


def test_unknown_user_and_wrong_password_are_refused_alike(client: TestClient) -> None:
    for username, password in (("nobody", PASSWORD), ("canteen", "wrong-password")):
        r = login(client, username, password)
        assert r.status_code == 303 and "err=1" in r.headers["location"]
        assert "用户名或密码不正确" in client.get(r.headers["location"]).text
    assert client.get("/console/feedback", follow_redirects=False).status_code == 303


def test_sixth_attempt_is_refused_even_with_the_right_password_and_all_are_logged(
    client: TestClient, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.INFO, logger="houqin.console.auth"),
        time_machine.travel(utcnow(), tick=False) as clock,
    ):
        for _ in range(5):
            assert "err=1" in login(client, "canteen", "guess-guess").headers["location"]
            clock.shift(timedelta(seconds=5))  # past the progressive delay (issue 11): still counted
        r = login(client, "canteen", PASSWORD)
    assert "err=1" in r.headers["location"]
    assert "登录失败次数过多" in client.get(r.headers["location"]).text
    assert client.get("/console/feedback", follow_redirects=False).status_code == 303  # not signed in
    failed = [rec for rec in caplog.records if "login failed" in rec.getMessage()]
    limited = [rec for rec in caplog.records if "rate-limited" in rec.getMessage()]
    assert len(failed) == 5 and len(limited) == 1 and "'canteen'" in limited[0].getMessage()
    assert (
        count(engine, LoginAttempt, col(LoginAttempt.username) == "canteen", col(LoginAttempt.ok).is_(False))
        == 6
    )
    assert count(engine, LoginAttempt, col(LoginAttempt.ok).is_(True)) == 0


def test_login_form_without_its_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/console/login")
    r = client.post(
        "/console/login", data={"username": "canteen", "password": PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 403


# --- roles -----------------------------------------------------------------------------------------------


PAGES = {  # path: roles that may open it (admin always)
    "/console/feedback": {"canteen", "reception"},
    "/console/dashboard": {"canteen", "reception"},
    "/console/meetings": {"reception"},
    "/console/meetings/new": {"reception"},
    "/console/volumes": {"archivist"},
    "/console/lookups": {"archivist"},
    "/console/register": {"archivist"},
}


@pytest.mark.parametrize("username", ["canteen", "reception", "archivist", "admin"])
def test_each_role_is_refused_on_the_others_pages(client: TestClient, username: str) -> None:
    signed_in(client, username)
    for path, allowed in PAGES.items():
        r = client.get(path, follow_redirects=False)
        expected = 200 if username == "admin" or username in allowed else 403
        assert r.status_code == expected, (username, path, r.status_code)
    home = client.get("/console", follow_redirects=False)
    assert home.status_code == 303


def test_signed_out_pages_redirect_to_login(client: TestClient) -> None:
    for path in PAGES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/login", path


def test_navigation_shows_only_the_roles_pages(client: TestClient) -> None:
    canteen = signed_in(client, "canteen").get("/console/feedback").text
    assert (
        "/console/dashboard" in canteen
        and "/console/register" not in canteen
        and "/console/volumes" not in canteen
    )
    client.cookies.clear()
    archivist = signed_in(client, "archivist").get("/console/volumes").text
    assert (
        "/console/register" in archivist
        and "/console/lookups" in archivist
        and "/console/feedback" not in archivist
    )


@pytest.fixture
def demo(session: Session, settings: Settings, demo_clock: None) -> None:
    """The demo month (as `houqin demo` fills it) ending yesterday, on the fixed demo clock."""
    fill_demo(session, settings=settings, count=400, seed=2026, today=local_today(settings))
    session.commit()
    session.close()


def test_reception_manager_sees_only_meeting_feedback(client: TestClient, engine: Engine, demo: None) -> None:
    signed_in(client, "reception")
    with Session(engine) as s:
        canteen_fb = s.execute(
            select(Feedback).where(col(Feedback.channel) == "canteen").limit(1)
        ).scalar_one()
        meeting_refs = set(
            s.execute(select(col(Feedback.reference)).where(col(Feedback.channel) == "meeting")).scalars()
        )
    page = client.get("/console/feedback").text
    refs = set(re.findall(r"FK\d{8}-\d{4}", page))
    assert refs and refs <= meeting_refs
    assert f"共 {len(meeting_refs)} 条" in page
    assert client.get(f"/console/feedback/{canteen_fb.id}").status_code == 404
    token = csrf_of(client, "/console/feedback")
    r = client.post(f"/console/feedback/{canteen_fb.id}/acknowledge", data={"csrf": token})
    assert r.status_code == 404
    client.cookies.clear()
    signed_in(client, "canteen")
    page = client.get("/console/feedback").text
    assert not set(re.findall(r"FK\d{8}-\d{4}", page)) & meeting_refs


def test_archivist_cannot_reply_to_diners(client: TestClient, engine: Engine, demo: None) -> None:
    with Session(engine) as s:
        fb_id = s.execute(select(col(Feedback.id)).limit(1)).scalar_one()
    replies = count(engine, FeedbackEvent, col(FeedbackEvent.action) == "replied")
    signed_in(client, "archivist")
    token = csrf_of(client, "/console/volumes")
    r = client.post(f"/console/feedback/{fb_id}/reply", data={"csrf": token, "text": "你好"})
    assert r.status_code == 403
    assert client.get(f"/console/feedback/{fb_id}").status_code == 403
    assert count(engine, FeedbackEvent, col(FeedbackEvent.action) == "replied") == replies
    assert count(engine, Outbox) == 0


def test_canteen_manager_sees_no_lookup_register(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    code = sealed_volume(engine, settings)
    no = pending_lookup(engine, settings, code)
    signed_in(client, "canteen")
    for path in (
        "/console/register",
        "/console/lookups",
        "/console/volumes",
        f"/console/volumes/{code}/download",
    ):
        r = client.get(path)
        assert r.status_code == 403 and no not in r.text, path
    token = csrf_of(client, "/console/feedback")
    r = client.post(f"/console/lookups/{no}/decision", data={"csrf": token, "decision": "approve"})
    assert r.status_code == 403
    r = client.post("/console/register/export", data={"csrf": token, "year": "2026"})
    assert r.status_code == 403
    with Session(engine) as s:
        assert s.execute(select(col(LookupRequest.decision))).scalar_one() == "pending"


# --- CSRF ------------------------------------------------------------------------------------------------


def test_forms_without_their_csrf_token_are_refused(
    client: TestClient, engine: Engine, settings: Settings, demo: None
) -> None:
    code = sealed_volume(engine, settings, period="2026-01")
    no = pending_lookup(engine, settings, code)
    with Session(engine) as s:
        fb_id = s.execute(
            select(col(Feedback.id)).where(col(Feedback.channel) == "canteen").limit(1)
        ).scalar_one()
    signed_in(client, "admin")
    posts = [
        (f"/console/feedback/{fb_id}/reply", {"text": "你好"}),
        (f"/console/feedback/{fb_id}/close", {}),
        ("/console/feedback/bulk", {"ids": str(fb_id), "action": "close"}),
        (
            "/console/meetings",
            {"code": "HY9", "title": "会", "starts_on": "2026-11-01", "ends_on": "2026-11-01"},
        ),
        (f"/console/volumes/{code}/receive", {}),
        (f"/console/lookups/{no}/decision", {"decision": "approve"}),
        ("/console/register/export", {"year": "2026"}),
        ("/console/logout", {}),
    ]
    for path, data in posts:
        for token in (None, "forged-token"):
            body = dict(data) if token is None else {**data, "csrf": token}
            r = client.post(path, data=body, follow_redirects=False)
            assert r.status_code == 403, (path, token, r.status_code)
    with Session(engine) as s:
        assert (
            s.execute(
                select(func.count())
                .select_from(FeedbackEvent)
                .where(col(FeedbackEvent.feedback_id) == fb_id, col(FeedbackEvent.actor) == "系统管理员")
            ).scalar_one()
            == 0
        )
        assert (
            s.execute(select(col(Volume.status)).where(col(Volume.archival_code) == code)).scalar_one()
            == "sealed"
        )
        assert s.execute(select(col(LookupRequest.decision))).scalar_one() == "pending"
        assert (
            s.execute(
                select(func.count()).select_from(Meeting).where(col(Meeting.code) == "HY9")
            ).scalar_one()
            == 0
        )
    assert client.get("/console/feedback").status_code == 200  # still signed in


# --- the canteen manager's loop ----------------------------------------------------------------------------


def dashboard_numbers(client: TestClient) -> dict[str, Any]:
    r = client.get("/api/v1/dashboard")
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.mark.usefixtures("demo_clock")
def test_manager_closes_the_loop_on_last_weeks_lowest_lunch(
    api_client: TestClient, engine: Engine, api_settings: Settings, fake: tuple[FakeWeChat, str]
) -> None:
    api, _ = fake
    with Session(engine) as s:
        fill_demo(s, settings=api_settings, count=400, seed=2026, today=local_today(api_settings))
        s.commit()
    client = signed_in(api_client, "canteen")
    monday, sunday = last_week(api_settings)
    inbox = client.get(
        "/console/feedback",
        # a new one: the demo has handled some already, and a handled one takes no second rectification
        params={
            "start": str(monday),
            "end": str(sunday),
            "meal": "lunch",
            "sort": "low",
            "tab": "pending",
            "status": "new",
        },
    )
    assert inbox.status_code == 200
    first = re.search(r'<a href="/console/feedback/(\d+)">(FK\d{8}-\d{4})</a>', inbox.text)
    assert first, inbox.text[:2000]
    fb_id, reference = int(first.group(1)), first.group(2)
    with Session(engine) as s:
        fb = s.get(Feedback, fb_id)
        assert fb is not None and fb.reference == reference
        assert fb.meal == "lunch" and fb.channel == "canteen" and monday <= fb.service_date <= sunday
        assert fb.score == lowest_lunch(s, monday, sunday, open_only=True, status="new")
        diner, score = fb.sender, fb.score
        # the diner wrote to us just now: WeChat's 48-hour customer-service window is open
        s.add(
            InboundMessage(
                dedupe_key=f"test:{diner}",
                sender=diner,
                msg_type="text",
                created_at=utcnow(),
                received_at=utcnow(),
                raw_xml="<xml/>",
            )
        )
        s.commit()
    row = inbox.text[first.start() : inbox.text.index("</tr>", first.start())]
    assert f'data-label="评分">{score}</td>' in row and "午餐" in row

    replied = col(FeedbackEvent.action) == "replied"
    had_reply = count(engine, FeedbackEvent, col(FeedbackEvent.feedback_id) == fb_id, replied) > 0
    before = dashboard_numbers(client)
    # the demo reads like a working canteen: replies already, so nothing shows 0.0% or — on first view
    assert before["replied"] > 0 and before["first_reply_hours"] is not None

    detail = client.get(f"/console/feedback/{fb_id}")
    assert "可通过客服消息送达" in detail.text
    token = csrf_of(client, f"/console/feedback/{fb_id}")
    reply = "感谢您的反馈，已要求厨师减少用盐，欢迎再来品尝。"
    page = follow(
        client,
        client.post(
            f"/console/feedback/{fb_id}/reply", data={"csrf": token, "text": reply}, follow_redirects=False
        ),
    )
    assert "已加入发送队列" in page.text
    r = client.post(
        f"/console/feedback/{fb_id}/rectification",
        data={
            "csrf": token,
            "measure": "午餐菜品减盐两成",
            "owner": "王厨师长",
            "deadline": str(local_today(api_settings) + timedelta(days=3)),
            "progress": "已落实",
        },
        follow_redirects=False,
    )
    page = follow(client, r)
    assert "整改已记录" in page.text, (r.status_code, r.headers.get("location"))
    page = follow(
        client, client.post(f"/console/feedback/{fb_id}/close", data={"csrf": token}, follow_redirects=False)
    )
    assert "已办结" in page.text
    for shown in ("回复", reply, "整改", "措施：午餐菜品减盐两成；责任人：王厨师长", "办结", "李经理"):
        assert shown in page.text, shown

    with Session(engine) as s:
        fb = s.get(Feedback, fb_id)
        assert fb is not None and fb.status == "closed"
        actions = [
            e.action
            for e in s.execute(select(FeedbackEvent).where(col(FeedbackEvent.feedback_id) == fb_id)).scalars()
        ]
        assert actions[-3:] == ["replied", "rectification", "closed"]

    # the reply goes out through the outbox to that diner
    assert drain(engine, settings=api_settings) == DrainCounts(sent=1)
    [sent] = api.named("custom_send")
    assert sent["touser"] == diner and sent["msgtype"] == "text"
    assert reference in sent["text"]["content"] and reply in sent["text"]["content"]

    after = dashboard_numbers(client)
    assert after["replied"] == before["replied"] + (0 if had_reply else 1)
    assert after["response_rate"] >= before["response_rate"]
    assert after["first_reply_hours"] is not None and after["first_reply_hours"] > 0
    assert after["overall"]["n"] == before["overall"]["n"]
    html = client.get("/console/dashboard").text
    assert f"{after['response_rate']}%" in html and "首次回复中位时长" in html

    # closed and replied: the inbox filter for 已办结 finds it, and it is no alert any more
    closed = client.get(
        "/console/feedback",
        params={"start": str(monday), "end": str(sunday), "meal": "lunch", "status": "closed"},
    ).text
    assert reference in closed


def test_a_score_of_one_alerts_the_on_duty_manager_within_one_drain(
    api_client: TestClient, engine: Engine, api_settings: Settings, fake: tuple[FakeWeChat, str]
) -> None:
    api, _ = fake
    with unit_of_work(engine) as s:
        s.add(Person(openid="o_duty_li", name="李经理", roles="canteen_manager,on_duty"))
        s.add(Person(openid="o_off_duty", name="周经理", roles="canteen_manager"))
    peer = WeChatPeer()
    params, body = peer.safe(text_xml("反馈 午餐 1 米饭夹生，菜也凉了", sender="o_angry_diner"))
    answer = reply_text(peer, api_client.post("/wechat", params=params, content=body))
    ref = re.search(r"FK\d{8}-\d{4}", answer)
    assert ref, answer
    assert drain(engine, settings=api_settings) == DrainCounts(sent=1)
    [alert] = api.named("custom_send")
    assert alert["touser"] == "o_duty_li"
    content = alert["text"]["content"]
    assert (
        "反馈预警" in content
        and ref.group(0) in content
        and "低分（1分）" in content
        and "米饭夹生" in content
    )
    # and the console shows it as an alert until acknowledged
    signed_in(api_client, "canteen")
    inbox = api_client.get("/console/feedback").text
    assert ref.group(0) in inbox and "预警" in inbox
    # and its page shows what the diner sent, beside the handling trail
    fid = re.search(rf'href="/console/feedback/(\d+)">{ref.group(0)}', inbox)
    assert fid, inbox
    page = api_client.get(f"/console/feedback/{fid.group(1)}").text
    history = page.split("反馈人消息", 1)[1].split("处理记录", 1)[0]
    assert "文字" in history and "反馈 午餐 1 米饭夹生，菜也凉了" in history


# --- meetings ----------------------------------------------------------------------------------------------


# the QR's lifetime runs from "now": a fixed clock the day before the meeting keeps it alive on any date
@time_machine.travel(datetime(2026, 11, 25, 9, 0, tzinfo=UTC), tick=True)
def test_reception_manager_registers_edits_and_prints_a_meeting(
    api_client: TestClient, engine: Engine, fake: tuple[FakeWeChat, str]
) -> None:
    api, _ = fake
    client = signed_in(api_client, "reception")
    token = csrf_of(client, "/console/meetings/new")
    form = {
        "csrf": token,
        "code": "hy2026a",
        "title": "全市后勤工作会议",
        "starts_on": "2026-11-26",
        "ends_on": "2026-11-27",
        "venue": "三楼报告厅",
        "organiser": "办公室",
    }
    r = client.post("/console/meetings", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/meetings/HY2026A/poster")
    poster_page = client.get(r.headers["location"])
    assert (
        "全市后勤工作会议" in poster_page.text and "/console/meetings/HY2026A/poster.png" in poster_page.text
    )
    assert "window.print()" in poster_page.text

    again = client.post("/console/meetings", data=form)
    assert again.status_code == 422 and "已被使用" in again.text
    bad = client.post("/console/meetings", data={**form, "code": "HY2", "ends_on": "2026-11-25"})
    assert bad.status_code == 422 and "结束日期不能早于开始日期" in bad.text
    bad = client.post("/console/meetings", data={**form, "code": "会议一"})
    assert bad.status_code == 422 and "会议代码" in bad.text

    png = client.get("/console/meetings/HY2026A/poster.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(png.content)) as img:
        assert img.size == (1240, 1754)
    [qr] = api.named("qrcode")
    assert (
        qr["action_name"] == "QR_STR_SCENE" and qr["action_info"]["scene"]["scene_str"] == "meeting:HY2026A"
    )
    client.get("/console/meetings/HY2026A/poster.png")
    assert len(api.named("qrcode")) == 1  # the stored QR is reused while it lives

    edit = client.get("/console/meetings/HY2026A/edit")
    assert edit.status_code == 200 and 'value="三楼报告厅"' in edit.text
    r = client.post(
        "/console/meetings/HY2026A",
        data={**form, "title": "全市后勤工作会议（扩大）", "ends_on": "2026-11-28"},
        follow_redirects=False,
    )
    page = follow(client, r)
    assert "已保存会议 HY2026A" in page.text and "全市后勤工作会议（扩大）" in page.text
    with Session(engine) as s:
        m = s.execute(select(Meeting)).scalar_one()
        assert (m.code, str(m.ends_on), m.venue, m.qr_url) == (
            "HY2026A",
            "2026-11-28",
            "三楼报告厅",
            None,
        )  # new dates: new QR
    client.get("/console/meetings/HY2026A/poster.png")
    assert len(api.named("qrcode")) == 2


def test_without_credentials_the_poster_points_at_the_simulator(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    signed_in(client, "admin")
    token = csrf_of(client, "/console/meetings/new")
    r = client.post(
        "/console/meetings",
        data={
            "csrf": token,
            "code": "HY1",
            "title": "座谈会",
            "starts_on": "2026-11-26",
            "ends_on": "2026-11-26",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    png = client.get("/console/meetings/HY1/poster.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert (settings.data_dir / "posters" / "meeting-HY1.png").is_file()
    assert "HY1" in client.get("/console/meetings").text


# --- the archivist's desk -------------------------------------------------------------------------------------


def test_archivist_receives_a_volume_in_the_console(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    code = sealed_volume(engine, settings)
    signed_in(client, "archivist")
    listing = client.get("/console/volumes").text
    assert (
        code in listing
        and "已封卷" in listing
        and "核验并接收" in listing
        and 'data-label="卷内文件数">12</td>' in listing
    )
    xlsx = client.get(f"/console/volumes/{code}/download")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert code in xlsx.headers["content-disposition"] or "filename*" in xlsx.headers["content-disposition"]
    assert load_workbook(io.BytesIO(xlsx.content), read_only=True).sheetnames[0] == "案卷封面"
    assert f"/console/volumes/{code}/download.pdf" in client.get(f"/console/volumes/{code}").text
    pdf = client.get(f"/console/volumes/{code}/download.pdf")
    assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"
    assert pdf.headers["content-type"] == "application/pdf"
    with Session(engine) as s:
        sealed = s.execute(select(Volume).where(col(Volume.archival_code) == code)).scalar_one()
        assert hashlib.sha256(pdf.content).hexdigest() == sealed.pdf_sha256  # the sealed copy, byte for byte

    token = csrf_of(client, "/console/volumes")
    page = follow(
        client, client.post(f"/console/volumes/{code}/receive", data={"csrf": token}, follow_redirects=False)
    )
    assert "已接收，检查人：王档案" in page.text and "接收核验" in page.text and "通过" in page.text
    with Session(engine) as s:
        vol = s.execute(select(Volume).where(col(Volume.archival_code) == code)).scalar_one()
        assert vol.status == "received" and vol.received_by == "王档案" and vol.received_at is not None
        [event] = s.execute(
            select(FixityEvent).where(
                col(FixityEvent.archival_code) == code, col(FixityEvent.event_type) == "receipt"
            )
        ).scalars()
        assert (event.event_type, event.outcome, event.agent) == ("receipt", "pass", "王档案")
    listing = client.get("/console/volumes").text
    assert "已接收" in listing and "王档案" in listing

    again = follow(
        client, client.post(f"/console/volumes/{code}/receive", data={"csrf": token}, follow_redirects=False)
    )
    assert "不能重复接收" in again.text
    assert client.get("/console/volumes/J001-WS·2026-D10-CYF-0099").status_code == 404


def test_a_tampered_volume_is_refused_with_its_problems(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    code = sealed_volume(engine, settings)
    with Session(engine) as s:
        vol = s.execute(select(Volume).where(col(Volume.archival_code) == code)).scalar_one()
    with open(settings.data_dir / vol.file_name, "ab") as f:
        f.write(b"tampered")
    signed_in(client, "archivist")
    token = csrf_of(client, "/console/volumes")
    r = client.post(f"/console/volumes/{code}/receive", data={"csrf": token})
    assert r.status_code == 409
    assert "核验未通过" in r.text and "电子文件摘要与数据库不符" in r.text
    with Session(engine) as s:
        assert (
            s.execute(select(col(Volume.status)).where(col(Volume.archival_code) == code)).scalar_one()
            == "sealed"
        )
    history = client.get(f"/console/volumes/{code}").text
    assert "不通过" in history and "电子文件摘要与数据库不符" in history


def test_archivist_approves_and_rejects_lookups_and_requesters_are_notified(
    api_client: TestClient, engine: Engine, api_settings: Settings, fake: tuple[FakeWeChat, str]
) -> None:
    api, _ = fake
    code = sealed_volume(engine, api_settings)
    first = pending_lookup(engine, api_settings, code)
    second = pending_lookup(engine, api_settings, code, openid="o_wu_0002")
    client = signed_in(api_client, "archivist")
    page = client.get("/console/lookups").text
    assert first in page and second in page and "核对整改情况" in page and "张三" in page
    token = csrf_of(client, "/console/lookups")

    page = follow(
        client,
        client.post(
            f"/console/lookups/{first}/decision",
            data={"csrf": token, "decision": "approve", "reason": "仅限本人在线查阅"},
            follow_redirects=False,
        ),
    )
    assert f"已同意查阅申请 {first}，已通知申请人" in page.text
    nope = follow(
        client,
        client.post(
            f"/console/lookups/{second}/decision",
            data={"csrf": token, "decision": "reject"},
            follow_redirects=False,
        ),
    )
    assert "驳回查阅申请请填写理由" in nope.text
    follow(
        client,
        client.post(
            f"/console/lookups/{second}/decision",
            data={"csrf": token, "decision": "reject", "reason": "用途与档案无关"},
            follow_redirects=False,
        ),
    )
    twice = follow(
        client,
        client.post(
            f"/console/lookups/{first}/decision",
            data={"csrf": token, "decision": "reject", "reason": "x"},
            follow_redirects=False,
        ),
    )
    assert "不能重复审批" in twice.text

    with Session(engine) as s:
        rows = {r.register_no: r for r in s.execute(select(LookupRequest)).scalars()}
        assert (rows[first].decision, rows[first].approver, rows[first].conditions) == (
            "approved",
            "王档案",
            "仅限本人在线查阅",
        )
        assert rows[first].access_expires_at is not None
        assert (rows[second].decision, rows[second].conditions) == ("rejected", "用途与档案无关")
        assert verify_register(s).ok
    assert drain(engine, settings=api_settings) == DrainCounts(sent=2)
    sent = {m["touser"]: m["text"]["content"] for m in api.named("custom_send")}
    assert (
        f"您的查阅申请 {first}" in sent["o_zhang"]
        and "已同意" in sent["o_zhang"]
        and "/access/" in sent["o_zhang"]
    )
    assert "未获同意" in sent["o_wu_0002"] and "用途与档案无关" in sent["o_wu_0002"]
    link = re.search(r"https?://\S+/access/\S+", sent["o_zhang"])
    assert link
    opened = api_client.get("/access/" + link.group(0).split("/access/")[1])
    assert opened.status_code == 200 and code in opened.text

    register = client.get("/console/register", params={"year": rows[first].register_no[2:6]}).text
    assert first in register and second in register and "已同意" in register and "王档案" in register
    exported = client.post(
        "/console/register/export", data={"csrf": token, "year": rows[first].register_no[2:6]}
    )
    assert exported.status_code == 200 and exported.content[:2] == b"PK"
    ws = load_workbook(io.BytesIO(exported.content), read_only=True).active
    values = [c for row in ws.iter_rows(values_only=True) for c in row]
    assert first in values and second in values
    with Session(engine) as s:
        assert verify_register(s).ok  # the export is itself a register entry


def test_admin_sees_everything(client: TestClient, engine: Engine, settings: Settings) -> None:
    code = sealed_volume(engine, settings)
    signed_in(client, "admin")
    for path in (*PAGES, f"/console/volumes/{code}"):
        assert client.get(path).status_code == 200, path
    assert USERS["admin"][1] in client.get("/console/volumes").text
