"""Access register tables: LookupRequest (the register's rows as they stand, with the 利用效果 answer), RegisterEntry (the append-only,
hash-chained log every change goes through), AccessLog (every use of a signed link), LookupCursor
(where a staff member's 查档 paging stands)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from core.clock import utcnow


class LookupRequest(SQLModel, table=True):
    """One row of the 查阅登记簿, as the register entries make it (a projection, checked by verify)."""

    __tablename__ = "lookup_request"
    id: int | None = Field(default=None, primary_key=True)
    register_no: str = Field(max_length=40, unique=True)  # 登记号, e.g. CY2026-0007
    requested_at: datetime = Field(default_factory=utcnow)
    channel: str = Field(max_length=20)  # mp, wecom, console
    requester_id: int = Field(foreign_key="person.id", index=True)
    requester_name: str = Field(max_length=100)
    department: str = Field(default="", max_length=200)
    purpose: str = Field(max_length=500)
    use_mode: str = Field(default="在线查阅", max_length=40)  # 利用方式
    archival_code: str = Field(max_length=100, index=True)  # a volume's 档号 or an item's 档号/条目序号
    title: str = Field(default="", max_length=300)
    decision: str = Field(default="pending", max_length=20, index=True)  # pending, approved, rejected
    approver: str | None = Field(default=None, max_length=100)
    decided_at: datetime | None = None
    conditions: str = Field(default="", max_length=500)  # 理由 / 利用条件
    access_expires_at: datetime | None = None
    accesses: int = 0
    # issue 11: the approver's account (`console:<username>` or `person:<id>`), and a revoked link
    approver_account: str | None = Field(default=None, max_length=120)
    revoked_at: datetime | None = None
    revoked_by: str | None = Field(default=None, max_length=120)
    # issue 14: 利用效果反馈 — when and how the requester was asked, and their answer (1 解决问题, 2 部分解决,
    # 3 未解决) with a note and its time
    effect_asked_at: datetime | None = None
    effect_asked_via: str | None = Field(default=None, max_length=60)
    effect: int | None = None
    effect_note: str | None = Field(default=None, max_length=500)
    effect_at: datetime | None = None


class RegisterEntry(SQLModel, table=True):
    """An append-only, hash-chained register entry: request, decision, access or export."""

    __tablename__ = "register_entry"
    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)
    at: datetime = Field(default_factory=utcnow)
    kind: str = Field(max_length=20)
    register_no: str = Field(max_length=40, index=True)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AccessLog(SQLModel, table=True):
    """Every attempt to use a signed link: served, expired, tampered, revoked."""

    __tablename__ = "access_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    register_no: str | None = Field(default=None, max_length=40, index=True)
    outcome: str = Field(max_length=20)
    client: str = Field(default="", max_length=200)
    detail: str = Field(default="", max_length=500)


class LookupCursor(SQLModel, table=True):
    """A staff member's last 查档 query and page, so 更多 can continue it."""

    __tablename__ = "lookup_cursor"
    id: int | None = Field(default=None, primary_key=True)
    sender: str = Field(max_length=128, unique=True)
    query: str = Field(max_length=500)
    offset: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


# --- binding that proves who you are (issue 11) ---------------------------------------------------------


class BindCode(SQLModel, table=True):
    """A one-time binding code (验证码) issued from the console to one person: hashed, expiring, single use."""

    __tablename__ = "bind_code"
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    code_hash: str = Field(max_length=64)
    issued_by: str = Field(max_length=120)
    issued_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class BindAttempt(SQLModel, table=True):
    """One 绑定 attempt, kept to limit guessing per sender and per staff number."""

    __tablename__ = "bind_attempt"
    id: int | None = Field(default=None, primary_key=True)
    sender: str = Field(max_length=128, index=True)
    staff_no: str = Field(max_length=40, index=True)
    ok: bool
    at: datetime = Field(default_factory=utcnow, index=True)
