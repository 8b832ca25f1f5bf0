"""Issue 13, the inbox and the detail page (on SQLite and PostgreSQL): keyset pages cover every item
exactly once forward and back, in both sorts; the quick tabs hold exactly their items; the detail page
offers only the actions the state allows and asks before 办结 without a reply and 已整改 without a
rectification; each outbound message shows its delivery state; console errors are Chinese HTML pages
while the API keeps JSON; /docs works with its assets served by houqin."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from core.db import unit_of_work
from core.models import Outbox
from core.settings import Settings
from feedback.models import Feedback, FeedbackEvent, InboundMessage, Status
from server.app import create_app
from server.demo.fill import fill_demo
from tests.support.console_helpers import CSRF_FIELD, add_users, login, sealed_volume

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # 14:00 in Asia/Shanghai, a Wednesday


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Any:
    add_users(engine)
    return create_app(settings, engine=engine)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def signed_in(client: TestClient, username: str) -> TestClient:
    r = login(client, username)
    assert r.status_code == 303 and "err=1" not in r.headers["location"]
    return client


def csrf(client: TestClient, path: str) -> str:
    found = CSRF_FIELD.search(client.get(path).text)
    assert found
    return found.group(1)


def add(s: Session, n: int, **values: Any) -> Feedback:
    fields: dict[str, Any] = {
        "reference": f"FK20261125-{n:04d}",
        "sender": f"o_inbox{n}",
        "service_date": date(2026, 11, 25),
        "meal": "lunch",
        "score": 4,
        "comment": "还不错",
        "created_at": NOW - timedelta(hours=1),
    }
    fields.update(values)
    fb = Feedback(**fields)
    s.add(fb)
    s.flush()
    return fb


# --- keyset pagination -----------------------------------------------------------------------------


def walk(client: TestClient, params: dict[str, Any]) -> tuple[list[list[int]], list[str | None]]:
    """Follow next_cursor from the first page to the last; the pages' ids and their prev cursors."""
    pages: list[list[int]] = []
    prevs: list[str | None] = []
    cursor = None
    while True:
        r = client.get("/api/v1/feedback", params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append([i["id"] for i in body["items"]])
        prevs.append(body["prev_cursor"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages, prevs
        assert len(pages) < 200, "the cursor never ends"


@pytest.mark.parametrize("sort", ["new", "low"])
def test_cursor_pages_cover_every_item_exactly_once_forward_and_back(
    client: TestClient, engine: Engine, settings: Settings, sort: str
) -> None:
    with unit_of_work(engine) as s:
        fill_demo(s, settings=settings, count=150, seed=13, today=date(2026, 11, 25))
        # ties on every sort key but the id: five at the same instant, same score, and unscored ones
        for i in range(5):
            add(s, 9000 + i, score=1, created_at=NOW - timedelta(days=2))
        for i in range(3):
            add(s, 9100 + i, score=None, created_at=NOW - timedelta(days=2))
    signed_in(client, "admin")
    with Session(engine) as s:
        rows = list(s.execute(select(Feedback)).scalars())
    if sort == "new":
        rows.sort(key=lambda f: (f.created_at, f.id), reverse=True)
    else:
        rows.sort(key=lambda f: (f.score is None, f.score or 0, -f.created_at.timestamp(), -(f.id or 0)))
    expected = [f.id for f in rows]

    pages, prevs = walk(client, {"sort": sort, "limit": 7})
    seen = [i for p in pages for i in p]
    assert seen == expected  # every item once, in order
    assert len(set(seen)) == len(seen) == 158
    assert all(len(p) == 7 for p in pages[:-1]) and prevs[0] is None and all(prevs[1:])

    # back from the last page by prev_cursor: the same pages, in reverse, ending on the first
    back = [pages[-1]]
    cursor = prevs[-1]
    while cursor:
        body = client.get("/api/v1/feedback", params={"sort": sort, "limit": 7, "cursor": cursor}).json()
        back.append([i["id"] for i in body["items"]])
        assert body["next_cursor"]
        cursor = body["prev_cursor"]
    assert back[::-1] == pages

    # with a filter: the filtered total, and the pages hold exactly the filtered items
    lunch = {f.id for f in rows if f.meal == "lunch" and f.channel == "canteen"}
    pages, _ = walk(client, {"sort": sort, "limit": 11, "meal": "lunch"})
    assert [i for p in pages for i in p] == [i for i in expected if i in lunch]
    total = client.get("/api/v1/feedback", params={"meal": "lunch", "limit": 1}).json()["total"]
    assert total == len(lunch)


def test_the_console_pages_with_next_and_previous(client: TestClient, engine: Engine) -> None:
    with unit_of_work(engine) as s:
        for i in range(120):
            add(s, i + 1, created_at=NOW - timedelta(minutes=i))
    signed_in(client, "canteen")
    page = client.get("/console/feedback")
    assert "共 120 条" in page.text and 'id="prev"' not in page.text
    refs = re.findall(r">(FK20261125-\d{4})</a>", page.text)
    assert refs == [f"FK20261125-{i + 1:04d}" for i in range(50)]
    nxt = re.search(r'href="(/console/feedback\?cursor=[^"]+)" id="next"', page.text)
    assert nxt
    second = client.get(nxt.group(1).replace("&amp;", "&"))
    assert re.findall(r">(FK20261125-\d{4})</a>", second.text)[0] == "FK20261125-0051"
    prev = re.search(r'href="([^"]+)" id="prev"', second.text)
    assert prev
    again = client.get(prev.group(1).replace("&amp;", "&"))
    assert re.findall(r">(FK20261125-\d{4})</a>", again.text) == refs
    # a cursor that was tampered with: a clear Chinese error, as a page for the console, JSON for the API
    bad = client.get("/console/feedback", params={"cursor": "bm9wZQ"})
    assert bad.status_code == 422 and "翻页位置无效" in bad.text and "<html" in bad.text
    api = client.get("/api/v1/feedback", params={"cursor": "bm9wZQ"})
    assert api.status_code == 422 and api.json() == {"detail": "翻页位置无效，请回到第一页重新查看"}
    # a cursor of the other sort is refused too, not misread
    assert (
        client.get(
            "/api/v1/feedback", params={"sort": "low", "cursor": nxt.group(1).split("=")[1]}
        ).status_code
        == 422
    )


# --- quick tabs ----------------------------------------------------------------------------------------


def test_each_quick_tab_holds_exactly_its_items(client: TestClient, engine: Engine) -> None:
    with unit_of_work(engine) as s:
        ids = {
            # alerts carry the rectification deadline the SLA gives them (feedback/worklist.py)
            "new_low": add(
                s, 1, score=1, created_at=NOW - timedelta(days=3), rectify_due_at=NOW + timedelta(days=2)
            ).id,
            "new_safety": add(
                s,
                2,
                score=4,
                comment="汤里有头发",
                created_at=NOW - timedelta(days=1),
                rectify_due_at=NOW + timedelta(hours=20),
            ).id,
            "new_fine": add(s, 3, score=5).id,  # today, 13:00 local
            "acked_low": add(s, 4, score=2, status=Status.acknowledged).id,
            "overdue": add(
                s, 5, score=2, status=Status.rectifying, rectify_due_at=NOW - timedelta(hours=2)
            ).id,
            "due_later": add(
                s, 6, score=2, status=Status.rectifying, rectify_due_at=NOW + timedelta(days=1)
            ).id,
            "resolved_late": add(
                s, 7, score=2, status=Status.resolved, rectify_due_at=NOW - timedelta(days=1)
            ).id,
            "closed": add(s, 8, score=1, status=Status.closed, created_at=NOW - timedelta(days=5)).id,
            # yesterday 23:30 local is not today; today 00:10 local is
            "late_yesterday": add(
                s, 9, status=Status.closed, created_at=datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
            ).id,
            "early_today": add(
                s, 10, status=Status.closed, created_at=datetime(2026, 11, 24, 16, 10, tzinfo=UTC)
            ).id,
        }
    signed_in(client, "canteen")
    expected = {
        "pending": {
            "new_low",
            "new_safety",
            "new_fine",
            "acked_low",
            "overdue",
            "due_later",
            "resolved_late",
        },
        "alerts_unacked": {"new_low", "new_safety"},
        "rectify_overdue": {"overdue"},
        "today": {"new_fine", "acked_low", "overdue", "due_later", "resolved_late", "early_today"},
    }
    with time_machine.travel(NOW, tick=False):
        for tab, names in expected.items():
            body = client.get("/api/v1/feedback", params={"tab": tab}).json()
            assert {i["id"] for i in body["items"]} == {ids[n] for n in names}, tab
            assert body["total"] == len(names)
            page = client.get("/console/feedback", params={"tab": tab}).text
            assert f"共 {len(names)} 条" in page and f'class="on" data-tab="{tab}"' in page
        unknown = client.get("/api/v1/feedback", params={"tab": "nope"})
        assert unknown.status_code == 422 and unknown.json()["detail"] == "没有这个分类"
        # a tab combines with the filters, and the filter form keeps the tab
        page = client.get("/console/feedback", params={"tab": "pending", "score": "2"}).text
        assert "共 4 条" in page and '<input type="hidden" name="tab" value="pending">' in page


def test_a_worklist_line_and_its_inbox_tab_are_one_definition(client: TestClient, engine: Engine) -> None:
    # an alert is a new feedback with a rectification deadline; flagged misuse is left out of both
    due = NOW + timedelta(days=1)
    with unit_of_work(engine) as s:
        alert = add(s, 1, score=2, rectify_due_at=due).id
        add(s, 2, score=1, misuse=True, rectify_due_at=due)
        add(s, 3, score=2, status=Status.acknowledged, rectify_due_at=due)
        add(s, 4, score=1, status=Status.rectifying, rectify_due_at=NOW - timedelta(hours=1), misuse=True)
    signed_in(client, "canteen")
    with time_machine.travel(NOW, tick=False):
        lines = {w["tab"]: w for w in client.get("/api/v1/worklist").json()}
        for tab in ("alerts_unacked", "rectify_overdue"):
            listed = client.get("/api/v1/feedback", params={"tab": tab}).json()
            assert listed["total"] == lines[tab]["count"], tab
        assert [i["id"] for i in lines["alerts_unacked"]["items"]] == [alert]


def test_inbox_filters_are_checked_however_they_are_built() -> None:
    from fastapi import HTTPException

    from console.inputs import InputError
    from console.queries.inbox import InboxFilters

    with pytest.raises(HTTPException):
        InboxFilters(tab="nope")
    with pytest.raises(InputError):
        InboxFilters(score="7")
    with pytest.raises(InputError):
        InboxFilters(q="\ud800")
    assert InboxFilters.parse({"score": "05", "tab": "", "q": "", "sort": "x"}) == InboxFilters(score="5")


# --- the detail page: state-allowed actions and confirmations -----------------------------------------


def forms(html: str) -> set[str]:
    return set(re.findall(r'action="/console/feedback/\d+/(\w+)"', html))


def test_the_detail_page_offers_only_what_the_state_allows(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    with unit_of_work(engine) as s:
        fb = add(s, 1, score=2, comment="米饭夹生")
        fid = fb.id
    signed_in(client, "canteen")
    page = client.get(f"/console/feedback/{fid}").text
    assert forms(page) == {"acknowledge", "reply", "rectification", "resolve", "close"}
    for label in ("回复内容", "整改措施", "责任人", "完成期限", "完成情况"):  # every field labelled
        assert re.search(f"<label>{label}<(input|textarea)", page), label
    assert "2026-11-25 午餐" in page  # the service date with its meal

    token = csrf(client, f"/console/feedback/{fid}")
    client.post(f"/console/feedback/{fid}/acknowledge", data={"csrf": token})
    assert forms(client.get(f"/console/feedback/{fid}").text) == {
        "reply",
        "rectification",
        "resolve",
        "close",
    }
    client.post(
        f"/console/feedback/{fid}/rectification",
        data={"csrf": token, "measure": "蒸饭时间延长五分钟", "owner": "张师傅", "deadline": "2026-11-27"},
    )
    page = client.get(f"/console/feedback/{fid}").text
    block = page[page.index('id="rectification"') : page.index("</div>", page.index('id="rectification"'))]
    assert "蒸饭时间延长五分钟" in block and "张师傅" in block and "2026-11-27" in block
    r = client.post(f"/console/feedback/{fid}/resolve", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303  # a rectification is recorded: no question asked
    assert forms(client.get(f"/console/feedback/{fid}").text) == {"reply", "close"}
    client.post(f"/console/feedback/{fid}/close", data={"csrf": token, "confirm": "1"})
    page = client.get(f"/console/feedback/{fid}").text
    assert forms(page) == set() and "已办结，无需再处理" in page

    # after 办结 nothing is live: a stale form or a script is refused with the reason, nothing recorded
    with Session(engine) as s:
        before = len(list(s.execute(select(FeedbackEvent).where(col(FeedbackEvent.feedback_id) == fid))))
    r = client.post(
        f"/console/feedback/{fid}/reply", data={"csrf": token, "text": "再说一句"}, follow_redirects=False
    )
    assert r.status_code == 303 and "err=1" in r.headers["location"]
    assert "不能再回复" in client.get(r.headers["location"]).text
    api = client.post(f"/api/v1/feedback/{fid}/actions/close", headers={"X-CSRF-Token": token}, json={})
    assert api.status_code == 422 and "已办结" in api.json()["detail"]
    detail = client.get(f"/api/v1/feedback/{fid}").json()
    assert detail["allowed_actions"] == []
    with Session(engine) as s:
        after = len(list(s.execute(select(FeedbackEvent).where(col(FeedbackEvent.feedback_id) == fid))))
    assert after == before
    # the bulk bar skips it too
    r = client.post("/console/feedback/bulk", data={"csrf": token, "ids": [str(fid)], "action": "close"})
    assert "已处理0条" in r.text


def test_an_archived_feedback_offers_nothing(client: TestClient, engine: Engine, settings: Settings) -> None:
    sealed_volume(engine, settings)
    with Session(engine) as s:
        fb = s.execute(select(Feedback).where(col(Feedback.volume_id).is_not(None))).scalars().first()
        assert fb is not None
        fid = fb.id
    signed_in(client, "canteen")
    page = client.get(f"/console/feedback/{fid}").text
    assert forms(page) == set() and "已归档，只读" in page
    token = csrf(client, "/console/feedback")
    r = client.post(
        f"/api/v1/feedback/{fid}/actions/reply", headers={"X-CSRF-Token": token}, json={"text": "x"}
    )
    assert r.status_code == 409


def test_closing_without_a_reply_and_resolving_without_a_rectification_ask_first(
    client: TestClient, engine: Engine
) -> None:
    with unit_of_work(engine) as s:
        fid = add(s, 1, score=3).id
    signed_in(client, "canteen")
    token = csrf(client, f"/console/feedback/{fid}")

    asked = client.post(f"/console/feedback/{fid}/resolve", data={"csrf": token}, follow_redirects=False)
    assert (
        asked.status_code == 200
        and "还没有整改记录" in asked.text
        and 'name="confirm" value="1"' in asked.text
    )
    asked = client.post(f"/console/feedback/{fid}/close", data={"csrf": token}, follow_redirects=False)
    assert asked.status_code == 200 and "还没有回复反馈人" in asked.text and "确定办结" in asked.text
    with Session(engine) as s:
        fb = s.get(Feedback, fid)
        assert fb is not None and fb.status == Status.new  # asking changed nothing

    done = client.post(
        f"/console/feedback/{fid}/close", data={"csrf": token, "confirm": "1"}, follow_redirects=False
    )
    assert done.status_code == 303 and "err=1" not in done.headers["location"]
    with Session(engine) as s:
        fb = s.get(Feedback, fid)
        assert fb is not None and fb.status == Status.closed


# --- delivery states of the messages to the diner --------------------------------------------------------


def test_each_outbound_message_shows_its_delivery_state(client: TestClient, engine: Engine) -> None:
    with unit_of_work(engine) as s:
        fb = add(s, 1, score=2)
        other = add(s, 11, score=2, sender=fb.sender)  # same diner, another feedback: not shown
        fid, sender, oid = fb.id, fb.sender, other.id
        s.add(
            InboundMessage(
                dedupe_key="inbox:1", sender=sender, msg_type="text", created_at=NOW, raw_xml="<xml/>"
            )
        )
    signed_in(client, "canteen")
    token = csrf(client, f"/console/feedback/{fid}")
    for text in ("第一条回复", "第二条回复", "第三条回复", "第四条回复"):
        r = client.post(
            f"/console/feedback/{fid}/reply", data={"csrf": token, "text": text}, follow_redirects=False
        )
        assert "已加入发送队列" in client.get(r.headers["location"]).text
    client.post(f"/console/feedback/{oid}/reply", data={"csrf": token, "text": "别的反馈"})
    with unit_of_work(engine) as s:
        rows = {o.payload.split("\n")[-1]: o.id for o in s.execute(select(Outbox)).scalars()}
        s.execute(
            update(Outbox).where(col(Outbox.id) == rows["第二条回复"]).values(status="sent", sent_at=NOW)
        )
        s.execute(
            update(Outbox)
            .where(col(Outbox.id) == rows["第三条回复"])
            .values(last_error="HTTP 502", attempts=1)
        )
        s.execute(
            update(Outbox)
            .where(col(Outbox.id) == rows["第四条回复"])
            .values(status="undeliverable", last_error="45015")
        )
        # the diner's window has closed for the next one: recorded, never queued
        s.execute(update(InboundMessage).values(received_at=NOW - timedelta(days=5)))
    r = client.post(
        f"/console/feedback/{fid}/reply", data={"csrf": token, "text": "第五条回复"}, follow_redirects=False
    )
    assert "无法送达反馈人" in client.get(r.headers["location"]).text
    page = client.get(f"/console/feedback/{fid}").text
    table = page[page.index('id="outbound"') : page.index("</table>", page.index('id="outbound"'))]
    states = re.findall(
        r"(第.条回复)</td>\s*<td data-label=\"送达状态\"><span class=\"tag delivery-(\w+)", table
    )
    assert states == [
        ("第一条回复", "queued"),
        ("第二条回复", "sent"),
        ("第三条回复", "retrying"),
        ("第四条回复", "undeliverable"),
        ("第五条回复", "not_queued"),
    ]
    assert "别的反馈" not in table and "排队待发" in table and "发送失败，稍后重试" in table
    api = client.get(f"/api/v1/feedback/{fid}").json()
    assert [d["state"] for d in api["deliveries"]] == [
        "queued",
        "sent",
        "retrying",
        "undeliverable",
        "not_queued",
    ]


# --- error pages and /docs --------------------------------------------------------------------------------


def test_console_errors_are_chinese_pages_and_the_api_keeps_json(app: Any, client: TestClient) -> None:
    boom = APIRouter()

    @boom.get("/console/boom")
    @boom.get("/api/v1/boom")
    def _boom() -> None:
        raise RuntimeError("secret stack detail")

    app.app.include_router(boom)
    signed_in(client, "canteen")
    cases = [
        ("/console/no-such-page", 404, "页面不存在"),
        ("/console/volumes", 403, "此页面不属于您的角色"),
        ("/console/feedback/999999", 404, "没有这条反馈"),
        ("/console/feedback?tab=nope", 422, "没有这个分类"),
        ("/console/feedback/abc", 422, "输入有误"),
        ("/console/boom", 500, "服务器出错"),
    ]
    for path, status, words in cases:
        r = client.get(path)
        assert r.status_code == status, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert words in r.text and "<header>" in r.text and "not for your role" not in r.text, path
        assert "secret stack detail" not in r.text and '{"detail"' not in r.text
    for path, status in [
        ("/api/v1/volumes", 403),
        ("/api/v1/feedback/999999", 404),
        ("/api/v1/feedback?score=7", 422),
        ("/api/v1/no-such", 404),
        ("/api/v1/boom", 500),
    ]:
        r = client.get(path)
        assert r.status_code == status and r.headers["content-type"] == "application/json", path
        assert "detail" in r.json() and "secret stack detail" not in r.text


def test_docs_work_offline_with_assets_served_by_houqin(client: TestClient) -> None:
    signed_in(client, "admin")  # /docs is for admins (server/exposure.py)
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert assets and all(a.startswith("/docs/assets/") for a in assets), assets
    assert "cdn" not in page.text
    for a in assets:
        r = client.get(a)
        assert r.status_code == 200 and len(r.content) > 500, a
    assert client.get("/openapi.json").json()["paths"]["/api/v1/feedback"]


def test_the_bulk_bar_returns_to_the_same_tab_and_filters(client: TestClient, engine: Engine) -> None:
    with unit_of_work(engine) as s:
        # alerts, with the rectification deadline the SLA gives them
        ids = [add(s, i + 1, score=1, rectify_due_at=NOW + timedelta(days=1)).id for i in range(3)]
    signed_in(client, "canteen")
    token = csrf(client, "/console/feedback")
    r = client.post(
        "/console/feedback/bulk",
        data={
            "csrf": token,
            "ids": [str(i) for i in ids[:2]],
            "action": "acknowledge",
            "back": "tab=alerts_unacked&score=1&msg=x",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console/feedback?tab=alerts_unacked&score=1&msg=")
    page = client.get(r.headers["location"]).text
    assert "已处理2条" in page and "共 1 条" in page  # two acknowledged: one alert left unacknowledged
    # only a query string is taken back: never another site
    r = client.post(
        "/console/feedback/bulk",
        data={"csrf": token, "ids": [], "action": "close", "back": "//evil.example/x"},
        follow_redirects=False,
    )
    assert r.headers["location"].startswith("/console/feedback")
