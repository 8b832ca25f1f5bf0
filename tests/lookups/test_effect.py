"""利用效果反馈 (issue 14; both databases): after an approved lookup's link is first used, the requester is
asked through the outbox how it served; 「利用 申请号 1|2|3 [说明]」 over `/wechat` (real signed AES XML)
stores the answer on the 查阅登记簿 row, where verify replays it, the console shows it and the export
prints it. Also: 「利用率…」 stays a diner's words, and the window's minutes in replies are the setting."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlmodel import Session, col

from core.clock import utcnow
from core.db import unit_of_work
from core.models import Outbox
from feedback.models import Feedback, InboundMessage, Person
from lookups import effect, links, register, service
from lookups import texts as t
from lookups.models import LookupRequest
from server.app import create_app
from tests.lookups.test_lookups import archive, client, say, staff
from tests.support.console_helpers import add_users, login

__all__ = ["archive", "client", "staff"]  # fixtures


def _approved(client, engine, settings, code: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    no = say(client, f"查阅 {code} 整改复核", "o_zhang").split("已登记查阅申请 ")[1].split("：")[0]
    assert say(client, f"审批 {no} 同意", "o_wang") == t.DECIDE_OK.format(status="同意", no=no)
    with Session(engine) as s:
        req = s.execute(select(LookupRequest).where(col(LookupRequest.register_no) == no)).scalar_one()
        return no, links.access_link(settings, req).rsplit("/access/", 1)[1]


def _asks(engine, no: str) -> list[Outbox]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.execute(select(Outbox).where(col(Outbox.dedupe_key) == f"effect:{no}")).scalars())


def _row(engine, no: str) -> LookupRequest:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.execute(select(LookupRequest).where(col(LookupRequest.register_no) == no)).scalar_one()


def test_the_requester_is_asked_after_the_first_use_and_answers_by_chat(
    client, engine, settings, archive, staff, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    no, token = _approved(client, engine, settings, archive)
    # before the link is used: nothing to answer yet, and nobody asked
    assert say(client, f"利用 {no} 1", "o_zhang") == t.EFFECT_NOT_USED.format(no=no)
    assert _asks(engine, no) == []
    assert client.get(f"/access/{token}").status_code == 200
    [ask] = _asks(engine, no)
    req = _row(engine, no)
    assert (ask.app, ask.to_user) == (
        "mp",
        "o_zhang",
    )  # inside the 48-hour window: a customer-service message
    assert ask.payload == (
        f"您查阅的 {archive}「{req.title}」（申请号 {no}）对您的工作：1 解决问题 2 部分解决 3 未解决。"
        f"请回复「利用 {no} 1」，可附说明。"
    )
    assert req.effect_asked_via == t.EFFECT_VIA_CS and req.effect_asked_at is not None
    assert client.get(f"/access/{token}/download").status_code == 200
    assert len(_asks(engine, no)) == 1  # asked once, on the first use only

    # wrong number, not one's own, unknown request, no answer at all
    assert say(client, f"利用 {no} 5", "o_zhang") == t.EFFECT_BAD_CHOICE.format(no=no)
    assert say(client, f"利用 {no} 很有用", "o_zhang") == t.EFFECT_BAD_CHOICE.format(no=no)
    assert say(client, f"利用 {no} 1", "o_wang") == t.EFFECT_NOT_YOURS.format(no=no)
    assert say(client, f"利用 {no} 1", "o_stranger") == t.EFFECT_NOT_YOURS.format(no=no)
    assert say(client, "利用 CY2026-9999 1", "o_zhang") == t.DECIDE_UNKNOWN.format(no="CY2026-9999")
    assert say(client, "利用", "o_zhang") == t.EFFECT_USAGE
    assert _row(engine, no).effect is None

    # the answer as a word with a note, typed loosely: lower case, full-width comma
    typed = no.lower()
    reply = say(client, f"利用 {typed} 部分解决，只找到10月的记录", "o_zhang")
    assert reply == t.EFFECT_OK.format(no=no, label="部分解决", note="（说明：只找到10月的记录）")
    req = _row(engine, no)
    assert (req.effect, req.effect_note) == (2, "只找到10月的记录") and req.effect_at is not None
    assert say(client, f"利用 {no} 1", "o_zhang") == t.EFFECT_OK.format(no=no, label="解决问题", note="")
    req = _row(engine, no)
    assert (req.effect, req.effect_note) == (1, "")  # a later answer replaces it; the register keeps both
    with Session(engine) as s:
        report = register.verify_register(s)
    assert report.ok, report.problems

    # the export prints it in its own columns
    year = int(no[2:6])
    with unit_of_work(engine) as s:
        register.export_register(s, year=year, settings=settings, path=tmp_path / "reg.xlsx")
    rows = list(
        load_workbook(tmp_path / "reg.xlsx", read_only=True)["查阅登记簿"].iter_rows(values_only=True)
    )
    headers = rows[1]
    [mine] = [r for r in rows[2:] if r[0] == no]
    assert mine[headers.index("利用效果")] == "解决问题" and mine[headers.index("说明")] in ("", None)

    # someone edits the answer in the database: verify finds it
    with unit_of_work(engine) as s:
        s.execute(update(LookupRequest).where(col(LookupRequest.register_no) == no).values(effect=3))
    with Session(engine) as s:
        problems = register.verify_register(s).problems
    assert any(no in p and "effect" in p for p in problems), problems


def test_the_console_shows_the_answer(client, engine, settings, archive, staff) -> None:  # type: ignore[no-untyped-def]
    no, token = _approved(client, engine, settings, archive)
    client.get(f"/access/{token}")
    say(client, f"利用 {no} 3 没有找到需要的记录", "o_zhang")
    add_users(engine)
    with TestClient(create_app(settings, engine=engine)) as console:
        assert login(console, "archivist").status_code == 303
        lookups_page = console.get("/console/lookups").text
        register_page = console.get("/console/register").text
        api = console.get("/api/v1/lookups?status=all").json()
    assert "未解决" in lookups_page and "没有找到需要的记录" in lookups_page
    assert "<th>利用效果</th>" in register_page and "没有找到需要的记录" in register_page
    [row] = [r for r in api if r["register_no"] == no]
    assert (row["effect"], row["effect_label"], row["effect_note"]) == (3, "未解决", "没有找到需要的记录")


def test_past_the_48_hour_window_the_ask_is_recorded_undeliverable(
    client, engine, settings, archive, staff
) -> None:  # type: ignore[no-untyped-def]
    no, token = _approved(client, engine, settings, archive)
    with unit_of_work(engine) as s:  # the requester last wrote three days ago
        s.execute(
            update(InboundMessage)
            .where(col(InboundMessage.sender) == "o_zhang")
            .values(received_at=utcnow() - timedelta(days=3))
        )
    assert client.get(f"/access/{token}").status_code == 200
    assert _asks(engine, no) == []
    req = _row(engine, no)
    assert req.effect_asked_via == t.EFFECT_VIA_NONE and req.effect_asked_at is None
    # the requester can still answer on their own
    assert say(client, f"利用 {no} 1", "o_zhang").startswith(f"已记录申请 {no} 的利用效果：解决问题")


def test_a_wecom_requester_is_asked_by_app_message(engine, settings, archive) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as s:
        li = Person(wecom_userid="lisi", name="李四", department="后勤处", roles="staff")
        wang = Person(openid="o_wang2", staff_no="B002", name="王档案", roles="staff,archivist")
        s.add_all([li, wang])
        s.flush()
        req = service.request_lookup(
            s, requester=li, code=archive, purpose="核对", channel="wecom", settings=settings
        )
        service.decide(
            s, register_no=req.register_no, approve=True, approver=wang, reason="", settings=settings
        )
        no, token = req.register_no, links.access_link(settings, req).rsplit("/access/", 1)[1]
    with unit_of_work(engine) as s:
        assert links.open_link(s, token=token, settings=settings).outcome == "served"
    [ask] = _asks(engine, no)
    assert (ask.app, ask.to_user) == ("wecom", "lisi") and _row(
        engine, no
    ).effect_asked_via == t.EFFECT_VIA_WECOM


def test_answers_as_typed() -> None:
    assert effect.register_no("cy2026-7") == "CY2026-0007"
    assert effect.register_no("ＣＹ２０２６－００１２") == "CY2026-0012"
    assert effect.register_no("CY26-1") is None
    assert effect.parse_answer(" 1 很有帮助") == (1, "很有帮助")
    assert effect.parse_answer("２，已完成复核") == (2, "已完成复核")
    assert effect.parse_answer("未解决 档案不全") == (3, "档案不全")
    assert effect.parse_answer("解决问题") == (1, "")
    assert effect.parse_answer("4") == (4, "")  # refused by record(), with the numbers to use
    assert effect.parse_answer("很好") is None


def test_words_starting_with_liyong_stay_a_diners_feedback(client, engine) -> None:  # type: ignore[no-untyped-def]
    reply = say(client, "利用率太低了，座位总是不够", "o_diner_ly")
    assert reply.startswith("谢谢您的意见")
    with Session(engine) as s:
        [fb] = s.execute(select(Feedback).where(col(Feedback.sender) == "o_diner_ly")).scalars()
    assert fb.comment is not None and "利用率太低了" in fb.comment


def test_replies_name_the_configured_window(engine, settings) -> None:  # type: ignore[no-untyped-def]
    fifteen = settings.model_copy(update={"dialog_minutes": 15})
    with TestClient(create_app(fifteen, engine=engine)) as c:
        opened = say(c, "反馈", "o_diner_15")
        unscored = say(c, "红烧肉偏咸", "o_diner_16")
        menu = say(c, "帮助", "o_diner_17")
    assert "15分钟内有效" in opened and "10分钟" not in opened
    assert "15分钟内有效" in unscored
    assert "15分钟内发送" in menu
