"""Console accounts and access: argon2 password hashes, server-side sessions with expiry, CSRF tokens,
rate-limited and logged logins, bearer tokens for scripts, and who is calling (the role checks built on
it are in console/deps.py)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request
from sqlalchemy import Engine, case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from console import passwords
from console.models import ROLES, ApiToken, ConsoleSession, ConsoleUser, LoginAttempt, LoginThrottle
from console.passwords import DEMO_PASSWORD
from core.clock import utcnow

log = logging.getLogger("houqin.console.auth")
COOKIE = "houqin_session"
SESSION_HOURS = 12
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
TOKEN_DAYS = 90
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-password")  # verified against for unknown users: same timing either way


class AuthError(Exception):
    """Login refused; the message is for the person."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    _demo: bool = False,  # `houqin demo` only: its accounts use DEMO_PASSWORD (refused in production)
) -> ConsoleUser:
    """Add a console account (argon2-hashed password)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if (why := passwords.problem(password, username=username)) and not _demo:
        raise ValueError(why)
    user = ConsoleUser(
        username=username,
        display_name=display_name or username,
        role=role,
        password_hash=_hasher.hash(password),
    )
    session.add(user)
    session.flush()
    return user


def _throttle_key(kind: str, value: str) -> str:
    # a digest of the whole value: a name over 60 characters is counted as itself, never cut to another
    return f"{kind}:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:64]


def _reserve(session: Session, key: str, now: datetime) -> tuple[int, datetime, datetime | None]:
    """Count one attempt for the key, atomically, before the password is checked (one upsert, committed
    on its own connection): concurrent guesses each get their own number, none slips past the limit.
    Attempts while the key must wait are not counted, so a stranger cannot extend the wait."""
    table = LoginThrottle.__table__  # type: ignore[attr-defined]
    c = table.c
    stale = c.window_start <= now - FAILURE_WINDOW
    waiting = c.blocked_until.is_not(None) & (c.blocked_until > now)
    engine = cast(Engine, session.get_bind())
    dialect_insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    insert = dialect_insert(table).values(key=key, attempts=1, window_start=now, blocked_until=None)
    stmt = insert.on_conflict_do_update(
        index_elements=[c.key],
        set_={
            "attempts": case((stale, 1), (waiting, c.attempts), else_=c.attempts + 1),
            "window_start": case((stale, now), else_=c.window_start),
            "blocked_until": case((stale, None), else_=c.blocked_until),
        },
    ).returning(c.attempts, c.window_start, c.blocked_until)
    with engine.begin() as conn:
        row = conn.execute(stmt).mappings().one()
    return int(row["attempts"]), row["window_start"], row["blocked_until"]


def _delay(failures: int) -> timedelta:
    """Progressive delay after the n-th failure in a window: none for the first two, then 1, 2, 4 … s."""
    return timedelta(seconds=0 if failures < 3 else min(2 ** (failures - 3), 60))


def _after(session: Session, keys: list[str], *, ok: bool, failures: dict[str, int], now: datetime) -> None:
    # in the caller's transaction (it commits failures too): the reservation already counted the attempt
    table = LoginThrottle.__table__  # type: ignore[attr-defined]
    for key in keys:
        if ok:
            session.execute(table.delete().where(table.c.key == key))
        elif _delay(failures[key]):
            session.execute(
                table.update().where(table.c.key == key).values(blocked_until=now + _delay(failures[key]))
            )


def login(
    session: Session,
    *,
    username: str,
    password: str,
    client: str,
    now: datetime | None = None,
    production: bool = False,
) -> tuple[ConsoleUser, str, ConsoleSession]:
    """Check a password; on success start a session and return (user, cookie token, session).

    Per name and per address: MAX_FAILURES failures in FAILURE_WINDOW (a fixed window from the first
    failure, never extended by attempts made while refused), with a growing delay after the third."""
    now = now or utcnow()
    keys = [_throttle_key("name", username), _throttle_key("client", client)]
    counts: dict[str, int] = {}
    for key in keys:
        attempts, window_start, blocked_until = _reserve(session, key, now)
        counts[key] = attempts
        if attempts > MAX_FAILURES or (blocked_until is not None and blocked_until > now):
            wait = max(
                (window_start + FAILURE_WINDOW - now) if attempts > MAX_FAILURES else timedelta(0),
                (blocked_until - now) if blocked_until is not None else timedelta(0),
            )
            log.warning("login rate-limited for %r from %s", username[:60], client)
            session.add(LoginAttempt(username=username[:60], client=client[:100], ok=False, at=now))
            minutes = int(wait.total_seconds() // 60)
            raise AuthError(
                f"登录失败次数过多，请{minutes + 1}分钟后再试。"
                if minutes
                else f"登录过于频繁，请{max(1, int(wait.total_seconds()))}秒后再试。"
            )
    user = session.execute(
        select(ConsoleUser).where(col(ConsoleUser.username) == username[:60])
    ).scalar_one_or_none()
    if len(username) > 60:
        user = None
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
    if ok and production and hmac.compare_digest(password.encode(), DEMO_PASSWORD.encode()):
        log.warning("demo password refused in production for %r", username[:60])
        session.add(LoginAttempt(username=username[:60], client=client[:100], ok=False, at=now))
        _after(session, keys, ok=False, failures=counts, now=now)
        raise AuthError("演示账户的密码不能在生产环境中使用，请管理员用 houqin user passwd 修改密码。")
    session.add(LoginAttempt(username=username[:60], client=client[:100], ok=ok, at=now))
    _after(session, keys, ok=ok, failures=counts, now=now)
    if not ok or user is None or not user.active:
        log.warning("login failed for %r from %s", username[:60], client)
        raise AuthError("用户名或密码不正确。")
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    console_session = ConsoleSession(
        token_hash=_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(24),
        expires_at=now + timedelta(hours=SESSION_HOURS),
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


def create_token(session: Session, *, username: str, name: str, days: int = TOKEN_DAYS) -> str:
    """A new bearer token for a user's scripts, valid `days` days; shown once, stored hashed."""
    user = session.execute(
        select(ConsoleUser).where(col(ConsoleUser.username) == username)
    ).scalar_one_or_none()
    if user is None:
        raise ValueError(f"no user {username!r}")
    token = "hq_" + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            name=name,
            token_hash=_digest(token),
            expires_at=utcnow() + timedelta(days=days),
        )
    )
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
        if row is not None and row.expires_at is not None and row.expires_at <= utcnow():
            return None
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


def check_csrf(who: Principal, submitted: str | None) -> None:
    """Refuse a state-changing request whose CSRF token is missing or wrong (bearer tokens need none)."""
    if who.csrf is None:
        return
    if not submitted or not hmac.compare_digest(submitted, who.csrf):
        raise HTTPException(403, "表单已失效，请刷新页面后重试 / CSRF token missing or wrong")


# --- account lifecycle (issue 11): passwords, deactivation, token listing and revocation -----------------


def _user(session: Session, username: str) -> ConsoleUser:
    user = session.execute(
        select(ConsoleUser).where(col(ConsoleUser.username) == username)
    ).scalar_one_or_none()
    if user is None:
        raise ValueError(f"没有账户 {username}")
    return user


def _end_sessions(session: Session, user_id: int | None) -> None:
    session.execute(delete(ConsoleSession).where(col(ConsoleSession.user_id) == user_id))


def set_password(session: Session, *, username: str, password: str) -> None:
    """Change an account's password (the rule applies) and end its sessions."""
    user = _user(session, username)
    if why := passwords.problem(password, username=username):
        raise ValueError(why)
    user.password_hash = _hasher.hash(password)
    session.add(user)
    _end_sessions(session, user.id)
    session.flush()


def set_active(session: Session, *, username: str, active: bool) -> None:
    """Disable (sessions ended, tokens revoked) or re-enable an account."""
    user = _user(session, username)
    user.active = active
    session.add(user)
    if not active:
        _end_sessions(session, user.id)
        session.execute(update(ApiToken).where(col(ApiToken.user_id) == user.id).values(revoked=True))
    session.flush()


def users(session: Session) -> list[ConsoleUser]:
    """Every account, by name."""
    return list(session.execute(select(ConsoleUser).order_by(col(ConsoleUser.username))).scalars())


def tokens(session: Session) -> list[tuple[ApiToken, str]]:
    """Every bearer token with its account's name, newest first (never the token itself)."""
    rows = session.execute(
        select(ApiToken, ConsoleUser.username)  # type: ignore[call-overload]
        .join(ConsoleUser, col(ConsoleUser.id) == col(ApiToken.user_id))
        .order_by(col(ApiToken.id).desc())
    ).all()
    return [(r.ApiToken, r.username) for r in rows]


def revoke_token(session: Session, *, token_id: int) -> None:
    """Revoke a bearer token by its id (`houqin token list`)."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise ValueError(f"没有编号为 {token_id} 的令牌")
    row.revoked = True
    session.add(row)
    session.flush()
