"""Console tables: accounts, server-side sessions, login attempts (for rate limiting), API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

import feedback.models  # noqa: F401 — registers `person`, which console_user refers to
from core.clock import utcnow

ROLES = ("admin", "canteen_manager", "reception_manager", "archivist")


class ConsoleUser(SQLModel, table=True):
    """A console account: a manager, an archivist or an administrator."""

    __tablename__ = "console_user"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=60, unique=True)
    display_name: str = Field(max_length=100)
    role: str = Field(max_length=30)
    password_hash: str = Field(max_length=200)
    person_id: int | None = Field(
        default=None, foreign_key="person.id"
    )  # their WeChat identity (alerts go there)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser: the cookie carries `token`; only its hash is stored."""

    __tablename__ = "console_session"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="console_user.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class LoginAttempt(SQLModel, table=True):
    """One login attempt, kept to rate-limit guessing and to log who tried what."""

    __tablename__ = "login_attempt"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=60, index=True)
    client: str = Field(default="", max_length=100, index=True)
    ok: bool
    at: datetime = Field(default_factory=utcnow, index=True)


class ApiToken(SQLModel, table=True):
    """A bearer token for scripts (`houqin token create`); only its hash is stored."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="console_user.id", index=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    revoked: bool = False
    expires_at: datetime | None = None  # issue 11: tokens expire (`houqin token create --days`)


# --- account lifecycle (issue 11): an atomic per-name / per-address login counter ---------------------


class LoginThrottle(SQLModel, table=True):
    """Failed logins of one key (a name's or an address's digest) in the current window, counted atomically
    (one upsert that reserves the attempt before the password is checked), and until when it must wait."""

    __tablename__ = "login_throttle"
    key: str = Field(primary_key=True, max_length=80)
    attempts: int = 0
    window_start: datetime = Field(default_factory=utcnow)
    blocked_until: datetime | None = None
