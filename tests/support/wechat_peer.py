"""Plays WeChat's servers in tests: builds messages, signs and encrypts them with WeRoBot's independent
implementation of WeChat's scheme (not wechatpy, which houqin itself uses), and decrypts replies."""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from werobot.crypto import MessageCrypt

from tests.conftest import TEST_AES_KEY, TEST_APPID, TEST_TOKEN

_ids = itertools.count(int(time.time() * 1000) % 10**9 * 1000)


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def cdata(s: str) -> str:
    return "<![CDATA[" + s.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_xml(
    content: str, *, sender: str = "o_diner_1", msg_id: int | None = None, create: int | None = None
) -> str:
    return (
        f"<xml><ToUserName>{cdata('gh_houqin')}</ToUserName><FromUserName>{cdata(sender)}</FromUserName>"
        f"<CreateTime>{create or int(time.time())}</CreateTime><MsgType>{cdata('text')}</MsgType>"
        f"<Content>{cdata(content)}</Content><MsgId>{msg_id if msg_id is not None else next(_ids)}</MsgId></xml>"
    )


def event_xml(
    event: str, *, key: str | None = None, sender: str = "o_diner_1", create: int | None = None
) -> str:
    key_xml = f"<EventKey>{cdata(key)}</EventKey>" if key is not None else ""
    return (
        f"<xml><ToUserName>{cdata('gh_houqin')}</ToUserName><FromUserName>{cdata(sender)}</FromUserName>"
        f"<CreateTime>{create or int(time.time())}</CreateTime><MsgType>{cdata('event')}</MsgType>"
        f"<Event>{cdata(event)}</Event>{key_xml}</xml>"
    )


def image_xml(*, sender: str = "o_diner_1", media_id: str = "MEDIA_1", msg_id: int | None = None) -> str:
    return (
        f"<xml><ToUserName>{cdata('gh_houqin')}</ToUserName><FromUserName>{cdata(sender)}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{cdata('image')}</MsgType>"
        f"<PicUrl>{cdata('http://mmbiz.example/pic.jpg')}</PicUrl><MediaId>{cdata(media_id)}</MediaId>"
        f"<MsgId>{msg_id if msg_id is not None else next(_ids)}</MsgId></xml>"
    )


def voice_xml(recognition: str, *, sender: str = "o_diner_1", media_id: str = "VOICE_1") -> str:
    return (
        f"<xml><ToUserName>{cdata('gh_houqin')}</ToUserName><FromUserName>{cdata(sender)}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{cdata('voice')}</MsgType>"
        f"<MediaId>{cdata(media_id)}</MediaId><Format>{cdata('amr')}</Format>"
        f"<Recognition>{cdata(recognition)}</Recognition><MsgId>{next(_ids)}</MsgId></xml>"
    )


def xml_fields(xml: str | bytes) -> dict[str, str]:
    root = ElementTree.fromstring(xml)
    return {child.tag: (child.text or "") for child in root}


@dataclass
class WeChatPeer:
    """Signs (and, in safe mode, encrypts) requests the way WeChat does."""

    token: str = TEST_TOKEN
    aes_key: str = TEST_AES_KEY
    app_id: str = TEST_APPID
    path: str = "/wechat"
    crypt: MessageCrypt = field(init=False)

    def __post_init__(self) -> None:
        self.crypt = MessageCrypt(self.token, self.aes_key, self.app_id)

    def plain(
        self, xml: str, *, timestamp: int | None = None, nonce: str = "n0nce"
    ) -> tuple[dict[str, str], bytes]:
        ts = str(timestamp or int(time.time()))
        return {"timestamp": ts, "nonce": nonce, "signature": sign(self.token, ts, nonce)}, xml.encode()

    def safe(
        self, xml: str, *, timestamp: int | None = None, nonce: str = "n0nce"
    ) -> tuple[dict[str, str], bytes]:
        ts = str(timestamp or int(time.time()))
        envelope = xml_fields(self.crypt.encrypt_message(xml, ts, nonce))
        encrypt = envelope["Encrypt"]
        params = {
            "timestamp": ts,
            "nonce": nonce,
            "signature": sign(self.token, ts, nonce),
            "encrypt_type": "aes",
            "msg_signature": sign(self.token, ts, nonce, encrypt),
        }
        body = f"<xml><ToUserName>{cdata('gh_houqin')}</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>"
        return params, body.encode()

    def compatible(self, xml: str, *, nonce: str = "n0nce") -> tuple[dict[str, str], bytes]:
        """Compatible mode: plaintext fields and <Encrypt> side by side in one body."""
        params, _ = self.safe(xml, nonce=nonce)
        encrypt = self.encrypt_field(xml, params)
        inner = xml.removeprefix("<xml>").removesuffix("</xml>")
        return params, f"<xml>{inner}<Encrypt>{cdata(encrypt)}</Encrypt></xml>".encode()

    def encrypt_field(self, xml: str, params: dict[str, str]) -> str:
        envelope = xml_fields(self.crypt.encrypt_message(xml, params["timestamp"], params["nonce"]))
        params["msg_signature"] = sign(self.token, params["timestamp"], params["nonce"], envelope["Encrypt"])
        return envelope["Encrypt"]

    def open_reply(self, body: bytes) -> dict[str, str]:
        """Decrypt (when encrypted) and parse a passive reply, checking its signature."""
        fields = xml_fields(body)
        if "Encrypt" in fields:
            plain = self.crypt.decrypt_message(
                fields["TimeStamp"], fields["Nonce"], fields["MsgSignature"], fields["Encrypt"]
            )
            return xml_fields(plain)
        return fields


def reply_text(peer: WeChatPeer, response: Any) -> str:
    assert response.status_code == 200, response.text
    if response.text == "success":
        return ""
    return peer.open_reply(response.content).get("Content", "")
