"""Console accounts and access: argon2 password hashes, server-side sessions with expiry, CSRF tokens,
rate-limited and logged logins, bearer tokens for scripts, and role checks for pages and API routes."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request
from sqlalchemy import func, select
from sqlmodel import Session, col

from console.models import ROLES, ApiToken, ConsoleSession, ConsoleUser, LoginAttempt
from core.clock import utcnow
from core.db import read_bind

ROLES_ALL = ROLES

log = logging.getLogger("houqin.console.auth")
COOKIE = "houqin_session"
SESSION_HOURS = 12
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-password")  # verified against for unknown users: same timing either way


class AuthError(Exception):
    """Login refused; the message is for the person."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: Session, *, username: str, password: str, role: str, display_name: str = ""
) -> ConsoleUser:
    """Add a console account (argon2-hashed password)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise ValueError("password must be at least 8 characters")
    user = ConsoleUser(
        username=username,
        display_name=display_name or username,
        role=role,
        password_hash=_hasher.hash(password),
    )
    session.add(user)
    session.flush()
    return user


def login(
    session: Session, *, username: str, password: str, client: str
) -> tuple[ConsoleUser, str, ConsoleSession]:
    """Check a password; on success start a session and return (user, cookie token, session)."""
    since = utcnow() - FAILURE_WINDOW
    failures = session.execute(
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            col(LoginAttempt.ok).is_(False),
            col(LoginAttempt.at) >= since,
            (col(LoginAttempt.username) == username) | (col(LoginAttempt.client) == client),
        )
    ).scalar_one()
    if failures >= MAX_FAILURES:
        log.warning("login rate-limited for %r from %s", username, client)
        session.add(LoginAttempt(username=username[:60], client=client[:100], ok=False))
        raise AuthError("登录失败次数过多，请15分钟后再试。")
    user = session.execute(
        select(ConsoleUser).where(col(ConsoleUser.username) == username)
    ).scalar_one_or_none()
    user_id, stored_hash, active = (
        (user.id, user.password_hash, user.active) if user else (None, _DUMMY_HASH, False)
    )
    # argon2 takes tens of milliseconds: verify outside any transaction, so a login burst never holds
    # SQLite's write lock (issue 11); the reads above are rolled back, the writes below begin anew
    session.rollback()
    ok = False
    try:
        ok = _hasher.verify(stored_hash, password) and active
    except (VerificationError, InvalidHashError):
        ok = False
    user = session.get(ConsoleUser, user_id) if user_id is not None else None
    session.add(LoginAttempt(username=username[:60], client=client[:100], ok=ok))
    if not ok or user is None or not user.active:
        log.warning("login failed for %r from %s", username, client)
        raise AuthError("用户名或密码不正确。")
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    console_session = ConsoleSession(
        token_hash=_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(24),
        expires_at=utcnow() + timedelta(hours=SESSION_HOURS),
    )
    session.add(console_session)
    session.flush()
    log.info("login ok for %r from %s", username, client)
    return user, token, console_session


def logout(session: Session, *, token: str) -> None:
    """End a session."""
    row = session.execute(
        select(ConsoleSession).where(col(ConsoleSession.token_hash) == _digest(token))
    ).scalar_one_or_none()
    if row is not None:
        session.delete(row)


def create_token(session: Session, *, username: str, name: str) -> str:
    """A new bearer token for a user's scripts; shown once, stored hashed."""
    user = session.execute(
        select(ConsoleUser).where(col(ConsoleUser.username) == username)
    ).scalar_one_or_none()
    if user is None:
        raise ValueError(f"no user {username!r}")
    token = "hq_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=_digest(token)))
    session.flush()
    return token


@dataclass
class Principal:
    """Who is calling: the account, and the session's CSRF token (None for bearer tokens)."""

    user: ConsoleUser
    csrf: str | None


def principal(session: Session, request: Request) -> Principal | None:
    """The caller from the session cookie or an `Authorization: Bearer` token, or None."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        row = session.execute(
            select(ApiToken).where(
                col(ApiToken.token_hash) == _digest(auth[7:].strip()), col(ApiToken.revoked).is_(False)
            )
        ).scalar_one_or_none()
        user = session.get(ConsoleUser, row.user_id) if row else None
        return Principal(user, None) if user is not None and user.active else None
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    row = session.execute(
        select(ConsoleSession).where(col(ConsoleSession.token_hash) == _digest(token))
    ).scalar_one_or_none()
    if row is None or row.expires_at <= utcnow():
        return None
    user = session.get(ConsoleUser, row.user_id)
    return Principal(user, row.csrf_token) if user is not None and user.active else None


def get_db(request: Request) -> Any:
    """One session per request; the route's service calls commit through it. GET and HEAD requests read
    only: their transactions begin deferred and never take SQLite's write lock (issue 11)."""
    engine = request.app.state.engine
    bind = read_bind(engine) if request.method in ("GET", "HEAD") else engine
    with Session(bind, expire_on_commit=False) as session:
        yield session


DbSession = Annotated[Session, Depends(get_db)]


class NotSignedIn(Exception):
    """Raised for pages: the app turns it into a redirect to the login page."""


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting the given roles (admin always); pages redirect to login, the API says 401."""

    def dependency(request: Request, db: DbSession) -> Principal:
        who = principal(db, request)
        if who is None:
            if request.url.path.startswith("/console"):
                raise NotSignedIn
            raise HTTPException(401, "not signed in")
        if who.user.role != "admin" and who.user.role not in roles:
            raise HTTPException(403, "此页面不属于您的角色 / not for your role")
        request.state.principal = who
        return who

    return dependency


def check_csrf(who: Principal, submitted: str | None) -> None:
    """Refuse a state-changing request whose CSRF token is missing or wrong (bearer tokens need none)."""
    if who.csrf is None:
        return
    if not submitted or not hmac.compare_digest(submitted, who.csrf):
        raise HTTPException(403, "表单已失效，请刷新页面后重试 / CSRF token missing or wrong")
