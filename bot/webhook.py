"""The WeChat callback endpoints: `/wechat` (Official Account) and `/wecom` (WeCom self-built app).

Order at the edge (DESIGN §3): cap the body (413) before any parsing; check the timestamp window and the
signature in constant time (403, nothing stored); decrypt; parse hardened XML (400); then ingest exactly
once and answer with a passive reply, encrypted when the request was. When the database is unavailable
the delivery goes to the outage spool (bot/spool.py) and is answered as received; it is stored when the
database is back.

Every request, fast path or not, is counted in the Prometheus metrics (core/metrics.py) and gets one
JSON access line (core/logs.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from bot.spool import SPOOL_AFTER_S, SPOOLED_REPLY, encode
from bot.wxcrypto import Cipher, DecryptError, SignatureError, check_timestamp, signature, verify
from bot.xmlmsg import dedupe_key, encrypted_envelope, text_reply_xml, to_incoming
from core import metrics
from core.db import unit_of_work
from core.logs import access_log
from core.settings import Settings
from core.xmlsafe import BadXml, parse_xml
from ingest.delivery import Delivery, database_unavailable
from ingest.writer import Ingestor
from lookups.identity import ensure_wecom_person

log = logging.getLogger("houqin.webhook")
router = APIRouter(tags=["wechat"])

XML = "application/xml; charset=utf-8"


class BodyTooLarge(Exception):
    """The request body is over the cap."""


@dataclass
class AppKeys:
    """The secrets of one WeChat app: Official Account (`mp`) or WeCom (`wecom`)."""

    app: str
    token: str
    aes_key: str
    app_id: str

    @cached_property
    def cipher(self) -> Cipher | None:
        if not self.aes_key:
            return None
        return Cipher(aes_key=self.aes_key, app_id=self.app_id, wecom=self.app == "wecom")


def _keys(settings: Settings, app: str) -> AppKeys:
    # one AppKeys (and so one cipher) per settings object and app, not one per request
    cache: dict[str, AppKeys] = settings.__dict__.setdefault("_houqin_app_keys", {})
    keys = cache.get(app)
    if keys is None:
        if app == "wecom":
            keys = AppKeys("wecom", settings.wecom_token, settings.wecom_aes_key, settings.wecom_corpid)
        else:
            keys = AppKeys("mp", settings.wechat_token, settings.wechat_aes_key, settings.wechat_appid)
        cache[app] = keys
    return keys


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


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~1 µs more to build, once per request
class Answer:
    """What the edge sends back: status, body, content type; and, for the access log, what it was."""

    status: int
    body: bytes
    media_type: str = "text/plain; charset=utf-8"
    msg_type: str = ""
    duplicate: bool = False


def _refusal(status: int, reason: str) -> Answer:
    log.info("refused %d: %s", status, reason)
    return Answer(status, reason.encode())


async def handle_post(
    *, settings: Settings, ingestor: Ingestor, app: str, query: Mapping[str, str], body: bytes
) -> Answer:
    """Everything after the body cap: verify, decrypt, parse, ingest exactly once, and render the reply."""
    keys = _keys(settings, app)
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    encrypted = app == "wecom" or query.get("encrypt_type", "raw").lower() == "aes"
    try:
        check_timestamp(timestamp, window_s=settings.timestamp_window_s)
        if encrypted:
            cipher = keys.cipher
            if cipher is None:
                return _refusal(400, "encrypted message but no AES key is configured")
            envelope = parse_xml(body)
            encrypt = envelope.get("Encrypt")
            if not isinstance(encrypt, str) or not encrypt:
                return _refusal(400, "encrypted message without <Encrypt>")
            verify(query.get("msg_signature"), keys.token, timestamp, nonce, encrypt)
            raw_xml = cipher.decrypt(encrypt)
            data = parse_xml(raw_xml)
        else:
            # the plaintext signature does not cover the body: production refuses this mode
            verify(query.get("signature"), keys.token, timestamp, nonce)
            if settings.env == "production":
                return _refusal(403, "plaintext mode is refused in production; use safe (AES) mode")
            data = parse_xml(body)
            raw_xml = body.decode("utf-8", errors="replace")
    except SignatureError as exc:
        return _refusal(403, f"forbidden: {exc}")
    except DecryptError as exc:
        return _refusal(400, f"cannot decrypt: {exc}")
    except BadXml as exc:
        return _refusal(400, f"bad XML: {exc}")
    if not data.get("FromUserName") or not data.get("MsgType"):
        return _refusal(400, "bad XML: not a WeChat message")

    delivery = Delivery(key=dedupe_key(data, app=app), incoming=to_incoming(data, app=app), raw_xml=raw_xml)
    msg_type = delivery.incoming.msg_type
    spool = ingestor.spool
    if spool is not None and spool.active:
        # older deliveries of this process wait in the spool: this one queues behind them, so the
        # replay keeps the order people wrote in (a score after its 反馈 opens the window)
        return await _spool(keys, data, delivery, encrypted=encrypted, nonce=nonce, ingestor=ingestor)
    wait = SPOOL_AFTER_S
    if app == "wecom":
        looked_up = time.monotonic()
        await _know_wecom_user(ingestor, settings, delivery.incoming.sender)
        # the user lookup may have taken up to 2 s of WeChat's 5: the database gets what is left
        wait = max(0.5, wait - (time.monotonic() - looked_up))
    try:
        result = await ingestor.submit(delivery, timeout=wait if spool is not None else None)
    except Exception as exc:
        if not (isinstance(exc, TimeoutError) or database_unavailable(exc)):
            raise
        if spool is not None:
            return await _spool(keys, data, delivery, encrypted=encrypted, nonce=nonce, ingestor=ingestor)
        # no spool: nothing was acknowledged, WeChat retries, and the dedupe key keeps the retry exactly-once
        log.error("database unavailable, refusing %s: %s", delivery.key, type(exc).__name__)
        return Answer(503, b"database unavailable, retry later", msg_type=msg_type)
    if not result.stored:
        # not an outage and not even storable as `failed`: a bug of ours. Keep the delivery for a person
        # and let WeChat retry (its retries are kept too).
        if spool is not None:
            await run_in_threadpool(spool.dead_letter, _spool_line(delivery), "not storable")
        return Answer(500, b"internal error", msg_type=msg_type)
    if result.duplicate:
        metrics.DUPLICATES.inc()
    if not result.reply:
        return Answer(200, b"success", msg_type=msg_type, duplicate=result.duplicate)
    return _reply(
        keys,
        data,
        result.reply,
        encrypted=encrypted,
        nonce=nonce,
        msg_type=msg_type,
        duplicate=result.duplicate,
    )


def _reply(
    keys: AppKeys,
    data: Mapping[str, Any],
    content: str,
    *,
    encrypted: bool,
    nonce: str,
    msg_type: str,
    duplicate: bool = False,
) -> Answer:
    reply = text_reply_xml(
        to_user=str(data.get("FromUserName")),
        from_user=str(data.get("ToUserName") or ""),
        content=content,
    )
    if encrypted:
        cipher = keys.cipher
        assert cipher is not None
        encrypt = cipher.encrypt(reply)
        ts = str(int(time.time()))
        reply = encrypted_envelope(
            encrypt=encrypt, signature=signature(keys.token, ts, nonce, encrypt), timestamp=ts, nonce=nonce
        )
    return Answer(200, reply.encode("utf-8"), XML, msg_type=msg_type, duplicate=duplicate)


def _spool_line(delivery: Delivery) -> bytes:
    return encode(delivery).rstrip(b"\n")


async def _spool(
    keys: AppKeys,
    data: Mapping[str, Any],
    delivery: Delivery,
    *,
    encrypted: bool,
    nonce: str,
    ingestor: Ingestor,
) -> Answer:
    """Append the delivery to this process's spool (fsynced) and only then answer that it was received."""
    spool = ingestor.spool
    assert spool is not None
    try:
        # off the event loop: an fsync takes milliseconds, and other requests keep being answered
        await run_in_threadpool(spool.append, delivery)
    except OSError as exc:
        # the spool cannot be written either: acknowledge nothing, WeChat retries
        log.error("database unavailable and spool not writable, refusing %s: %s", delivery.key, exc)
        return Answer(503, b"unavailable, retry later", msg_type=delivery.incoming.msg_type)
    metrics.SPOOLED.inc()
    return _reply(
        keys, data, SPOOLED_REPLY, encrypted=encrypted, nonce=nonce, msg_type=delivery.incoming.msg_type
    )


async def _know_wecom_user(ingestor: Ingestor, settings: Settings, userid: str) -> None:
    """Make sure a WeCom userid has a Person (name and department from WeCom's user API) before its
    message is handled: the API call happens here, off the writer thread and outside its transaction."""
    known_users = ingestor.known_wecom_users  # per ingestor, so per database: never shared between apps
    if not userid or userid in known_users:
        return

    def resolve() -> bool:
        with unit_of_work(ingestor.engine) as session:
            return ensure_wecom_person(session, userid=userid, settings=settings) is not None

    try:
        known = await asyncio.wait_for(run_in_threadpool(resolve), timeout=2.0)
    except Exception as exc:
        log.warning("WeCom identity for %s not resolved: %s", userid, type(exc).__name__)
        return
    if known:
        known_users[userid] = None
        while len(known_users) > 10000:
            known_users.pop(next(iter(known_users)))


async def _post(request: Request, app: str) -> Response:
    settings: Settings = request.app.state.settings
    try:
        body = await read_capped(request, settings.max_body_bytes)
    except BodyTooLarge:
        return _refuse(413, "request body too large")
    answer = await handle_post(
        settings=settings, ingestor=request.app.state.ingestor, app=app, query=request.query_params, body=body
    )
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type)


class WebhookFastPath:
    """ASGI wrapper serving `POST /wechat` and `POST /wecom` without FastAPI's routing and middleware.

    Why: at thousands of messages per second FastAPI's per-request machinery cost more CPU than
    decrypting and storing the message. The FastAPI routes below stay (same `handle_post`) for the
    OpenAPI docs and for any path this wrapper does not take.
    """

    PATHS: ClassVar[dict[str, str]] = {"/wechat": "mp", "/wecom": "wecom"}

    def __init__(self, app: Any, *, settings: Settings, ingestor: Ingestor) -> None:
        self.app = app
        self.settings = settings
        self.ingestor = ingestor

    def __getattr__(self, name: str) -> Any:  # state, routes, … of the wrapped FastAPI app
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan, websockets
            await self.app(scope, receive, send)
            return
        which = self.PATHS.get(scope["path"])
        if (
            which is None
            or scope["method"] != "POST"
            or (which == "wecom" and not self.settings.wecom_enabled)
        ):
            await self._observed(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            answer = await self._answer(scope, receive, which)
        except Exception:
            log.exception("unhandled error in the webhook")
            answer = Answer(500, b"internal error")
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    (b"content-type", answer.media_type.encode()),
                    (b"content-length", str(len(answer.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})
        elapsed = time.perf_counter() - started
        path = scope["path"]
        metrics.observe_request(path, answer.status, elapsed)
        if access_log.enabled():
            access_log.record("POST", path, answer.status, elapsed, answer.msg_type, answer.duplicate)

    async def _observed(self, scope: Any, receive: Any, send: Any) -> None:
        """Any other request, through FastAPI, counted under its route template (never the raw URL)."""
        started = time.perf_counter()
        status = 500

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            # unmatched paths share one label: a scan of random URLs must not create a series each
            path = getattr(route, "path", None) or "unmatched"
            metrics.observe_request(path, status, elapsed)
            if access_log.enabled():
                access_log.record(scope["method"], path, status, elapsed)

    async def _answer(self, scope: Any, receive: Any, which: str) -> Answer:
        limit = self.settings.max_body_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                return _refusal(413, "request body too large")
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return Answer(400, b"client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return _refusal(413, "request body too large")
            chunks.append(chunk)
            more = message.get("more_body", False)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        return await handle_post(
            settings=self.settings, ingestor=self.ingestor, app=which, query=query, body=b"".join(chunks)
        )


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
