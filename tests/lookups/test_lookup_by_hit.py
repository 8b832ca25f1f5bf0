"""「查阅 2 目的」 end to end (issue 12): a bound staff member 查档s a sealed volume, then asks for the second
hit by its number, or types its 档号 the way a phone keyboard allows (「.」「-」「・」, full-width, no 「·」):
exactly that archived item is registered in the 查阅登记簿, and the reply names it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session, col

from core.db import unit_of_work
from core.settings import Settings
from exports.models import Volume, VolumeItem
from exports.seal import compile_locked
from handlers.staff import hit_number
from lookups import identity
from lookups import texts as t
from lookups.models import LookupRequest, RegisterEntry
from server.app import create_app
from tests.support.volume_data import fill_period
from tests.support.wechat_peer import WeChatPeer, reply_text, text_xml

STAFF = "o_zhang"
PURPOSE = "整改复核"


@pytest.fixture
def archive(engine: Any, settings: Settings) -> str:
    """A sealed month: 12 米饭 comments and 6 others, compiled into one volume; its 档号."""
    fill_period(engine, n=12, comment="红烧肉偏咸，米饭有点硬")
    fill_period(engine, n=6, comment="空调太冷", sender_prefix="o_air")
    return str(compile_locked(engine, settings=settings, period="2026-10").volumes[0])


@pytest.fixture
def client(settings: Settings, engine: Any, archive: str, tmp_path: Path) -> Iterator[TestClient]:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["工号", "姓名", "部门", "角色"])
    ws.append(["A001", "张三", "办公室", ""])
    roster = tmp_path / "roster.xlsx"
    wb.save(roster)
    with unit_of_work(engine) as s:
        identity.import_roster(s, path=roster)
        _, code, _ = identity.issue_bind_code(s, staff_no="A001", issued_by="console:archivist")
        identity.bind(s, openid=STAFF, staff_no="A001", name="张三", code=code)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def say(client: TestClient, text: str, sender: str = STAFF) -> str:
    peer = WeChatPeer()
    params, body = peer.safe(text_xml(text, sender=sender))
    return reply_text(peer, client.post("/wechat", params=params, content=body))


def hits(reply: str) -> list[str]:
    """The 档号 of the numbered hits of a 查档 reply, in order."""
    return [line.split()[1] for line in reply.splitlines() if line[:1].isdigit()]


def requests(engine: Any) -> list[LookupRequest]:
    with Session(engine) as s:
        return list(s.execute(select(LookupRequest).order_by(col(LookupRequest.id))).scalars())


def registered(engine: Any) -> list[dict[str, Any]]:
    """The request entries of the 查阅登记簿, oldest first."""
    with Session(engine) as s:
        rows = s.execute(
            select(RegisterEntry).where(col(RegisterEntry.kind) == "request").order_by(col(RegisterEntry.seq))
        ).scalars()
        return [{"no": r.register_no, **json.loads(r.payload)} for r in rows]


def item_title(engine: Any, item_code: str) -> str:
    with Session(engine) as s:
        item, volume = s.execute(
            select(VolumeItem, Volume)
            .join(Volume, col(Volume.id) == col(VolumeItem.volume_id))
            .where(col(VolumeItem.item_code) == item_code)
        ).one()
        return f"{volume.title} 顺序号{item.seq}"


def test_the_second_hit_of_the_last_search_is_registered(
    client: TestClient, engine: Any, archive: str
) -> None:
    page1 = hits(say(client, "查档 米饭"))
    assert len(page1) == 5 and all(h.startswith(f"{archive}/") for h in page1)
    reply = say(client, f"查阅 2 {PURPOSE}")
    [req] = requests(engine)
    assert req.archival_code == page1[1]  # exactly the second hit, not the volume
    assert reply == t.REQUEST_OK.format(no=req.register_no, code=page1[1], purpose=PURPOSE)
    assert req.title == item_title(engine, page1[1]) and req.purpose == PURPOSE
    [entry] = registered(engine)
    assert (entry["no"], entry["archival_code"], entry["purpose"]) == (req.register_no, page1[1], PURPOSE)

    # a number counts across pages: after 更多, 查阅 7 is the second hit of page 2
    page2 = hits(say(client, "更多"))
    reply = say(client, f"查阅 7 {PURPOSE}")
    assert requests(engine)[-1].archival_code == page2[1] and page2[1] in reply
    # full-width digits, as a Chinese keyboard types them
    say(client, f"查阅 ２ {PURPOSE}")
    assert requests(engine)[-1].archival_code == page1[1]
    assert [e["archival_code"] for e in registered(engine)] == [page1[1], page2[1], page1[1]]
    # the hit named as people say it: 第3条, 4号, 第五条
    for said, n in (("第3条", 3), ("4号", 4), ("第五条", 5)):
        reply = say(client, f"查阅 {said} {PURPOSE}")
        assert requests(engine)[-1].archival_code == page1[n - 1] and page1[n - 1] in reply, said


@pytest.mark.parametrize(
    ("word", "n"),
    [
        ("2", 2),
        ("第2条", 2),
        ("12号", 12),
        ("第二条", 2),
        ("两", 2),
        ("十", 10),
        ("十二", 12),
        ("二十三", 23),
    ],
)
def test_a_hit_number_is_read_as_people_write_it(word: str, n: int) -> None:
    assert hit_number(word) == n


@pytest.mark.parametrize("word", ["第", "条", "二二", "十十", "一百", "J001", "2a"])
def test_a_word_that_is_no_hit_number_is_not_read_as_one(word: str) -> None:
    assert hit_number(word) is None


def test_a_number_past_the_last_hit_registers_nothing(client: TestClient, engine: Any) -> None:
    assert len(hits(say(client, "查档 米饭"))) == 5
    assert say(client, f"查阅 13 {PURPOSE}") == t.REQUEST_NO_HIT.format(n="13")
    assert requests(engine) == [] and registered(engine) == []


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.parametrize(
    "typed",
    [
        lambda code: code.replace("·", "."),  # ASCII full stop
        lambda code: code.replace("·", "-"),  # ASCII hyphen
        lambda code: code.replace("·", "・"),  # katakana middle dot (Japanese/Chinese IMEs)
        lambda code: _full_width(code.replace("·", ".")),  # full-width throughout: Ｊ００１－ＷＳ．…
        lambda code: code.replace("·", ".").lower(),  # lower case
    ],
    ids=["dot", "hyphen", "katakana-dot", "full-width", "lower-case"],
)
def test_a_hit_typed_without_the_middle_dot_is_registered(
    client: TestClient, engine: Any, typed: Any
) -> None:
    code = hits(say(client, "查档 米饭"))[1]
    reply = say(client, f"查阅 {typed(code)} {PURPOSE}")
    [req] = requests(engine)
    assert req.archival_code == code
    assert reply == t.REQUEST_OK.format(no=req.register_no, code=code, purpose=PURPOSE)
    assert [e["archival_code"] for e in registered(engine)] == [code]
