"""Lookup requests and the access register (查阅登记簿), shared by the console's pages and API: the requests
waiting for a decision, approve or reject (the requester notified through the outbox, as the chat command
审批 does), the year's register and its Excel export."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException
from sqlalchemy import select
from sqlmodel import Session, col

from console import texts
from console.auth import Principal
from core.clock import to_local, utcnow
from core.settings import Settings
from feedback.models import Person
from lookups import register, service
from lookups import texts as lt
from lookups.models import LookupRequest


class DecisionError(Exception):
    """A lookup decision the console refuses; the message is for the archivist."""


def approver(who: Principal) -> Person:
    """The signed-in archivist as the register's approver (never stored: the console role is the authority);
    carries the account's own Person id, so nobody approves their own request."""
    return Person(id=who.user.person_id, name=who.user.display_name, roles="archivist")


def account(who: Principal) -> str:
    """The console account as the register records it."""
    return f"console:{who.user.username}"


def lookup_by_no(db: Session, register_no: str) -> LookupRequest:
    """A lookup request by 登记号, or 404."""
    req = db.execute(
        select(LookupRequest).where(col(LookupRequest.register_no) == register_no.strip().upper())
    ).scalar_one_or_none()
    if req is None:
        raise HTTPException(404, lt.DECIDE_UNKNOWN.format(no=register_no))
    return req


def decide_lookup(
    db: Session, settings: Settings, who: Principal, *, register_no: str, approve: bool, reason: str
) -> LookupRequest:
    """Approve or reject a pending request and notify the requester through the outbox (as 审批 does)."""
    req = lookup_by_no(db, register_no)
    reason = reason.strip()
    if not approve and not reason:
        raise DecisionError(texts.REJECT_NEEDS_REASON)
    try:
        req = service.decide(
            db,
            register_no=req.register_no,
            approve=approve,
            approver=approver(who),
            reason=reason,
            settings=settings,
            approver_account=account(who),
        )
    except service.LookupError_ as exc:
        raise DecisionError(str(exc)) from exc
    service.notify_decision(db, settings=settings, req=req)
    return req


def lookups(db: Session, *, pending: bool | None = None, limit: int = 200) -> list[LookupRequest]:
    """Lookup requests, newest first: only pending, only decided, or all."""
    query = select(LookupRequest).order_by(col(LookupRequest.id).desc()).limit(limit)
    if pending is True:
        query = query.where(col(LookupRequest.decision) == "pending")
    elif pending is False:
        query = query.where(col(LookupRequest.decision) != "pending")
    return list(db.execute(query).scalars())


def register_rows(db: Session, year: int) -> list[LookupRequest]:
    """The year's register rows (登记号 CY<year>-…), oldest first."""
    return list(
        db.execute(
            select(LookupRequest)
            .where(col(LookupRequest.register_no).like(f"CY{year}-%"))
            .order_by(col(LookupRequest.id))
        ).scalars()
    )


def export_file(db: Session, settings: Settings, year: int) -> Path:
    """Write the year's register workbook (an `export` register entry is appended); the caller commits."""
    path = settings.data_dir / "registers" / f"查阅登记簿-{year}.xlsx"
    register.export_register(db, year=year, settings=settings, path=path)
    return path


def this_year(settings: Settings) -> int:
    """The local year now."""
    return to_local(utcnow(), settings.tz).year
