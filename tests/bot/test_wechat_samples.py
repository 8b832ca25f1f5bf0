"""WeChat's and WeCom's own sample messages and events (tests/data/wechat_samples.py, verbatim from wechatpy's
and WeRoBot's test suites and the platforms' documentation) driven through /wechat and /wecom, signed and
AES-encrypted as WeChat sends them, each delivered twice (WeChat retries): the exact answer, stored once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from feedback.models import Feedback, InboundMessage, Site
from handlers import texts
from server.app import create_app
from tests.conftest import TEST_AES_KEY, make_settings
from tests.data.wechat_samples import SAMPLES, Sample
from tests.support.wechat_peer import WeChatPeer, cdata, xml_fields

# 2026-11-26 04:30 UTC is 12:30 in Asia/Shanghai: lunch on the 26th
NOW = datetime(2026, 11, 26, 4, 30, tzinfo=UTC)
CORP = "wx_corp_houqin"
FONDS = "示例市机关事务管理局"


@pytest.fixture
def client(db_url: str, tmp_path: Path, engine: Any) -> Iterator[TestClient]:
    settings = make_settings(
        db_url,
        tmp_path / "var",
        wecom_corpid=CORP,
        wecom_token="wecom-token",
        wecom_aes_key=TEST_AES_KEY,
    )
    with Session(engine) as s:  # one canteen: a typed feedback is filed there without asking
        s.add(Site(code="yst", name="机关一食堂"))
        s.commit()
    with time_machine.travel(NOW, tick=True), TestClient(create_app(settings, engine=engine)) as c:
        yield c


def _peer(app: str) -> WeChatPeer:
    if app == "wecom":
        return WeChatPeer(token="wecom-token", aes_key=TEST_AES_KEY, app_id=CORP)
    return WeChatPeer()


def deliver(client: TestClient, sample: Sample, *, nonce: str) -> tuple[int, str, bytes]:
    """Post the sample as WeChat does (safe mode: signed, encrypted); the status, body text and body."""
    peer = _peer(sample.app)
    params, body = peer.safe(sample.xml, nonce=nonce)
    path = "/wechat"
    if sample.app == "wecom":
        path = "/wecom"
        body = body.replace(
            b"<ToUserName><![CDATA[gh_houqin]]></ToUserName>",
            f"<ToUserName>{cdata(CORP)}</ToUserName><AgentID>1</AgentID>".encode(),
        )
    r = client.post(path, params=params, content=body)
    return r.status_code, r.text, r.content


def answer(sample: Sample, text: str, content: bytes) -> str:
    """The reply's text, "" for `success`; checks the reply is addressed back to the sample's sender."""
    if text in ("success", ""):
        return ""
    reply = _peer(sample.app).open_reply(content)
    assert reply["ToUserName"] == xml_fields(sample.xml.strip())["FromUserName"]
    assert reply["MsgType"] == "text" and 0 < len(reply["Content"].encode()) <= 2048
    return reply["Content"]


def count(engine: Any, model: Any) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def _help(staff: bool) -> str:
    menu = texts.HELP.format(fonds=FONDS, minutes=10)
    return menu + "\n\n" + texts.STAFF_HELP if staff else menu


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"{s.app}-{s.name}" for s in SAMPLES])
def test_sample_gets_the_answer_wechat_expects_and_is_stored_once(
    client: TestClient, engine: Any, sample: Sample
) -> None:
    status, text, content = deliver(client, sample, nonce="first")
    assert status == 200, text
    first = answer(sample, text, content)
    for i in range(2):  # WeChat's retries: the same answer, nothing stored again
        status, text, content = deliver(client, sample, nonce=f"retry{i}")
        assert status == 200 and answer(sample, text, content) == first
    assert count(engine, InboundMessage) == 1
    feedbacks = count(engine, Feedback)

    if sample.expect == "none":
        assert text == "success" and first == ""
        assert feedbacks == 0
    elif sample.expect == "welcome":
        assert first == texts.WELCOME.format(fonds=FONDS, minutes=10)
        assert feedbacks == 0
    elif sample.expect == "menu":
        assert first == _help(staff=sample.app == "wecom")  # a WeCom member is staff
        assert feedbacks == 0
    elif sample.expect == "unsupported":
        assert first == texts.UNSUPPORTED
        assert feedbacks == 0
    else:
        with Session(engine) as s:
            fb = s.execute(select(Feedback)).scalar_one()
        what = "机关一食堂·午餐（11月26日）的意见"
        assert (fb.score, fb.site_id is not None, fb.meal) == (None, True, "lunch")
        if sample.expect == "comment":
            assert first == texts.UNSCORED.format(what=what, ref=fb.reference, minutes=10)
            assert fb.comment == "this is a test"
        elif sample.expect == "photo":
            assert first == texts.PHOTO_NEW.format(what=what, ref=fb.reference)
        else:
            assert first == texts.VOICE_NEW.format(what=what, ref=fb.reference)
            assert fb.comment == ("Meow~" if "Recognition" in sample.xml else "")
    if sample.expect != "unsupported":
        assert texts.UNSUPPORTED not in first


def test_a_menu_photo_event_then_its_photo_answers_only_the_photo(client: TestClient, engine: Any) -> None:
    """拍照或者相册发图: WeChat sends pic_photo_or_album, then the photo itself as an image message."""
    by_name = {s.name: s for s in SAMPLES if s.app == "mp"}
    event = by_name["pic_photo_or_album"]
    sender = xml_fields(event.xml.strip())["FromUserName"]
    photo = Sample(
        "image",
        "mp",
        by_name["image"].source,
        "photo",
        by_name["image"].xml.replace("fromUser", sender).replace("1348831860", str(int(time.time()))),
    )
    status, text, _ = deliver(client, event, nonce="e")
    assert (status, text) == (200, "success")
    status, text, content = deliver(client, photo, nonce="p")
    with Session(engine) as s:
        fb = s.execute(select(Feedback)).scalar_one()
    assert answer(photo, text, content) == texts.PHOTO_NEW.format(
        what="机关一食堂·午餐（11月26日）的意见", ref=fb.reference
    )
    assert fb.sender == sender and count(engine, InboundMessage) == 2
