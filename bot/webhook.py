"""The WeChat callback endpoints: `/wechat` (Official Account) and `/wecom` (WeCom self-built app).

GET is URL verification. POST caps the body (413) before any parsing, then `handle_post` (bot/intake.py)
verifies, decrypts, parses, ingests and answers. From outside, POSTs are taken by the ASGI fast path
(bot/fastpath.py) before they reach these routes; the routes serve the OpenAPI docs, the simulator (which
posts to the inner FastAPI app) and `/wecom` while WeCom is not configured (404).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from bot.intake import AppKeys, app_keys, handle_post
from bot.wxcrypto import DecryptError, SignatureError, check_timestamp, verify
from core.settings import Settings

log = logging.getLogger("houqin.webhook")
router = APIRouter(tags=["wechat"])


class BodyTooLarge(Exception):
    """The request body is over the cap."""


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
    keys = app_keys(settings, app)
    try:
        echo = _verify_get(settings, keys, dict(request.query_params))
    except SignatureError as exc:
        return _refuse(403, f"forbidden: {exc}")
    except DecryptError as exc:
        return _refuse(400, f"bad echostr: {exc}")
    return PlainTextResponse(echo)


async def _post(request: Request, app: str) -> Response:
    settings: Settings = request.app.state.settings
    try:
        body = await read_capped(request, settings.max_body_bytes)
    except BodyTooLarge:
        return _refuse(413, "request body too large")
    answer = await handle_post(
        settings=settings, intake=request.app.state.intake, app=app, query=request.query_params, body=body
    )
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type)


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
