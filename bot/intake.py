"""A verified POST from WeChat, from body to answer, and the way in that a delivery takes.

`handle_post` does everything after the body cap, for the ASGI fast path (bot/fastpath.py) and the
FastAPI endpoints (bot/webhook.py) alike: check the timestamp window and the signature in constant time
(403, nothing stored); decrypt; parse hardened XML (400); then ingest exactly once and answer with a
passive reply, encrypted when the request was. When the database is unavailable the delivery goes to the
outage spool (ingest/spool.py) and is answered as received; the replayer stores it once the database is
back.

`Intake` wires one app's ingest writer to its spool and the spool's replayer: the ingest path itself
knows nothing of the spool.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

from starlette.concurrency import run_in_threadpool

from bot.texts import SPOOLED_REPLY
from bot.wxcrypto import Cipher, DecryptError, SignatureError, check_timestamp, signature, verify
from bot.xmlmsg import dedupe_key, encrypted_envelope, text_reply_xml, to_incoming
from core import metrics
from core.settings import Settings
from core.xmlsafe import BadXml, parse_xml
from handlers.wecom import WecomUsers
from ingest.delivery import Delivery, database_unavailable
from ingest.replay import Replayer
from ingest.spool import Spool, encode
from ingest.writer import Ingestor, process_batch

log = logging.getLogger("houqin.webhook")

XML = "application/xml; charset=utf-8"

# How long the webhook waits for the ingest writer before spooling instead: WeChat gives up at 5 s, and
# the reply still has to be encrypted and sent.
SPOOL_AFTER_S = 3.0
# How long a WeCom message waits for its sender's Person (WeCom's user API) before going on without it.
WECOM_LOOKUP_S = 2.0


@dataclass
class AppKeys:
    """The secrets of one WeChat app: Official Account (`mp`) or WeCom (`wecom`)."""

    app: str
    token: str
    aes_key: str
    app_id: str

    @cached_property
    def cipher(self) -> Cipher | None:
        """The app's AES cipher, None when no EncodingAESKey is configured."""
        if not self.aes_key:
            return None
        return Cipher(aes_key=self.aes_key, app_id=self.app_id, wecom=self.app == "wecom")


def app_keys(settings: Settings, app: str) -> AppKeys:
    """The keys of `app`: one AppKeys (and so one cipher) per settings object and app, not one per request."""
    cache: dict[str, AppKeys] = settings.__dict__.setdefault("_houqin_app_keys", {})
    keys = cache.get(app)
    if keys is None:
        if app == "wecom":
            keys = AppKeys("wecom", settings.wecom_token, settings.wecom_aes_key, settings.wecom_corpid)
        else:
            keys = AppKeys("mp", settings.wechat_token, settings.wechat_aes_key, settings.wechat_appid)
        cache[app] = keys
    return keys


class Intake:
    """One app's way in: the ingest writer, the outage spool with its replayer, and the WeCom users known.

    Started and stopped with the app. The replayer stores through `process_batch` on the writer's engine
    (its own pooled connections, not the writer's held one).
    """

    def __init__(self, ingestor: Ingestor, *, spool: Spool | None = None) -> None:
        self.ingestor = ingestor
        self.spool = spool
        self.replayer: Replayer | None = None
        if spool is not None:
            ingest = partial(
                process_batch, ingestor.engine, router=ingestor.router, settings=ingestor.settings
            )
            self.replayer = Replayer(spool, ingest)
        # per intake, so per database: never shared between apps
        self.wecom_users = WecomUsers(ingestor.engine, ingestor.settings)

    def start(self) -> None:
        """Start the writer thread and the spool replayer (idempotent)."""
        self.ingestor.start()
        if self.replayer is not None:
            self.replayer.start()

    def stop(self) -> None:
        """Finish what is queued, then stop the writer and the replayer (spooled lines stay on disk)."""
        self.ingestor.stop()
        if self.replayer is not None:
            self.replayer.stop()
        if self.spool is not None:
            self.spool.close()


@dataclass(slots=True)  # not frozen: built once per request (docs/benchmarks.md)
class Answer:
    """What the edge sends back: status, body, content type; and, for the access log, what it was."""

    status: int
    body: bytes
    media_type: str = "text/plain; charset=utf-8"
    msg_type: str = ""
    duplicate: bool = False


def refusal(status: int, reason: str) -> Answer:
    """A refused request's answer (logged at info: scanners and misconfigured peers are routine)."""
    log.info("refused %d: %s", status, reason)
    return Answer(status, reason.encode())


async def handle_post(
    *, settings: Settings, intake: Intake, app: str, query: Mapping[str, str], body: bytes
) -> Answer:
    """Everything after the body cap: verify, decrypt, parse, ingest exactly once, and render the reply."""
    keys = app_keys(settings, app)
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    encrypted = app == "wecom" or query.get("encrypt_type", "raw").lower() == "aes"
    try:
        check_timestamp(timestamp, window_s=settings.timestamp_window_s)
        if encrypted:
            cipher = keys.cipher
            if cipher is None:
                return refusal(400, "encrypted message but no AES key is configured")
            envelope = parse_xml(body)
            encrypt = envelope.get("Encrypt")
            if not isinstance(encrypt, str) or not encrypt:
                return refusal(400, "encrypted message without <Encrypt>")
            verify(query.get("msg_signature"), keys.token, timestamp, nonce, encrypt)
            raw_xml = cipher.decrypt(encrypt)
            data = parse_xml(raw_xml)
        else:
            # the plaintext signature does not cover the body: production refuses this mode
            verify(query.get("signature"), keys.token, timestamp, nonce)
            if settings.env == "production":
                return refusal(403, "plaintext mode is refused in production; use safe (AES) mode")
            data = parse_xml(body)
            raw_xml = body.decode("utf-8", errors="replace")
    except SignatureError as exc:
        return refusal(403, f"forbidden: {exc}")
    except DecryptError as exc:
        return refusal(400, f"cannot decrypt: {exc}")
    except BadXml as exc:
        return refusal(400, f"bad XML: {exc}")
    if not data.get("FromUserName") or not data.get("MsgType"):
        return refusal(400, "bad XML: not a WeChat message")

    delivery = Delivery(key=dedupe_key(data, app=app), incoming=to_incoming(data, app=app), raw_xml=raw_xml)
    msg_type = delivery.incoming.msg_type
    spool = intake.spool
    if spool is not None and spool.active:
        # older deliveries of this process wait in the spool: this one queues behind them, so the
        # replay keeps the order people wrote in (a score after its 反馈 opens the window)
        return await _spool(keys, data, delivery, spool, encrypted=encrypted, nonce=nonce)
    wait = SPOOL_AFTER_S
    if app == "wecom":
        looked_up = time.monotonic()
        await _know_wecom_user(intake.wecom_users, delivery.incoming.sender)
        # the user lookup may have taken up to 2 s of WeChat's 5: the database gets what is left
        wait = max(0.5, wait - (time.monotonic() - looked_up))
    try:
        result = await intake.ingestor.submit(delivery, timeout=wait if spool is not None else None)
    except Exception as exc:
        if not (isinstance(exc, TimeoutError) or database_unavailable(exc)):
            raise
        if spool is not None:
            return await _spool(keys, data, delivery, spool, encrypted=encrypted, nonce=nonce)
        # no spool: nothing was acknowledged, WeChat retries, and the dedupe key keeps the retry exactly-once
        log.error("database unavailable, refusing %s: %s", delivery.key, type(exc).__name__)
        return Answer(503, b"database unavailable, retry later", msg_type=msg_type)
    if not result.stored:
        # not an outage and not even storable as `failed`: a bug of ours. Keep the delivery for a person
        # and let WeChat retry (its retries are kept too).
        if spool is not None:
            await run_in_threadpool(spool.dead_letter, encode(delivery).rstrip(b"\n"), "not storable")
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


async def _spool(
    keys: AppKeys,
    data: Mapping[str, Any],
    delivery: Delivery,
    spool: Spool,
    *,
    encrypted: bool,
    nonce: str,
) -> Answer:
    """Append the delivery to this process's spool (fsynced) and only then answer that it was received."""
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


async def _know_wecom_user(users: WecomUsers, userid: str) -> None:
    """Make sure a WeCom userid has a Person before its message is handled (handlers/wecom.py); a lookup
    that fails or takes over WECOM_LOOKUP_S is logged and the message goes on without it. The look-up holds
    no transaction while it waits for WeCom (issue 11), and one that failed lately is not tried again."""
    if not userid or users.known(userid) or users.failed_recently(userid):
        return
    try:
        known = await asyncio.wait_for(run_in_threadpool(users.resolve, userid), timeout=WECOM_LOOKUP_S)
    except Exception as exc:
        log.warning("WeCom identity for %s not resolved: %s", userid, type(exc).__name__)
        return
    if known:
        users.remember(userid)
