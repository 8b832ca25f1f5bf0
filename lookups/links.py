"""Signed, expiring links of approved lookups: the link a request gets, and opening one (checked, logged in
the access log, and counted in the register when served; the first served use asks the requester how it
served, lookups/effect.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlmodel import Session, col

from core.clock import utcnow
from core.settings import Settings
from exports.models import Volume
from lookups import effect
from lookups.models import AccessLog, LookupRequest
from lookups.register import append
from search.service import archived_by_code

log = logging.getLogger("houqin.lookups")


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.link_secret, salt="houqin.access")


def access_link(settings: Settings, req: LookupRequest) -> str:
    """The signed link an approved request gets."""
    return f"{settings.public_url.rstrip('/')}/access/{_serializer(settings).dumps({'r': req.register_no})}"


@dataclass
class AccessResult:
    """What a signed link leads to: the request and its volume, or why not."""

    outcome: str  # served, expired, tampered, revoked
    request: LookupRequest | None = None
    volume: Volume | None = None


def open_link(
    session: Session, *, token: str, settings: Settings, client: str = "", count: bool = True
) -> AccessResult:
    """Check a signed link; log the attempt; on success count the access in the register (the first one
    also queues the 利用效果 question to the requester)."""
    now = utcnow()
    try:
        data = _serializer(settings).loads(token, max_age=settings.access_days * 86400 + 3600)
    except SignatureExpired:
        return _log(session, AccessResult("expired"), None, client)
    except BadSignature:
        # not logged in the database: anyone can send any path, and each would be a row without bound
        # (issue 11); only tokens signed with our secret reach the access log. The request log line stays.
        log.info("access link refused: bad signature")
        return AccessResult("tampered")
    req = session.execute(
        select(LookupRequest).where(col(LookupRequest.register_no) == data.get("r"))
    ).scalar_one_or_none()
    if req is None or req.decision != "approved" or req.access_expires_at is None or req.revoked_at:
        return _log(session, AccessResult("revoked"), data.get("r"), client)
    if req.access_expires_at <= now:
        return _log(session, AccessResult("expired", req), req.register_no, client)
    found = archived_by_code(session, code=req.archival_code)
    if found is None:
        return _log(session, AccessResult("revoked", req), req.register_no, client)
    if count:
        req.accesses += 1
        session.add(req)
        append(
            session,
            kind="access",
            register_no=req.register_no,
            payload={"n": req.accesses, "client": client[:200]},
        )
        if req.accesses == 1:  # the first use: 利用效果反馈
            effect.ask(session, req=req, now=now)
    volume, _item = found
    return _log(session, AccessResult("served", req, volume), req.register_no, client)


def _log(session: Session, result: AccessResult, register_no: str | None, client: str) -> AccessResult:
    session.add(AccessLog(register_no=register_no, outcome=result.outcome, client=client[:200]))
    session.flush()
    return result
