"""The transactional outbox: outbound WeChat messages are rows written with the change that caused them,
and a drainer sends them. A WeChat API failure delays a message; it never loses one.

Sending claims one row at a time with a lease (its `next_attempt_at` moved a few minutes ahead) in a
short transaction, calls WeChat with no transaction open, and records the result in another. Several
drainers never send a row twice: on PostgreSQL the claim skips rows another drainer has locked
(FOR UPDATE SKIP LOCKED); on SQLite one drainer at a time holds the "outbox" file lock and a second one
skips its turn. A drainer that dies
mid-send leaves its row to be picked up again when the lease runs out.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update
from sqlmodel import Session
from wechatpy.exceptions import WeChatClientException

from core import wechat_api
from core.clock import utcnow
from core.db import insert_ignore, is_postgres
from core.locks import exclusive
from core.models import Outbox
from core.settings import Settings

log = logging.getLogger("houqin.outbox")

APPS = ("mp", "wecom")
MAX_ATTEMPTS = 12
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
# Longer than a send can take (token fetch + send, 5 s timeout each, one token retry).
LEASE = timedelta(minutes=5)
# WeChat refuses for good: 45015 reply window (48 h) closed, 45047 too many customer-service messages
# in the window, 43004 not a follower, 40003 invalid openid; WeCom 81013: no valid recipient.
PERMANENT_ERRCODES = frozenset({45015, 45047, 43004, 40003, 81013})

_TABLE = Outbox.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class DrainCounts:
    """What one drain pass did."""

    sent: int = 0
    retried: int = 0
    undeliverable: int = 0


def enqueue(
    session: Session,
    *,
    to_user: str,
    text: str,
    app: str = "mp",
    dedupe_key: str | None = None,
) -> int | None:
    """Add a text message to the outbox in the caller's transaction; None when `dedupe_key` is already there."""
    return _insert(session, to_user=to_user, kind="text", payload=text, app=app, dedupe_key=dedupe_key)


def enqueue_template(
    session: Session,
    *,
    to_user: str,
    template_id: str,
    data: dict[str, str],
    dedupe_key: str | None = None,
) -> int | None:
    """Add an Official Account template message (模板消息: not bound to the 48-hour window) to the outbox.

    `data` maps the template's fields (first, keyword1, …, remark) to their text."""
    payload = json.dumps(
        {"template_id": template_id, "data": {k: {"value": v} for k, v in data.items()}}, ensure_ascii=False
    )
    return _insert(
        session, to_user=to_user, kind="template", payload=payload, app="mp", dedupe_key=dedupe_key
    )


def _insert(
    session: Session, *, to_user: str, kind: str, payload: str, app: str, dedupe_key: str | None
) -> int | None:
    if app not in APPS:
        raise ValueError(f"unknown app {app!r}: expected one of {', '.join(APPS)}")
    now = utcnow()
    row_id = session.exec(
        insert_ignore(session, _TABLE)
        .values(
            dedupe_key=dedupe_key,
            app=app,
            to_user=to_user,
            kind=kind,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        .returning(_TABLE.c.id)
    ).scalar_one_or_none()
    return int(row_id) if row_id is not None else None


def enqueue_to(
    session: Session,
    *,
    wecom_userid: str | None,
    openid: str | None,
    text: str,
    dedupe_key: str | None = None,
    prefer: str = "wecom",
) -> int | bool | None:
    """Queue `text` to a person on the channel they have (`prefer` when they have both).

    Returns False when they have neither identity; otherwise what `enqueue` returns (None: deduped).
    """
    channels = [("wecom", wecom_userid), ("mp", openid)]
    if prefer == "mp":
        channels.reverse()
    for app, to_user in channels:
        if to_user:
            return enqueue(session, to_user=to_user, text=text, app=app, dedupe_key=dedupe_key)
    return False


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed try: 30 s, 60 s, 120 s, … at most an hour."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


# Clients live as long as the process: each holds its access token, and WeChat caps token fetches
# per day (2,000), which a fresh client every 30-second drain would exhaust.
_clients: dict[tuple[str, ...], Any] = {}
_clients_lock = threading.Lock()
_warned: set[str] = set()


def _client(settings: Settings, app: str) -> Any:
    if app == "mp":
        key: tuple[str, ...] = ("mp", settings.wechat_appid, settings.wechat_secret, settings.wechat_api_base)
    else:
        key = ("wecom", settings.wecom_corpid, settings.wecom_secret, settings.wecom_api_base)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = wechat_api.official_account(settings) if app == "mp" else wechat_api.wecom(settings)
            _clients[key] = client
    if app == "wecom" and not settings.wecom_agentid:
        raise wechat_api.NotConfigured("HOUQIN_WECOM_AGENTID is not set")
    return client


def _has_pending(engine: Engine, app: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(
            select(_TABLE.c.id).where(_TABLE.c.app == app, _TABLE.c.status == "pending").limit(1)
        ).first()
        return found is not None


def _configured_clients(engine: Engine, settings: Settings) -> dict[str, Any]:
    clients: dict[str, Any] = {}
    for app in APPS:
        try:
            clients[app] = _client(settings, app)
        except wechat_api.NotConfigured as exc:
            # Rows for this app wait, pending, until credentials are set: say so once (not every 30 s),
            # and only when there is something waiting (most sites use one of the two apps).
            if app not in _warned and _has_pending(engine, app):
                _warned.add(app)
                log.warning("outbox: %s messages stay pending: %s", app, exc)
    return clients


def _send(client: Any, settings: Settings, row: Any) -> None:
    if row.app == "mp":
        if row.kind == "template":
            body = json.loads(row.payload)
            client.message.send_template(row.to_user, body["template_id"], body["data"])
        else:
            client.message.send_text(row.to_user, row.payload)
        return
    agent_id = int(settings.wecom_agentid) if settings.wecom_agentid.isdigit() else settings.wecom_agentid
    result = client.message.send_text(agent_id=agent_id, user_ids=row.to_user, content=row.payload)
    # WeCom answers errcode 0 and lists recipients it could not reach
    invalid = str((result or {}).get("invaliduser") or "")
    if row.to_user in invalid.split("|"):
        raise WeChatClientException(81013, f"invaliduser {invalid}")


def _claim_one(engine: Engine, *, apps: list[str], now: datetime) -> Any | None:
    # The subquery reads an alias so it is not correlated to the UPDATE's own table.
    candidate = _TABLE.alias("candidate")
    due = (
        select(candidate.c.id)
        .where(
            candidate.c.status == "pending",
            candidate.c.next_attempt_at <= now,
            candidate.c.app.in_(apps),
        )
        .order_by(candidate.c.next_attempt_at, candidate.c.id)
        .limit(1)
        # PostgreSQL: skip a row another drainer is claiming; SQLite ignores this and serialises the
        # transaction instead (BEGIN IMMEDIATE)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    with engine.begin() as conn:
        return conn.execute(
            update(_TABLE)
            .where(_TABLE.c.id == due)
            .values(next_attempt_at=now + LEASE)
            .returning(
                _TABLE.c.id,
                _TABLE.c.app,
                _TABLE.c.to_user,
                _TABLE.c.kind,
                _TABLE.c.payload,
                _TABLE.c.attempts,
            )
        ).first()


def _record(engine: Engine, row_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(_TABLE).where(_TABLE.c.id == row_id).values(**values))


def _drain(engine: Engine, settings: Settings, *, batch: int, now: datetime) -> DrainCounts:
    clients = _configured_clients(engine, settings)
    if not clients:
        return DrainCounts()
    sent = retried = undeliverable = 0
    for _ in range(batch):
        row = _claim_one(engine, apps=sorted(clients), now=now)
        if row is None:
            break
        attempts = row.attempts + 1
        try:
            _send(clients[row.app], settings, row)
        except WeChatClientException as exc:
            error = f"errcode {exc.errcode}: {exc.errmsg}"
            if exc.errcode is None and exc.response is not None:
                error = f"HTTP {exc.response.status_code}"
            permanent = exc.errcode in PERMANENT_ERRCODES
        except Exception as exc:  # timeouts, refused connections, anything else: try again later
            error = f"{type(exc).__name__}: {exc}"
            permanent = False
        else:
            _record(engine, row.id, status="sent", sent_at=now, attempts=attempts, last_error=None)
            sent += 1
            continue
        if permanent or attempts >= MAX_ATTEMPTS:
            _record(engine, row.id, status="undeliverable", attempts=attempts, last_error=error[:2000])
            log.warning("outbox %d to %s undeliverable after %d tries: %s", row.id, row.app, attempts, error)
            undeliverable += 1
        else:
            _record(
                engine,
                row.id,
                attempts=attempts,
                next_attempt_at=now + backoff(attempts),
                last_error=error[:2000],
            )
            log.info("outbox %d to %s failed (try %d), will retry: %s", row.id, row.app, attempts, error)
            retried += 1
    return DrainCounts(sent=sent, retried=retried, undeliverable=undeliverable)


def drain(engine: Engine, *, settings: Settings, batch: int = 50, now: datetime | None = None) -> DrainCounts:
    """Send up to `batch` due outbox messages; failures are retried with backoff or marked undeliverable."""
    now = now or utcnow()
    if is_postgres(engine):
        return _drain(engine, settings, batch=batch, now=now)
    # SQLite has one writer: a second drainer would only queue behind the first, which is sending
    # everything due anyway.
    with exclusive(engine, name="outbox", settings=settings, wait=False) as held:
        if not held:
            return DrainCounts()
        return _drain(engine, settings, batch=batch, now=now)
