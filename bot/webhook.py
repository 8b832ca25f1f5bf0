"""The WeChat callback endpoints: `/wechat` (Official Account) and `/wecom` (WeCom self-built app).

Order at the edge (DESIGN §3): cap the body (413) before any parsing; check the timestamp window and the
signature in constant time (403, nothing stored); decrypt; parse hardened XML (400); then ingest exactly
once and answer with a passive reply, encrypted when the request was.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from bot.ingest import Delivery, Ingestor
from bot.wxcrypto import Cipher, DecryptError, SignatureError, check_timestamp, signature, verify
from bot.xmlmsg import BadXml, dedupe_key, encrypted_envelope, parse_xml, text_reply_xml, to_incoming
from core.settings import Settings

log = logging.getLogger("houqin.webhook")
router = APIRouter(tags=["wechat"])

XML = "application/xml; charset=utf-8"


class BodyTooLarge(Exception):
    """The request body is over the cap."""


@dataclass(frozen=True)
class AppKeys:
    """The secrets of one WeChat app: Official Account (`mp`) or WeCom (`wecom`)."""

    app: str
    token: str
    aes_key: str
    app_id: str

    @property
    def cipher(self) -> Cipher | None:
        if not self.aes_key:
            return None
        return Cipher(aes_key=self.aes_key, app_id=self.app_id, wecom=self.app == "wecom")


def _keys(settings: Settings, app: str) -> AppKeys:
    if app == "wecom":
        return AppKeys("wecom", settings.wecom_token, settings.wecom_aes_key, settings.wecom_corpid)
    return AppKeys("mp", settings.wechat_token, settings.wechat_aes_key, settings.wechat_appid)


async def read_capped(request: Request, limit: int) -> bytes:
    """Read the body, refusing it as soon as it passes `limit` bytes (before any parsing)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse(status: int, reason: str) -> Response:
    log.info("refused %d: %s", status, reason)
    return PlainTextResponse(reason, status_code=status)


def _verify_get(settings: Settings, keys: AppKeys, q: dict[str, str]) -> str:
    check_timestamp(q.get("timestamp"), window_s=settings.timestamp_window_s)
    echostr = q.get("echostr", "")
    if "msg_signature" in q:
        verify(q["msg_signature"], keys.token, q.get("timestamp", ""), q.get("nonce", ""), echostr)
        cipher = keys.cipher
        if cipher is None:
            raise DecryptError("no AES key configured")
        return cipher.decrypt(echostr)
    if keys.app == "wecom":
        raise SignatureError("WeCom always signs with msg_signature")
    verify(q.get("signature"), keys.token, q.get("timestamp", ""), q.get("nonce", ""))
    return echostr


async def _get(request: Request, app: str) -> Response:
    settings: Settings = request.app.state.settings
    keys = _keys(settings, app)
    try:
        echo = _verify_get(settings, keys, dict(request.query_params))
    except SignatureError as exc:
        return _refuse(403, f"forbidden: {exc}")
    except DecryptError as exc:
        return _refuse(400, f"bad echostr: {exc}")
    return PlainTextResponse(echo)


async def _post(request: Request, app: str) -> Response:
    settings: Settings = request.app.state.settings
    keys = _keys(settings, app)
    q = request.query_params
    try:
        body = await read_capped(request, settings.max_body_bytes)
    except BodyTooLarge:
        return _refuse(413, "request body too large")
    timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
    encrypted = app == "wecom" or q.get("encrypt_type", "raw").lower() == "aes"
    try:
        check_timestamp(timestamp, window_s=settings.timestamp_window_s)
        if encrypted:
            cipher = keys.cipher
            if cipher is None:
                return _refuse(400, "encrypted message but no AES key is configured")
            envelope = parse_xml(body)
            encrypt = envelope.get("Encrypt")
            if not isinstance(encrypt, str) or not encrypt:
                return _refuse(400, "encrypted message without <Encrypt>")
            verify(q.get("msg_signature"), keys.token, timestamp, nonce, encrypt)
            raw_xml = cipher.decrypt(encrypt)
            data = parse_xml(raw_xml)
        else:
            # the plaintext signature does not cover the body: production refuses this mode
            verify(q.get("signature"), keys.token, timestamp, nonce)
            if settings.env == "production":
                return _refuse(403, "plaintext mode is refused in production; use safe (AES) mode")
            data = parse_xml(body)
            raw_xml = body.decode("utf-8", errors="replace")
    except SignatureError as exc:
        return _refuse(403, f"forbidden: {exc}")
    except DecryptError as exc:
        return _refuse(400, f"cannot decrypt: {exc}")
    except BadXml as exc:
        return _refuse(400, f"bad XML: {exc}")
    if not data.get("FromUserName") or not data.get("MsgType"):
        return _refuse(400, "bad XML: not a WeChat message")

    ingestor: Ingestor = request.app.state.ingestor
    delivery = Delivery(key=dedupe_key(data, app=app), incoming=to_incoming(data, app=app), raw_xml=raw_xml)
    result = await ingestor.submit(delivery)
    if not result.reply:
        return PlainTextResponse("success")
    reply = text_reply_xml(
        to_user=str(data.get("FromUserName")), from_user=str(data.get("ToUserName") or ""), content=result.reply
    )
    if encrypted:
        cipher = keys.cipher
        assert cipher is not None
        encrypt = cipher.encrypt(reply)
        ts = str(int(time.time()))
        reply = encrypted_envelope(
            encrypt=encrypt, signature=signature(keys.token, ts, nonce, encrypt), timestamp=ts, nonce=nonce
        )
    return Response(reply, media_type=XML)


@router.get("/wechat", response_class=PlainTextResponse, summary="Official Account URL verification")
async def wechat_verify(request: Request) -> Response:
    """Echo `echostr` when the signature is WeChat's (plain), or decrypt it (msg_signature, safe mode)."""
    return await _get(request, "mp")


@router.post("/wechat", summary="Official Account messages and events (plain, compatible or safe mode)")
async def wechat_message(request: Request) -> Response:
    """Verify, decrypt, dedupe, route, and answer with a passive reply."""
    return await _post(request, "mp")


@router.get("/wecom", response_class=PlainTextResponse, summary="WeCom URL verification")
async def wecom_verify(request: Request) -> Response:
    """Decrypt and echo WeCom's `echostr`."""
    if not request.app.state.settings.wecom_enabled:
        return _refuse(404, "WeCom is not configured")
    return await _get(request, "wecom")


@router.post("/wecom", summary="WeCom messages and events (always encrypted)")
async def wecom_message(request: Request) -> Response:
    """Verify, decrypt, dedupe, route, and answer with an encrypted passive reply."""
    if not request.app.state.settings.wecom_enabled:
        return _refuse(404, "WeCom is not configured")
    return await _post(request, "wecom")
