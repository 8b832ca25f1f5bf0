"""WeChat XML: parsed messages to `Incoming`, dedupe keys, passive replies and the safe-mode envelope.

The hardened parser itself lives in `core.xmlsafe` (shared with the console)."""

from __future__ import annotations

import time
from typing import Any

from wechatpy.enterprise.events import EVENT_TYPES as WECOM_EVENT_TYPES
from wechatpy.enterprise.messages import MESSAGE_TYPES as WECOM_MESSAGE_TYPES
from wechatpy.events import EVENT_TYPES
from wechatpy.messages import MESSAGE_TYPES, UnknownMessage

from core.clock import from_epoch
from core.xmlsafe import cdata
from handlers.router import Incoming


def wechatpy_message(data: dict[str, Any], *, wecom: bool = False) -> Any:
    """Build wechatpy's message or event object from a parsed dict (as `wechatpy.parse_message` does)."""
    data = dict(data)
    msg_type = str(data.get("MsgType", "")).lower()
    if msg_type == "event":
        event = str(data.get("Event", "")).lower()
        key = str(data.get("EventKey") or "")
        if event == "subscribe" and key.startswith("qrscene_"):
            event = "subscribe_scan"
            data["Event"] = event
            data["EventKey"] = key[len("qrscene_") :]
        return (WECOM_EVENT_TYPES if wecom else EVENT_TYPES).get(event, UnknownMessage)(data)
    return (WECOM_MESSAGE_TYPES if wecom else MESSAGE_TYPES).get(msg_type, UnknownMessage)(data)


def to_incoming(data: dict[str, Any], *, app: str) -> Incoming:
    """Our handler-facing view of an inbound message."""
    msg = wechatpy_message(data, wecom=app == "wecom")
    msg_type = str(data.get("MsgType", "")).lower() or "unknown"
    if isinstance(msg, UnknownMessage) and msg_type != "event":
        msg_type = "unknown"
    try:
        created = int(data.get("CreateTime") or 0)
    except (TypeError, ValueError):
        created = 0
    event = None
    event_key = ""
    if msg_type == "event":
        # wechatpy's object carries the rewritten event (subscribe + qrscene_ → subscribe_scan)
        event = str(getattr(msg, "event", None) or data.get("Event", "")).lower() or "unknown"
        event_key = str(
            getattr(msg, "scene_id", None) or getattr(msg, "key", None) or data.get("EventKey") or ""
        )
    try:
        msg_id = int(data.get("MsgId") or 0)
    except (TypeError, ValueError):
        msg_id = 0
    return Incoming(
        app=app,
        sender=str(data.get("FromUserName") or ""),
        msg_type=msg_type,
        created_at=from_epoch(created or int(time.time())),
        content=str(data.get("Content") or ""),
        event=event,
        event_key=event_key,
        media_id=str(data.get("MediaId") or ""),
        pic_url=str(data.get("PicUrl") or ""),
        recognition=str(data.get("Recognition") or ""),
        msg_id=msg_id,
    )


def dedupe_key(data: dict[str, Any], *, app: str) -> str:
    """Messages by app + sender + MsgId (MsgIds are not unique across senders); events — which WeChat
    sometimes gives a MsgID of their own (template and mass-send completions) — never by that MsgID, but by
    sender + CreateTime + Event + EventKey (+ AgentID for WeCom)."""
    sender = str(data.get("FromUserName") or "")
    msg_type = str(data.get("MsgType") or "").lower()
    msg_id = data.get("MsgId") or data.get("MsgID")
    if msg_id and msg_type != "event":
        return f"{app}:m:{sender}:{msg_id}"
    key = str(data.get("EventKey") or "")[:100]
    event = str(data.get("Event", "")).lower()
    agent = f":{data.get('AgentID')}" if app == "wecom" and data.get("AgentID") else ""
    return f"{app}:e:{sender}:{data.get('CreateTime', '')}:{event}:{key}{agent}"


def text_reply_xml(*, to_user: str, from_user: str, content: str, now: int | None = None) -> str:
    """A passive text reply."""
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{now if now is not None else int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content>{cdata(content)}</Content></xml>"
    )


def encrypted_envelope(*, encrypt: str, signature: str, timestamp: str, nonce: str) -> str:
    """The safe-mode reply envelope."""
    return (
        f"<xml><Encrypt>{cdata(encrypt)}</Encrypt><MsgSignature>{cdata(signature)}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>"
    )
