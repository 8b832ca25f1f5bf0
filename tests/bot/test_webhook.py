"""The /wechat and /wecom edge: verification, all three modes, refusals that store nothing, exactly-once."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from feedback.models import Feedback, InboundMessage
from server.app import create_app
from tests.conftest import make_settings
from tests.support.servers import serve
from tests.support.wechat_peer import (
    WeChatPeer,
    cdata,
    event_xml,
    image_xml,
    reply_text,
    sign,
    text_xml,
    voice_xml,
    xml_fields,
)

WECOM_TOKEN = "QDG6eK"
WECOM_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
WECOM_CORP = "wx5823bf96d3bd56c7"
# WeCom's documented sample request (developer.work.weixin.qq.com/document/path/90968)
WECOM_SAMPLE_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYY"
    "vuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+"
    "LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcr"
    "w8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z"
    "1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
WECOM_SAMPLE_ECHO = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="


@pytest.fixture
def client(settings, engine):  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


@pytest.fixture
def peer() -> WeChatPeer:
    return WeChatPeer()


def count(engine, model) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def post(client, params, body):  # type: ignore[no-untyped-def]
    return client.post("/wechat", params=params, content=body)


# --- URL verification -------------------------------------------------------------------------------


def test_get_plain_echoes_echostr(client, peer) -> None:  # type: ignore[no-untyped-def]
    params, _ = peer.plain("")
    r = client.get("/wechat", params={**params, "echostr": "1616140317555161061"})
    assert r.status_code == 200
    assert r.text == "1616140317555161061"  # as-is, not JSON-quoted


def test_get_bad_signature_403(client, peer) -> None:  # type: ignore[no-untyped-def]
    params, _ = peer.plain("")
    params["signature"] = "0" * 40
    assert client.get("/wechat", params={**params, "echostr": "x"}).status_code == 403


def test_get_safe_mode_decrypts_echostr(client, peer) -> None:  # type: ignore[no-untyped-def]
    ts, nonce = str(int(time.time())), "abc"
    encrypt = xml_fields(peer.crypt.encrypt_message("998877", ts, nonce))["Encrypt"]
    r = client.get(
        "/wechat",
        params={
            "timestamp": ts,
            "nonce": nonce,
            "msg_signature": sign(peer.token, ts, nonce, encrypt),
            "echostr": encrypt,
        },
    )
    assert r.status_code == 200 and r.text == "998877"


# --- the three modes ----------------------------------------------------------------------------------


def test_plain_mode_records_feedback(client, peer, engine) -> None:  # type: ignore[no-untyped-def]
    r = post(client, *peer.plain(text_xml("反馈 午餐 4 红烧肉偏咸")))
    text = reply_text(peer, r)
    assert "FK" in text and "4分" in text
    with Session(engine) as s:
        fb = s.execute(select(Feedback)).scalar_one()
    assert (fb.score, fb.meal, fb.comment) == (4, "lunch", "红烧肉偏咸")
    assert fb.reference in text


def test_safe_mode_reply_decrypts_with_independent_implementation(client, peer, engine) -> None:  # type: ignore[no-untyped-def]
    params, body = peer.safe(text_xml("4分 米饭偏硬"))
    r = post(client, params, body)
    assert r.status_code == 200
    envelope = xml_fields(r.content)
    assert set(envelope) >= {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    reply = peer.open_reply(r.content)  # WeRoBot checks the signature and decrypts
    assert reply["ToUserName"] == "o_diner_1" and reply["MsgType"] == "text"
    assert "米饭" not in reply["Content"] and "4分" in reply["Content"]
    with Session(engine) as s:
        assert s.execute(select(Feedback.comment)).scalar_one() == "米饭偏硬"


def test_compatible_mode_is_decrypted_and_answered_encrypted(client, peer, engine) -> None:  # type: ignore[no-untyped-def]
    r = post(client, *peer.compatible(text_xml("一般 汤太淡")))
    assert "Encrypt" in xml_fields(r.content)
    assert "3分" in peer.open_reply(r.content)["Content"]
    assert count(engine, Feedback) == 1


def test_production_refuses_plaintext(db_url, tmp_path, peer, engine) -> None:  # type: ignore[no-untyped-def]
    s = make_settings(db_url, tmp_path / "p", env="production", pseudonym_secret="s3cret", link_secret="l")
    with TestClient(create_app(s, engine=engine)) as c:
        assert post(c, *peer.plain(text_xml("5"))).status_code == 403
        assert reply_text(peer, post(c, *peer.safe(text_xml("5")))) != ""
    assert count(engine, InboundMessage) == 1


# --- refusals store nothing --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_forged_signatures_403_and_nothing_stored(client, peer, engine, mode) -> None:  # type: ignore[no-untyped-def]
    params, body = getattr(peer, mode)(text_xml("5 很好"))
    key = "signature" if mode == "plain" else "msg_signature"
    for forged in ("", "0" * 40, params[key][:-1] + ("0" if params[key][-1] != "0" else "1")):
        bad = {**params, key: forged}
        assert post(client, bad, body).status_code == 403
    wrong_token = WeChatPeer(token="not-the-token")
    assert post(client, *getattr(wrong_token, mode)(text_xml("5"))).status_code == 403
    assert count(engine, InboundMessage) == 0 and count(engine, Feedback) == 0


def test_stale_timestamp_403(client, peer, engine) -> None:  # type: ignore[no-untyped-def]
    old = int(time.time()) - 3600
    assert post(client, *peer.safe(text_xml("5"), timestamp=old)).status_code == 403
    assert post(client, *peer.plain(text_xml("5"), timestamp=old)).status_code == 403
    assert count(engine, InboundMessage) == 0


XXE = """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>a</ToUserName><FromUserName>o_x</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"""
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    + "]><xml><FromUserName>o</FromUserName><MsgType>text</MsgType><Content>&lol9;</Content><MsgId>2</MsgId></xml>"
)


@pytest.mark.parametrize(
    "body",
    [
        XXE,
        LAUGHS,
        "<xml><FromUserName>o</FromUserName><MsgType>text",  # truncated
        "not xml at all",
        "<notxml><a>1</a></notxml>",
        "<xml>" + "<a>" * 50 + "x" + "</a>" * 50 + "</xml>",  # too deep
        "<xml><Content>hi</Content></xml>",  # no sender or type
    ],
    ids=["xxe", "billion-laughs", "truncated", "garbage", "wrong-root", "deep", "incomplete"],
)
def test_hostile_xml_4xx_nothing_stored(client, peer, engine, body) -> None:  # type: ignore[no-untyped-def]
    for mode in ("plain", "safe"):
        r = post(client, *getattr(peer, mode)(body))
        assert r.status_code == 400, r.text
        assert "Traceback" not in r.text and "/etc/passwd" not in r.text
    assert count(engine, InboundMessage) == 0


def test_oversized_body_413_nothing_stored(client, peer, engine) -> None:  # type: ignore[no-untyped-def]
    big = text_xml("很" * 30000)  # ~90 KB of UTF-8
    assert post(client, *peer.plain(big)).status_code == 413
    params, _ = peer.plain("x")
    # no Content-Length: the cap still holds while streaming
    r = client.post("/wechat", params=params, content=iter([b"<xml>", b"a" * 70000, b"</xml>"]))
    assert r.status_code == 413
    assert count(engine, InboundMessage) == 0


def test_encrypted_without_key_is_refused(db_url, tmp_path, peer, engine) -> None:  # type: ignore[no-untyped-def]
    s = make_settings(db_url, tmp_path / "nk", wechat_aes_key="")
    with TestClient(create_app(s, engine=engine)) as c:
        assert post(c, *peer.safe(text_xml("5"))).status_code == 400
    assert count(engine, InboundMessage) == 0


def test_ciphertext_for_another_app_is_refused(client, engine) -> None:  # type: ignore[no-untyped-def]
    other = WeChatPeer(app_id="wx_someone_else")
    assert post(client, *other.safe(text_xml("5"))).status_code == 400
    assert count(engine, InboundMessage) == 0


# --- unknown types get a polite reply ----------------------------------------------------------------


@pytest.mark.parametrize(
    "xml",
    [
        "<xml><ToUserName>g</ToUserName><FromUserName>o_u</FromUserName><CreateTime>1700000000</CreateTime>"
        "<MsgType>shortvideo</MsgType><MediaId>m</MediaId><MsgId>77001</MsgId></xml>",
        "<xml><ToUserName>g</ToUserName><FromUserName>o_u</FromUserName><CreateTime>1700000000</CreateTime>"
        "<MsgType>hologram</MsgType><MsgId>77002</MsgId></xml>",
        "<xml><ToUserName>g</ToUserName><FromUserName>o_u</FromUserName><CreateTime>1700000000</CreateTime>"
        "<MsgType>location</MsgType><Location_X>1</Location_X><Location_Y>2</Location_Y><Scale>3</Scale>"
        "<Label>x</Label><MsgId>77003</MsgId></xml>",
    ],
    ids=["shortvideo", "unknown-type", "location"],
)
def test_unknown_types_polite(client, peer, engine, xml) -> None:  # type: ignore[no-untyped-def]
    text = reply_text(peer, post(client, *peer.safe(xml)))
    assert "暂不支持" in text
    assert count(engine, InboundMessage) == 1 and count(engine, Feedback) == 0


def test_unsubscribe_answers_success(client, peer) -> None:  # type: ignore[no-untyped-def]
    r = post(client, *peer.safe(event_xml("unsubscribe")))
    assert r.status_code == 200 and r.text == "success"


# --- exactly once ----------------------------------------------------------------------------------------


def test_retry_gets_same_reply_and_stores_once(client, peer, engine) -> None:  # type: ignore[no-untyped-def]
    xml = text_xml("4分 红烧肉偏咸", msg_id=424242)
    first = reply_text(peer, post(client, *peer.safe(xml, nonce="a")))
    again = [reply_text(peer, post(client, *peer.safe(xml, nonce=f"r{i}"))) for i in range(3)]
    assert again == [first] * 3
    assert count(engine, Feedback) == 1 and count(engine, InboundMessage) == 1


def test_event_retries_dedupe_on_sender_time_event(client, peer, engine) -> None:  # type: ignore[no-untyped-def]
    xml = event_xml("CLICK", key="FEEDBACK", create=1764000000)
    replies = {reply_text(peer, post(client, *peer.safe(xml, nonce=f"n{i}"))) for i in range(3)}
    assert len(replies) == 1 and count(engine, InboundMessage) == 1


def test_concurrent_copies_store_one_feedback(settings, engine, peer) -> None:  # type: ignore[no-untyped-def]
    """Three copies of one MsgId arriving at once over real HTTP: one feedback, one reference for all."""
    app = create_app(settings, engine=engine)
    with serve(app) as base:
        for round_ in range(5):
            xml = text_xml(f"反馈 晚餐 2 菜凉了 {round_}", msg_id=900000 + round_, sender=f"o_c{round_}")
            reqs = [peer.safe(xml, nonce=f"c{i}") for i in range(3)]

            def send(req: tuple[dict[str, str], bytes]) -> str:
                return reply_text(
                    peer, httpx.post(base + "/wechat", params=req[0], content=req[1], timeout=10)
                )

            with concurrent.futures.ThreadPoolExecutor(3) as pool:
                replies = list(pool.map(send, reqs))
            assert len(set(replies)) == 1 and "FK" in replies[0]
    assert count(engine, Feedback) == 5 and count(engine, InboundMessage) == 5


# --- photos, voice, replies ------------------------------------------------------------------------------


def test_photo_and_voice_join_the_window(client, peer, engine) -> None:  # type: ignore[no-untyped-def]
    reply_text(peer, post(client, *peer.safe(text_xml("反馈", sender="o_p"))))
    reply_text(peer, post(client, *peer.safe(text_xml("5", sender="o_p"))))
    assert "照片已收到" in reply_text(peer, post(client, *peer.safe(image_xml(sender="o_p"))))
    assert "语音" in reply_text(peer, post(client, *peer.safe(voice_xml("鱼很新鲜", sender="o_p"))))
    with Session(engine) as s:
        fb = s.execute(select(Feedback)).scalar_one()
    assert fb.score == 5 and "鱼很新鲜" in fb.comment


def test_cdata_terminator_in_text_keeps_reply_well_formed(client, peer) -> None:  # type: ignore[no-untyped-def]
    reply = reply_text(peer, post(client, *peer.safe(text_xml("会议 ]]><x>"))))
    assert reply  # parsed back: the reply XML survived the user's ]]>


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=600).filter(lambda s: "\x00" not in s))
def test_any_text_gets_a_parsable_reply_within_limits(client, peer, text) -> None:  # type: ignore[no-untyped-def]
    cleaned = "".join(
        c
        for c in text
        if c in "\t\n\r"
        or (ord(c) >= 0x20 and not 0xD800 <= ord(c) <= 0xDFFF and ord(c) not in (0xFFFE, 0xFFFF))
    )
    if not cleaned.strip():
        return
    r = post(client, *peer.safe(text_xml(cleaned)))
    assert r.status_code == 200
    content = peer.open_reply(r.content)["Content"]
    assert 0 < len(content.encode()) <= 2048


# --- WeCom, with the official sample vectors ---------------------------------------------------------------


def test_wecom_official_sample_vectors(db_url, tmp_path: Path, engine) -> None:  # type: ignore[no-untyped-def]
    s = make_settings(
        db_url,
        tmp_path / "w",
        wecom_corpid=WECOM_CORP,
        wecom_token=WECOM_TOKEN,
        wecom_aes_key=WECOM_KEY,
        timestamp_window_s=10**10,  # the samples are from 2014
    )
    with TestClient(create_app(s, engine=engine)) as c:
        r = c.get(
            "/wecom",
            params={
                "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
                "timestamp": "1409659589",
                "nonce": "263014780",
                "echostr": WECOM_SAMPLE_ECHO,
            },
        )
        assert r.status_code == 200 and r.text == "1616140317555161061"
        body = f"<xml><ToUserName>{cdata(WECOM_CORP)}</ToUserName><Encrypt>{cdata(WECOM_SAMPLE_ENCRYPT)}</Encrypt><AgentID>218</AgentID></xml>"
        params = {
            "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
            "timestamp": "1409659813",
            "nonce": "1372623149",
        }
        r = c.post("/wecom", params=params, content=body)
        assert r.status_code == 200
        peer = WeChatPeer(token=WECOM_TOKEN, aes_key=WECOM_KEY, app_id=WECOM_CORP)
        reply = peer.open_reply(r.content)
        assert reply["ToUserName"] == "mycreate" and reply["Content"]
        bad = {**params, "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e7"}
        assert c.post("/wecom", params=bad, content=body).status_code == 403
    with Session(engine) as sess:
        row = sess.execute(select(InboundMessage)).scalar_one()
    assert row.dedupe_key == "wecom:m:mycreate:4561255354251345929" and row.sender == "mycreate"


# --- QR scenes end to end ------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["subscribe", "SCAN"])
def test_qr_scene_opens_the_site_window(client, peer, engine, how) -> None:  # type: ignore[no-untyped-def]
    from feedback.models import Site

    with Session(engine) as s:
        s.add(Site(code="yst", name="机关一食堂"))
        s.commit()
    key = "qrscene_canteen:yst:12" if how == "subscribe" else "canteen:yst:12"
    prompt = reply_text(peer, post(client, *peer.safe(event_xml(how, key=key, sender="o_qr"))))
    assert "机关一食堂" in prompt
    reply_text(peer, post(client, *peer.safe(text_xml("5 很好吃", sender="o_qr"))))
    with Session(engine) as s:
        fb = s.execute(select(Feedback)).scalar_one()
    assert (fb.table_no, fb.score) == ("12", 5) and fb.site_id is not None


def test_database_down_is_spooled_and_answered(settings, peer) -> None:  # type: ignore[no-untyped-def]
    # the outage path itself (replay, exactly once) is tested in tests/ingest/test_spool.py and test_faults.py
    from bot.texts import SPOOLED_REPLY
    from core.db import make_engine

    dead = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1")
    with TestClient(create_app(settings, engine=dead)) as c:
        r = post(c, *peer.safe(text_xml("5")))
        assert reply_text(peer, r) == SPOOLED_REPLY and "Traceback" not in r.text


# --- issue 11: dedupe keys by sender, events never by MsgID, the timestamp parsed safely ---


def test_two_senders_with_one_msgid_are_both_stored_and_answered_their_own_reference(  # type: ignore[no-untyped-def]
    client, peer, engine
) -> None:
    a = reply_text(peer, post(client, *peer.safe(text_xml("4分 红烧肉偏咸", sender="o_a", msg_id=333))))
    b = reply_text(peer, post(client, *peer.safe(text_xml("2分 米饭太硬", sender="o_b", msg_id=333))))
    with Session(engine) as s:
        refs = {f.sender: f.reference for f in s.execute(select(Feedback)).scalars()}
    assert set(refs) == {"o_a", "o_b"} and refs["o_a"] != refs["o_b"]
    assert refs["o_a"] in a and refs["o_b"] in b and refs["o_a"] not in b
    assert count(engine, InboundMessage) == 2


def test_template_and_mass_send_events_are_not_deduped_by_their_msgid(client, peer, engine) -> None:  # type: ignore[no-untyped-def]
    def job_done(event: str, create: int) -> str:
        return (
            "<xml><ToUserName>gh_houqin</ToUserName><FromUserName>o_ev</FromUserName>"
            f"<CreateTime>{create}</CreateTime><MsgType>event</MsgType><Event>{event}</Event>"
            "<MsgID>555</MsgID><Status>success</Status></xml>"
        )

    now = int(time.time())
    # a diner's text with the same number, then two completions with it: three deliveries, three rows
    post(client, *peer.safe(text_xml("5分 好", sender="o_ev", msg_id=555)))
    assert post(client, *peer.safe(job_done("TEMPLATESENDJOBFINISH", now))).status_code == 200
    assert post(client, *peer.safe(job_done("MASSSENDJOBFINISH", now + 1))).status_code == 200
    assert count(engine, InboundMessage) == 3


@pytest.mark.parametrize("timestamp", ["9" * 400, "1" * 13, "²", "１７６４００００００", "-1", ""])
def test_malformed_timestamps_are_403_not_500(client, peer, engine, timestamp) -> None:  # type: ignore[no-untyped-def]
    params, body = peer.safe(text_xml("5"))
    params["timestamp"] = timestamp
    assert post(client, params, body).status_code == 403
    params, body = peer.plain(text_xml("5"))
    assert client.get("/wechat", params={**params, "timestamp": timestamp, "echostr": "x"}).status_code == 403
    assert count(engine, InboundMessage) == 0
