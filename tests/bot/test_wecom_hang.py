"""A hanging WeCom API stalls nobody (issue 11 finding 5): an Official Account diner writing while an unknown
WeCom member's look-up hangs is answered normally within 1 s and stored; the WeCom member within WeChat's
5 s, stored too; the member's next message does not ask WeCom again. Real servers on loopback: the app
under uvicorn, the fake WeChat API, signed AES XML both ways."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from bot.texts import SPOOLED_REPLY
from feedback.models import Feedback, InboundMessage
from server.app import create_app
from tests.conftest import make_settings
from tests.support.fake_wechat import FakeWeChat, running
from tests.support.servers import serve
from tests.support.wechat_peer import WeChatPeer, cdata, reply_text, text_xml

WECOM_TOKEN = "wtoken"
WECOM_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
WECOM_CORP = "ww_corp"


def wecom_text(content: str, *, sender: str, msg_id: int) -> str:
    return (
        f"<xml><ToUserName>{cdata(WECOM_CORP)}</ToUserName><FromUserName>{cdata(sender)}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{cdata('text')}</MsgType>"
        f"<Content>{cdata(content)}</Content><MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>"
    )


@pytest.fixture
def api() -> Iterator[tuple[FakeWeChat, str]]:
    with running({"lisi": {"name": "李四", "department": [3]}}) as served:
        yield served


@pytest.fixture
def app_url(db_url: str, tmp_path: Path, engine: Engine, api: tuple[FakeWeChat, str]) -> Iterator[str]:
    settings = make_settings(
        db_url,
        tmp_path / "var",
        wecom_corpid=WECOM_CORP,
        wecom_token=WECOM_TOKEN,
        wecom_aes_key=WECOM_KEY,
        wecom_secret="wsecret",
        wecom_agentid="1000002",
        wecom_api_base=api[1],
    )
    with serve(create_app(settings, engine=engine)) as url:
        yield url


def post_wecom(base: str, peer: WeChatPeer, xml: str) -> tuple[httpx.Response, float]:
    params, body = peer.safe(xml)
    query = {k: v for k, v in params.items() if k in ("timestamp", "nonce", "msg_signature")}
    started = time.monotonic()
    r = httpx.post(f"{base}/wecom", params=query, content=body, timeout=30)
    return r, time.monotonic() - started


def count(engine: Engine, model: type, sender: str) -> int:
    with Session(engine) as s:
        return int(
            s.execute(
                select(func.count()).select_from(model).where(col(model.sender) == sender)  # type: ignore[attr-defined]
            ).scalar_one()
        )


@pytest.mark.parametrize("hanging", ["user/get", "gettoken"])
def test_a_hanging_wecom_api_stalls_no_one(
    app_url: str, engine: Engine, api: tuple[FakeWeChat, str], hanging: str
) -> None:
    fake = api[0]
    fake.hang[hanging] = 12
    wecom_peer = WeChatPeer(token=WECOM_TOKEN, aes_key=WECOM_KEY, app_id=WECOM_CORP)
    diner = WeChatPeer()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        member = pool.submit(
            post_wecom, app_url, wecom_peer, wecom_text("反馈 午餐 2 米饭偏硬", sender="lisi", msg_id=1)
        )
        deadline = time.monotonic() + 2
        while fake.hits[hanging] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fake.hits[hanging] == 1  # the member's look-up now waits for WeCom
        params, body = diner.safe(text_xml("反馈 午餐 4 红烧肉偏咸", sender="o_diner_hang"))
        started = time.monotonic()
        r = httpx.post(f"{app_url}/wechat", params=params, content=body, timeout=30)
        diner_s = time.monotonic() - started
        answer = reply_text(diner, r)
        member_r, member_s = member.result(timeout=30)
    assert diner_s < 1.0, diner_s
    assert answer != SPOOLED_REPLY and "FK" in answer and "4分" in answer
    assert count(engine, Feedback, "o_diner_hang") == 1
    assert member_s < 5.0, member_s  # WeChat gives up at 5 s
    assert reply_text(wecom_peer, member_r) != SPOOLED_REPLY
    assert count(engine, InboundMessage, "lisi") == 1

    # the same member again: the failed look-up is remembered, WeCom is not asked, nothing waits
    looked_up = fake.hits["user/get"] + fake.hits["gettoken"]
    again, again_s = post_wecom(app_url, wecom_peer, wecom_text("谢谢", sender="lisi", msg_id=2))
    assert again.status_code == 200 and again_s < 1.0, again_s
    assert fake.hits["user/get"] + fake.hits["gettoken"] == looked_up
    assert count(engine, InboundMessage, "lisi") == 2
