"""Binding that proves who you are (issue 11, finding 7; both databases): 绑定 needs the one-time code
issued from the console, guesses are limited per sender and per staff number, a bound person cannot be
taken over, nobody approves their own lookup, the register records the approver's account, and an
archivist can revoke a link."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session, col

from console.models import ConsoleUser
from core.clock import utcnow
from core.db import unit_of_work
from feedback.models import Person
from lookups import identity, links, register
from lookups import texts as t
from lookups.models import BindCode, LookupRequest, RegisterEntry
from tests.lookups.test_lookups import archive, bind_with_code, client, roster, say
from tests.support.console_helpers import add_users, csrf_of, login

__all__ = ["archive", "client"]  # fixtures


@pytest.fixture
def roster_only(engine, tmp_path):  # type: ignore[no-untyped-def]
    """张三 (staff) and 王档案 (archivist) on the roster, nobody bound."""
    with unit_of_work(engine) as s:
        identity.import_roster(
            s, path=roster(tmp_path, [["A001", "张三", "办公室", ""], ["A002", "王档案", "档案室", "档案员"]])
        )


def test_name_and_staff_number_alone_no_longer_bind(client, engine, roster_only) -> None:  # type: ignore[no-untyped-def]
    assert say(client, "绑定 A002 王档案", "o_intruder") == t.BIND_USAGE
    assert say(client, "绑定 A002 王档案 ABCDEFGH", "o_intruder") == t.BIND_BAD_CODE
    with Session(engine) as s:
        assert identity.staff_for(s, app="mp", sender="o_intruder") is None


def test_the_issued_code_binds_once_and_only_its_person(client, engine, roster_only) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as s:
        _, code, _ = identity.issue_bind_code(s, staff_no="A002", issued_by="console:admin")
    with Session(engine) as s:  # hashed at rest
        row = s.execute(select(BindCode)).scalar_one()
        assert code not in row.code_hash and len(row.code_hash) == 64
    assert say(client, f"绑定 A001 张三 {code}", "o_zhang") == t.BIND_BAD_CODE  # another person's code
    assert "绑定成功" in say(client, f"绑定 A002 王档案 {code.lower()}", "o_wang")
    assert say(client, f"绑定 A002 王档案 {code}", "o_intruder") == t.BIND_TAKEN  # used, and bound
    with unit_of_work(engine) as s:  # even a fresh code cannot move a bound person to another openid
        _, fresh, _ = identity.issue_bind_code(s, staff_no="A002", issued_by="console:admin")
    assert say(client, f"绑定 A002 王档案 {fresh}", "o_intruder") == t.BIND_TAKEN
    with Session(engine) as s:
        wang = identity.staff_for(s, app="mp", sender="o_wang")
        assert wang is not None and wang.staff_no == "A002"


def test_an_expired_or_replaced_code_is_refused(engine, roster_only) -> None:  # type: ignore[no-untyped-def]
    t0 = utcnow()
    with unit_of_work(engine) as s:
        _, old, _ = identity.issue_bind_code(s, staff_no="A001", issued_by="console:admin", now=t0)
        _, new, _ = identity.issue_bind_code(s, staff_no="A001", issued_by="console:admin", now=t0)
    with unit_of_work(engine) as s, pytest.raises(identity.BindError, match="验证码不正确"):
        identity.bind(s, openid="o_zhang", staff_no="A001", name="张三", code=old, now=t0)
    late = t0 + timedelta(hours=identity.BIND_CODE_HOURS, seconds=1)
    with unit_of_work(engine) as s, pytest.raises(identity.BindError, match="验证码不正确"):
        identity.bind(s, openid="o_zhang", staff_no="A001", name="张三", code=new, now=late)


def test_guessing_is_limited_per_staff_number_and_per_sender(engine, roster_only) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with unit_of_work(engine) as s:
        _, code, _ = identity.issue_bind_code(s, staff_no="A002", issued_by="console:admin", now=now)
    for n in range(identity.BIND_MAX_PER_STAFF_NO):  # strangers, each from their own openid
        with unit_of_work(engine) as s, pytest.raises(identity.BindError, match="验证码不正确"):
            identity.bind(s, openid=f"o_guess{n}", staff_no="A002", name="王档案", code="WRONG234", now=now)
    with unit_of_work(engine) as s, pytest.raises(identity.BindError, match="次数过多"):
        identity.bind(s, openid="o_wang", staff_no="A002", name="王档案", code=code, now=now)
    later = now + identity.BIND_WINDOW + timedelta(seconds=1)  # the window passes: the person can bind
    with unit_of_work(engine) as s:
        _, code, _ = identity.issue_bind_code(s, staff_no="A002", issued_by="console:admin", now=later)
        identity.bind(s, openid="o_wang", staff_no="A002", name="王档案", code=code, now=later)
    for n in range(identity.BIND_MAX_PER_SENDER):  # one sender trying many staff numbers
        with unit_of_work(engine) as s, pytest.raises(identity.BindError):
            identity.bind(s, openid="o_scan", staff_no=f"B{n:03d}", name="某人", code="X", now=later)
    with unit_of_work(engine) as s, pytest.raises(identity.BindError, match="次数过多"):
        identity.bind(s, openid="o_scan", staff_no="A001", name="张三", code="X", now=later)


def test_nobody_approves_their_own_request_and_the_register_names_the_account(
    client, engine, settings, archive, roster_only
) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as s:
        bind_with_code(s, openid="o_wang", staff_no="A002", name="王档案")
        bind_with_code(s, openid="o_zhang", staff_no="A001", name="张三")
    reply = say(client, f"查阅 {archive} 自查", "o_wang")
    assert "已登记查阅申请 " in reply, reply
    own = reply.split("已登记查阅申请 ")[1].split("：")[0]
    assert say(client, f"审批 {own} 同意", "o_wang") == t.DECIDE_OWN
    other = say(client, f"查阅 {archive} 整改复核", "o_zhang").split("已登记查阅申请 ")[1].split("：")[0]
    assert say(client, f"审批 {other} 同意", "o_wang") == t.DECIDE_OK.format(status="同意", no=other)
    with Session(engine) as s:
        wang = s.execute(select(Person).where(col(Person.staff_no) == "A002")).scalar_one()
        req = s.execute(select(LookupRequest).where(col(LookupRequest.register_no) == other)).scalar_one()
        assert req.approver == "王档案" and req.approver_account == f"person:{wang.id}"
        assert register.verify_register(s).ok


def test_console_issues_codes_decides_with_its_account_and_revokes(
    client: TestClient, engine, settings, archive, roster_only
) -> None:  # type: ignore[no-untyped-def]
    add_users(engine)
    with unit_of_work(engine) as s:
        bind_with_code(s, openid="o_zhang", staff_no="A001", name="张三")
        zhang = s.execute(select(Person).where(col(Person.staff_no) == "A001")).scalar_one()
        archivist = s.execute(
            select(ConsoleUser).where(col(ConsoleUser.username) == "archivist")
        ).scalar_one()
        archivist.person_id = zhang.id  # this archivist's own WeChat identity is 张三
        s.add(archivist)
    login(client, "archivist")
    page = client.post(
        "/console/binding", data={"staff_no": "A002", "csrf": csrf_of(client, "/console/binding")}
    )
    assert page.status_code == 200 and "验证码" in page.text and page.headers["cache-control"] == "no-store"
    code = page.text.split("<b>", 1)[1].split("</b>", 1)[0]
    assert "绑定成功" in say(client, f"绑定 A002 王档案 {code}", "o_wang")
    own = say(client, f"查阅 {archive} 自查", "o_zhang").split("已登记查阅申请 ")[1].split("：")[0]
    csrf = csrf_of(client, "/console/lookups")
    r = client.post(f"/console/lookups/{own}/decision", data={"decision": "approve", "csrf": csrf})
    assert t.DECIDE_OWN in r.text
    other = say(client, f"查阅 {archive} 核对", "o_wang").split("已登记查阅申请 ")[1].split("：")[0]
    client.post(f"/console/lookups/{other}/decision", data={"decision": "approve", "csrf": csrf})
    with Session(engine) as s:
        req = s.execute(select(LookupRequest).where(col(LookupRequest.register_no) == other)).scalar_one()
        assert req.decision == "approved" and req.approver_account == "console:archivist"
        token = links.access_link(settings, req).rsplit("/access/", 1)[1]
    assert client.get(f"/access/{token}").status_code == 200
    r = client.post(f"/console/lookups/{other}/revoke", data={"csrf": csrf})
    assert t.REVOKE_OK.format(no=other) in r.text
    refused = client.get(f"/access/{token}")
    assert refused.status_code == 403 and t.LINK_REVOKED in refused.text
    with Session(engine) as s:
        kinds = [e.kind for e in s.execute(select(RegisterEntry).order_by(col(RegisterEntry.seq))).scalars()]
        assert kinds.count("revoke") == 1
        report = register.verify_register(s)
        assert report.ok, report.problems
