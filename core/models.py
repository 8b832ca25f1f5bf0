"""Infrastructure tables: named counters, scheduled job runs, the outbound outbox, shared API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.clock import utcnow


class Counter(SQLModel, table=True):
    """A named sequence (reference numbers, 档号 件号, 条目序号), advanced inside the caller's transaction."""

    __tablename__ = "counter"
    name: str = Field(primary_key=True, max_length=120)
    value: int = 0


class JobRun(SQLModel, table=True):
    """One claimed run of a scheduled job for one period; the unique key makes a period run once."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "period", name="uq_job_run_job_period"),)
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=60, index=True)
    period: str = Field(max_length=60)
    status: str = Field(default="running", max_length=20)  # running, succeeded, failed
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    counts: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    error: str | None = Field(default=None, sa_column=Column(Text))


class Outbox(SQLModel, table=True):
    """An outbound WeChat message, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    app: str = Field(default="mp", max_length=10)  # mp (Official Account) or wecom
    to_user: str = Field(max_length=128, index=True)
    kind: str = Field(default="text", max_length=20)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=20, index=True)  # pending, sent, undeliverable
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class WechatToken(SQLModel, table=True):
    """A WeChat / WeCom access token shared by every worker (core/wechat_tokens.py), when Redis is not set."""

    __tablename__ = "wechat_token"
    key: str = Field(primary_key=True, max_length=200)
    value: str = Field(sa_column=Column(Text, nullable=False))
    expires_at: int = 0  # unix seconds
    fetched_at: int = 0  # unix seconds
