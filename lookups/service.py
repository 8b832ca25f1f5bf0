"""Lookup requests (查阅申请) and their decisions: finding what a 档号 names, registering a request,
approving, rejecting or revoking it, and telling the requester. Each change is an entry of the register
(lookups/register.py) in the same transaction; approved requests get a signed link (lookups/links.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from core.clock import to_local, utcnow
from core.counters import next_value
from core.outbox import enqueue_to
from core.settings import Settings
from exports.models import Volume
from feedback.models import Person
from lookups import texts
from lookups.links import access_link
from lookups.models import LookupRequest
from lookups.register import DECISION_FIELDS, REQUEST_FIELDS, REVOKE_FIELDS, append, payload_of
from search.service import archived_by_code


class LookupError_(Exception):
    """A lookup request or decision that cannot be made; the message is for the person."""


def resolve_code(session: Session, *, code: str) -> tuple[Volume, str] | None:
    """An archived (sealed or received) volume's 档号 or an item's 档号/条目序号: (its volume, its title)."""
    found = archived_by_code(session, code=code)
    if found is None:
        return None
    volume, item = found
    return volume, volume.title if item is None else texts.ITEM_TITLE.format(title=volume.title, seq=item.seq)


def request_lookup(
    session: Session,
    *,
    requester: Person,
    code: str,
    purpose: str,
    channel: str,
    settings: Settings,
    use_mode: str = "在线查阅",
) -> LookupRequest:
    """Register a lookup request (查阅申请); refused for unknown or classified volumes."""
    found = resolve_code(session, code=code)
    if found is None:
        raise LookupError_(texts.REQUEST_UNKNOWN.format(code=code))
    volume, title = found
    if volume.classification:
        raise LookupError_(texts.REQUEST_CLASSIFIED.format(level=volume.classification))
    now = utcnow()
    year = to_local(now, settings.tz).year
    register_no = f"CY{year}-{next_value(session, name=f'CY{year}'):04d}"
    req = LookupRequest(
        register_no=register_no,
        requested_at=now,
        channel=channel,
        requester_id=requester.id,  # type: ignore[arg-type]
        requester_name=requester.name,
        department=requester.department,
        purpose=purpose[:500],
        use_mode=use_mode,
        archival_code=code,
        title=title[:300],
    )
    session.add(req)
    append(session, kind="request", register_no=register_no, payload=payload_of(req, REQUEST_FIELDS))
    return req


def decide(
    session: Session,
    *,
    register_no: str,
    approve: bool,
    approver: Person,
    reason: str,
    settings: Settings,
    approver_account: str | None = None,
) -> LookupRequest:
    """Approve (granting access for settings.access_days) or reject a pending request; never one's own.

    The register records the approver's name and account (`console:<username>`, else `person:<id>`)."""
    if "archivist" not in approver.roles.split(","):
        raise LookupError_(texts.DECIDE_FORBIDDEN)
    req = session.execute(
        select(LookupRequest).where(col(LookupRequest.register_no) == register_no)
    ).scalar_one_or_none()
    if req is None:
        raise LookupError_(texts.DECIDE_UNKNOWN.format(no=register_no))
    if req.decision != "pending":
        at = to_local(req.decided_at, settings.tz).strftime("%Y-%m-%d %H:%M") if req.decided_at else ""
        raise LookupError_(
            texts.DECIDE_DONE_ALREADY.format(
                no=register_no, at=at, who=req.approver, status=texts.STATUS[req.decision]
            )
        )
    if approver.id is not None and approver.id == req.requester_id:
        raise LookupError_(texts.DECIDE_OWN)
    now = utcnow()
    req.decision = "approved" if approve else "rejected"
    req.approver = approver.name
    req.approver_account = approver_account or (f"person:{approver.id}" if approver.id else None)
    req.decided_at = now
    req.conditions = reason[:500]
    req.access_expires_at = now + timedelta(days=settings.access_days) if approve else None
    session.add(req)
    append(session, kind="decision", register_no=register_no, payload=payload_of(req, DECISION_FIELDS))
    return req


def revoke(session: Session, *, register_no: str, by: str, now: datetime | None = None) -> LookupRequest:
    """Revoke an approved request's link at once (an archivist's act, entered in the register)."""
    req = session.execute(
        select(LookupRequest).where(col(LookupRequest.register_no) == register_no)
    ).scalar_one_or_none()
    if req is None:
        raise LookupError_(texts.DECIDE_UNKNOWN.format(no=register_no))
    if req.decision != "approved" or req.revoked_at is not None:
        raise LookupError_(texts.REVOKE_NOT_APPROVED.format(no=register_no))
    req.revoked_at, req.revoked_by = now or utcnow(), by[:120]
    session.add(req)
    append(session, kind="revoke", register_no=register_no, payload=payload_of(req, REVOKE_FIELDS))
    return req


def notify_decision(session: Session, *, settings: Settings, req: LookupRequest) -> None:
    """Queue a decision to the requester through the outbox, on the channel they asked from (chat or console)."""
    requester = session.get(Person, req.requester_id)
    if requester is None:
        return
    if req.decision == "approved":
        expires = (
            to_local(req.access_expires_at, settings.tz).strftime("%Y-%m-%d %H:%M")
            if req.access_expires_at
            else ""
        )
        text = texts.NOTICE_APPROVED.format(
            no=req.register_no, code=req.archival_code, expires=expires, link=access_link(settings, req)
        )
    else:
        text = texts.NOTICE_REJECTED.format(
            no=req.register_no, code=req.archival_code, reason=req.conditions or texts.NO_REASON
        )
    # on the channel the request came from; else whichever identity the requester has
    enqueue_to(
        session,
        wecom_userid=requester.wecom_userid,
        openid=requester.openid,
        text=text,
        dedupe_key=f"decision:{req.register_no}",
        prefer="wecom" if req.channel == "wecom" else "mp",
    )


def my_requests(session: Session, *, requester_id: int, limit: int = 10) -> list[LookupRequest]:
    """A staff member's latest requests."""
    return list(
        session.execute(
            select(LookupRequest)
            .where(col(LookupRequest.requester_id) == requester_id)
            .order_by(col(LookupRequest.id).desc())
            .limit(limit)
        ).scalars()
    )
