"""Archive lookups: roster and binding, 查档 by chat (WeCom and Official Account), 查阅 registered and
approved by an archivist, signed expiring links, the hash-chained register and its export."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import select, text, update
from sqlmodel import Session, col

from core.clock import utcnow
from core.db import unit_of_work
from core.models import Outbox
from exports.models import Volume
from exports.seal import compile_locked
from feedback.models import Feedback, Person
from lookups import identity, register, service
from lookups import texts as t
from lookups.models import AccessLog, LookupRequest, RegisterEntry
from server.app import create_app
from tests.conftest import make_settings
from tests.support.fake_wechat import FakeWeChat
from tests.support.servers import serve
from tests.support.volume_data import fill_period
from tests.support.wechat_peer import WeChatPeer, cdata, reply_text, text_xml

WECOM_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


def roster(
    tmp_path: Path, rows: list[list[str]], header: tuple[str, ...] = ("工号", "姓名", "部门", "角色")
) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.append(list(header))
    for r in rows:
        ws.append(r)
    path = tmp_path / "roster.xlsx"
    wb.save(path)
    return path


def bind_with_code(s: Session, *, openid: str, staff_no: str, name: str) -> Person:
    """Bind as the person would: a code issued from the console, then 绑定 with it."""
    _, code, _ = identity.issue_bind_code(s, staff_no=staff_no, issued_by="console:archivist")
    return identity.bind(s, openid=openid, staff_no=staff_no, name=name, code=code)


@pytest.fixture
def archive(engine, settings):  # type: ignore[no-untyped-def]
    """An archived month: 红烧肉 and 米饭 comments, compiled into one sealed volume."""
    fill_period(engine, n=12, comment="红烧肉偏咸，米饭有点硬")
    fill_period(engine, n=6, comment="空调太冷", sender_prefix="o_air")
    code = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
    return code


@pytest.fixture
def staff(engine, tmp_path):  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as s:
        identity.import_roster(
            s, path=roster(tmp_path, [["A001", "张三", "办公室", ""], ["A002", "王档案", "档案室", "档案员"]])
        )
        bind_with_code(s, openid="o_zhang", staff_no="A001", name="张三")
        bind_with_code(s, openid="o_wang", staff_no="A002", name="王档案")


# --- roster and binding --------------------------------------------------------------------------------


def test_roster_import_and_bad_rows_named(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as s:
        result = identity.import_roster(
            s, path=roster(tmp_path, [["A001", "张三", "办公室", ""], ["A002", "王档案", "档案室", "档案员"]])
        )
    assert (result.added, result.updated) == (2, 0)
    with Session(engine) as s:
        wang = s.execute(select(Person).where(col(Person.staff_no) == "A002")).scalar_one()
        assert wang.roles == "staff,archivist" and wang.department == "档案室"
    for rows, header, where in (
        ([["A003", "", "x", ""]], ("工号", "姓名", "部门", "角色"), "第 2 行"),
        ([["A003", "李四", "x", ""], ["A003", "李五", "x", ""]], ("工号", "姓名", "部门", "角色"), "第 3 行"),
        ([["A003", "李四", "x", "厨师长"]], ("工号", "姓名", "部门", "角色"), "第 2 行"),
        ([["A003", "李四"]], ("工号", "姓名"), "第 1 行"),
    ):
        with unit_of_work(engine) as s, pytest.raises(identity.RosterError, match=where):
            identity.import_roster(s, path=roster(tmp_path, rows, header))
    with Session(engine) as s:  # a bad sheet changed nothing
        assert s.execute(select(Person).where(col(Person.staff_no) == "A003")).first() is None


def test_binding(engine, staff) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as s:
        with pytest.raises(identity.BindError, match="没有工号"):
            identity.bind(s, openid="o_x", staff_no="A001", name="李四", code="X")
        with pytest.raises(identity.BindError, match="已绑定其他"):
            identity.bind(s, openid="o_x", staff_no="A001", name="张三", code="X")
        assert identity.staff_for(s, app="mp", sender="o_zhang") is not None
        assert identity.staff_for(s, app="mp", sender="o_stranger") is None


# --- 查档 and 查阅 over the webhook --------------------------------------------------------------------------


@pytest.fixture
def client(settings, engine):  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def say(client, text_: str, sender: str) -> str:  # type: ignore[no-untyped-def]
    peer = WeChatPeer()
    return reply_text(
        peer, client.post("/wechat", params=(p := peer.safe(text_xml(text_, sender=sender)))[0], content=p[1])
    )


def test_stranger_is_told_to_bind(client, archive) -> None:  # type: ignore[no-untyped-def]
    assert say(client, "查档 红烧肉", "o_stranger") == t.NOT_STAFF
    assert say(client, "查阅 " + archive + " 看看", "o_stranger") == t.NOT_STAFF


def test_bind_by_chat_then_search(client, engine, archive, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as s:
        identity.import_roster(s, path=roster(tmp_path, [["A009", "赵六", "后勤处", ""]]))
        _, code, _ = identity.issue_bind_code(s, staff_no="A009", issued_by="console:archivist")
    assert "绑定成功" in say(client, f"绑定 A009 赵六 {code}", "o_zhao")
    reply = say(client, "查档 米饭", "o_zhao")
    assert "共找到 12 条" in reply  # the 6 空调 items do not match
    hits = [line.split()[1] for line in reply.splitlines() if line[:1].isdigit()]
    assert len(hits) == 5 and all(h.startswith(f"{archive}/") for h in hits)  # at most five, with their 档号
    page2 = say(client, "更多", "o_zhao")
    assert "第 6–10 条" in page2
    page3 = say(client, "更多", "o_zhao")
    assert "第 11–12 条" in page3 and "已是最后一页" in page3
    assert "共找到 6 条" in say(client, "查档 空调", "o_zhao")


def test_request_approve_link_expiry(client, engine, settings, archive, staff) -> None:  # type: ignore[no-untyped-def]
    reply = say(client, f"查阅 {archive.replace('·', '.')} 整改复核", "o_zhang")
    assert "已登记查阅申请 CY" in reply
    no = reply.split("已登记查阅申请 ")[1].split("：")[0]
    assert "待审批" in say(client, "我的查阅", "o_zhang")
    assert say(client, f"审批 {no} 同意", "o_zhang") == t.DECIDE_FORBIDDEN
    assert say(client, f"审批 {no} 同意", "o_wang") == t.DECIDE_OK.format(status="同意", no=no)
    assert "已同意（有效至" in say(client, "我的查阅", "o_zhang")
    with Session(engine) as s:
        notice = s.execute(select(Outbox).where(col(Outbox.to_user) == "o_zhang")).scalar_one()
    assert notice.app == "mp" and no in notice.payload
    link = notice.payload.split("前打开：", 1)[1].strip()
    assert link.startswith(settings.public_url + "/access/")
    token = link.rsplit("/access/", 1)[1]
    page = client.get(f"/access/{token}")
    assert page.status_code == 200 and "红烧肉偏咸" in page.text and no in page.text
    download = client.get(f"/access/{token}/download")
    assert download.status_code == 200 and download.content[:2] == b"PK"
    tampered = client.get(f"/access/{token[:-2]}xx")
    assert tampered.status_code == 403 and t.LINK_INVALID in tampered.text
    with unit_of_work(engine) as s:  # time passes: the access window closes
        s.execute(update(LookupRequest).values(access_expires_at=utcnow() - timedelta(minutes=1)))
    expired = client.get(f"/access/{token}")
    assert expired.status_code == 410 and t.LINK_EXPIRED in expired.text
    with Session(engine) as s:
        outcomes = [a.outcome for a in s.execute(select(AccessLog).order_by(col(AccessLog.id))).scalars()]
        assert outcomes == ["served", "served", "expired"]  # a badly signed token writes no row
        assert s.execute(select(LookupRequest)).scalar_one().accesses == 2
    assert "不能重复审批" in say(client, f"审批 {no} 驳回", "o_wang")


def test_classified_volume_is_refused_over_chat(client, engine, archive, staff) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as s:
        s.execute(update(Volume).values(classification="秘密"))
    assert say(client, f"查阅 {archive} 查看", "o_zhang") == t.REQUEST_CLASSIFIED.format(level="秘密")


def test_unknown_code_and_rejection(client, engine, archive, staff) -> None:  # type: ignore[no-untyped-def]
    assert "不存在" in say(client, "查阅 J001-WS·2026-D10-CYF-9999 查看", "o_zhang")
    reply = say(client, f"查阅 {archive}/0003 核对", "o_zhang")
    no = reply.split("已登记查阅申请 ")[1].split("：")[0]
    say(client, f"审批 {no} 驳回 目的不明确", "o_wang")
    with Session(engine) as s:
        notice = s.execute(select(Outbox).where(col(Outbox.to_user) == "o_zhang")).scalar_one()
        assert "未获同意" in notice.payload and "目的不明确" in notice.payload


# --- the register -------------------------------------------------------------------------------------------


def _two_requests(engine, settings, archive) -> list[str]:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as s:
        zhang = identity.staff_for(s, app="mp", sender="o_zhang")
        wang = identity.staff_for(s, app="mp", sender="o_wang")
        assert zhang and wang
        a = service.request_lookup(
            s, requester=zhang, code=archive, purpose="整改复核", channel="mp", settings=settings
        )
        b = service.request_lookup(
            s, requester=zhang, code=f"{archive}/0002", purpose="核对", channel="mp", settings=settings
        )
        service.decide(
            s, register_no=a.register_no, approve=True, approver=wang, reason="", settings=settings
        )
        return [a.register_no, b.register_no]


def test_register_verifies_and_catches_edits(engine, settings, archive, staff) -> None:  # type: ignore[no-untyped-def]
    _two_requests(engine, settings, archive)
    with Session(engine) as s:
        report = register.verify_register(s)
    assert report.ok and report.entries == 3 and report.requests == 2
    with unit_of_work(engine) as s:  # someone edits a register row directly in the database
        s.execute(update(LookupRequest).where(col(LookupRequest.id) == 2).values(purpose="随便看看"))
    with Session(engine) as s:
        report = register.verify_register(s)
    assert not report.ok and any("edited" in p for p in report.problems)


def test_register_catches_edited_and_deleted_entries(engine, settings, archive, staff) -> None:  # type: ignore[no-untyped-def]
    _two_requests(engine, settings, archive)
    with unit_of_work(engine) as s:
        s.execute(
            text("UPDATE register_entry SET payload = replace(payload, '整改复核', '随便') WHERE seq = 1")
        )
    with Session(engine) as s:
        assert any("altered" in p for p in register.verify_register(s).problems)
    with unit_of_work(engine) as s:
        s.execute(text("DELETE FROM register_entry WHERE seq = 2"))
    with Session(engine) as s:
        problems = register.verify_register(s).problems
    assert any("missing" in p for p in problems)


def test_register_export(engine, settings, archive, staff, tmp_path) -> None:  # type: ignore[no-untyped-def]
    nos = _two_requests(engine, settings, archive)
    year = int(nos[0][2:6])
    with unit_of_work(engine) as s:
        n = register.export_register(s, year=year, settings=settings, path=tmp_path / "reg.xlsx")
    assert n == 2
    ws = load_workbook(tmp_path / "reg.xlsx", read_only=True)["查阅登记簿"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][:3] == ("登记号", "登记时间", "查阅人\n部门") and [r[0] for r in rows[2:]] == nos
    assert rows[2][7].startswith("已同意\n王档案\n") and rows[3][7] == "待审批"
    assert rows[2][4] == "在线查阅\n公众号" and rows[2][8].startswith("有效期至\n")
    assert rows[1][-2:] == ("利用效果", "说明") and len(rows[1]) == len(t.REGISTER_PRINT_HEADERS)
    with Session(engine) as s:
        assert register.verify_register(s).ok  # the export itself is an entry in the chain
        assert (
            s.execute(select(RegisterEntry).order_by(col(RegisterEntry.seq).desc())).scalars().first().kind
            == "export"
        )  # type: ignore[union-attr]


# --- WeCom: identity from WeCom's user API, search over /wecom -------------------------------------------


def test_wecom_staff_searches_with_identity_from_the_user_api(db_url, tmp_path, engine) -> None:  # type: ignore[no-untyped-def]
    fake = FakeWeChat(users={"zhangsan": {"name": "张三", "department": [3], "main_department": 3}})
    with serve(fake.app()) as api:
        settings = make_settings(
            db_url,
            tmp_path / "var",
            wecom_corpid="ww_corp",
            wecom_token="wtoken",
            wecom_aes_key=WECOM_KEY,
            wecom_secret="wsecret",
            wecom_agentid="1000002",
            wecom_api_base=api,
        )
        fill_period(engine, n=5, comment="红烧肉偏咸")
        archive = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
        peer = WeChatPeer(token="wtoken", aes_key=WECOM_KEY, app_id="ww_corp")
        with TestClient(create_app(settings, engine=engine)) as c:
            xml = (
                f"<xml><ToUserName>{cdata('ww_corp')}</ToUserName><FromUserName>{cdata('zhangsan')}</FromUserName>"
                f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{cdata('text')}</MsgType>"
                f"<Content>{cdata('查档 红烧肉')}</Content><MsgId>77123</MsgId><AgentID>1000002</AgentID></xml>"
            )
            params, body = peer.safe(xml)
            r = c.post(
                "/wecom",
                params={k: v for k, v in params.items() if k in ("timestamp", "nonce", "msg_signature")},
                content=body,
            )
            reply = reply_text(peer, r)
    assert f"{archive}/0001" in reply and "共找到 5 条" in reply
    assert fake.named("wecom_user") == [{"userid": "zhangsan"}]
    with Session(engine) as s:
        person = s.execute(select(Person).where(col(Person.wecom_userid) == "zhangsan")).scalar_one()
        assert (person.name, person.department) == ("张三", "部门3")
        assert s.execute(select(Feedback).where(col(Feedback.sender) == "zhangsan")).first() is None


def test_cli_staff_import_verify_register_and_export(
    engine, db_url, settings, archive, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from core.settings import get_settings
    from server.cli import app

    monkeypatch.setenv("HOUQIN_DATABASE_URL", db_url)
    monkeypatch.setenv("HOUQIN_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        ok = runner.invoke(
            app,
            [
                "staff",
                "import",
                str(
                    roster(tmp_path, [["A001", "张三", "办公室", ""], ["A002", "王档案", "档案室", "档案员"]])
                ),
            ],
        )
        assert ok.exit_code == 0 and "新增 2" in ok.output
        bad = runner.invoke(app, ["staff", "import", str(roster(tmp_path, [["", "无名", "x", ""]]))])
        assert bad.exit_code == 2 and "第 2 行" in bad.output
        with unit_of_work(engine) as s:
            bind_with_code(s, openid="o_zhang", staff_no="A001", name="张三")
            bind_with_code(s, openid="o_wang", staff_no="A002", name="王档案")
        nos = _two_requests(engine, settings, archive)
        assert runner.invoke(app, ["verify", "--register"]).exit_code == 0
        out = tmp_path / "reg.xlsx"
        exported = runner.invoke(app, ["register", "export", "--year", nos[0][2:6], "--out", str(out)])
        assert exported.exit_code == 0 and out.is_file()
        with unit_of_work(engine) as s:
            s.execute(
                update(LookupRequest).where(col(LookupRequest.register_no) == nos[0]).values(approver="冒名")
            )
        caught = runner.invoke(app, ["verify", "--register"])
        assert caught.exit_code == 1 and nos[0] in caught.output
    finally:
        get_settings.cache_clear()
