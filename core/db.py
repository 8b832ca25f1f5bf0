"""Database engine and sessions: one code path for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from core.settings import ConfigError


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    # WAL lets readers run beside the writer; FULL makes an acknowledged message survive power loss
    # (commits are grouped by the ingest writer, so the fsync is paid once per batch, not per message).
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, see _sqlite_begin
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # A transaction that reads then writes fails with "database is locked" under several processes
    # unless it takes the write lock up front.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_cannot_write(context: Any) -> None:
    # A connection opened while the file was read-only stays read-only after the file is writable again:
    # treating the error as a disconnect makes the pool drop it, so the process recovers without a
    # restart (issue 11).
    orig = context.original_exception
    if isinstance(orig, sqlite3.OperationalError) and "readonly" in str(orig).lower():
        context.is_disconnect = True


def _pg_read_only(context: Any) -> None:
    # 25006 read_only_sql_transaction: this connection went to a standby (a failover) or was opened under
    # default_transaction_read_only; drop it, so the next one reaches whatever is primary now (issue 11).
    if getattr(context.original_exception, "sqlstate", None) == "25006":
        context.is_disconnect = True


def _sqlite_begin_mode(conn: Any) -> None:
    # Read-only units of work (`read_unit`) begin a plain deferred transaction: WAL readers never take
    # the write lock, so a console page or a lookup never stalls ingest. Writes begin IMMEDIATE.
    if conn.get_execution_options().get("houqin_read_only"):
        conn.exec_driver_sql("BEGIN")
    else:
        _sqlite_begin(conn)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for `url`, with SQLite's pragmas or PostgreSQL's pool set the way houqin needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False}, pool_size=8)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_mode)
        event.listen(engine, "handle_error", _sqlite_cannot_write)
    elif parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, echo=echo, pool_size=8, max_overflow=8, pool_pre_ping=True)
        event.listen(engine, "handle_error", _pg_read_only)
    else:
        raise ConfigError(
            f"HOUQIN_DATABASE_URL must be SQLite or PostgreSQL, got {parsed.get_backend_name()}"
        )
    return engine


def check_connection(engine: Engine) -> None:
    """Fail with one clear line when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConfigError(f"cannot reach the database {engine.url.render_as_string()}: {first}") from None


def is_postgres(engine_or_session: Engine | Session) -> bool:
    """True when the bound database is PostgreSQL."""
    bind = engine_or_session.get_bind() if isinstance(engine_or_session, Session) else engine_or_session
    return bind.dialect.name == "postgresql"


def insert_ignore(session_or_engine: Session | Engine, table: Any) -> Any:
    """`INSERT … ON CONFLICT DO NOTHING` for the bound dialect (exactly-once inserts on a unique key)."""
    if is_postgres(session_or_engine):
        return pg_dialect.insert(table).on_conflict_do_nothing()
    return sqlite_dialect.insert(table).on_conflict_do_nothing()


def _read_only_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # each SELECT on its own: no transaction held across a long pass
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA query_only=ON")
    cur.close()


@contextmanager
def reader(engine: Engine) -> Iterator[Engine]:
    """An engine for long streamed reads (writing a volume, auditing one).

    On SQLite every transaction of the main engine begins IMMEDIATE, so a long read session would hold the
    write lock and stall the webhook's ingest for as long as a volume takes to write. This engine reads
    outside any transaction (WAL readers never block the writer) and refuses writes. PostgreSQL readers
    block nobody: the engine itself is used.
    """
    if engine.dialect.name != "sqlite":
        yield engine
        return
    ro = create_engine(engine.url, poolclass=NullPool, connect_args={"check_same_thread": False})
    event.listen(ro, "connect", _read_only_pragmas)
    try:
        yield ro
    finally:
        ro.dispose()


class HeldConnection:
    """One connection that a single thread (the ingest writer) keeps checked out across its transactions.

    Why: a pool checkout pings PostgreSQL first (pool_pre_ping), a round trip per batch that was a fifth
    of the writer's time. Held, the connection is pinged only when it is (re)opened; after an outage the
    writer drops it (`drop`) and the next batch connects afresh.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._pool: object = None

    def get(self) -> Connection:
        """The held connection, opened (and pinged) if there is none, or if the engine was disposed since."""
        conn = self._conn
        if conn is not None and (conn.closed or conn.invalidated or self.engine.pool is not self._pool):
            self.drop()
            conn = None
        if conn is None:
            self._pool = self.engine.pool
            conn = self._conn = self.engine.connect()
        return conn

    def drop(self) -> None:
        """Discard the connection (it may be broken): the next `get` opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                conn.invalidate()
            with suppress(Exception):
                conn.close()

    def close(self) -> None:
        """Give the connection back to the pool."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                conn.close()


@contextmanager
def unit_of_work(bind: Engine | Connection) -> Iterator[Session]:
    """A session whose work is committed at the end of the block, or rolled back on error (on an engine's
    pooled connection, or on a held one)."""
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException as exc:
            _drop_if_read_only(session, exc)
            session.rollback()
            raise


def _drop_if_read_only(session: Session, exc: BaseException) -> None:
    # A PostgreSQL 25006 raised outside SQLAlchemy's execute (a pipeline's sync) skips the handle_error
    # hook: invalidate the connection here, so the pool reconnects to the primary (issue 11). So does
    # SQLite's "attempt to write a readonly database" from a raw driver statement (core/fastsql.py): a
    # connection opened while the file was read-only stays so after it is writable again.
    orig = getattr(exc, "orig", exc)
    sqlite_read_only = isinstance(orig, sqlite3.OperationalError) and "readonly" in str(orig).lower()
    if getattr(orig, "sqlstate", None) == "25006" or sqlite_read_only:
        with suppress(Exception):
            session.connection().invalidate()


def read_bind(engine: Engine) -> Engine:
    """The same engine (pool, events) whose transactions begin deferred on SQLite: for reads only."""
    return engine.execution_options(houqin_read_only=True)


@contextmanager
def read_unit(engine: Engine) -> Iterator[Session]:
    """A session for reads only: no SQLite write lock is taken, and nothing is committed (rolled back)."""
    with Session(read_bind(engine), expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.rollback()


def cannot_write(conn: Connection) -> str | None:
    """Why the database cannot take writes now (a read-only standby, a read-only file or filesystem), or None."""
    if conn.dialect.name == "postgresql":
        read_only = conn.execute(text("SHOW transaction_read_only")).scalar()
        return (
            "read-only transaction (standby or default_transaction_read_only)" if read_only == "on" else None
        )
    path = conn.engine.url.database
    if not path or path == ":memory:":
        return None
    target = Path(path)
    if os.statvfs(target.parent).f_flag & os.ST_RDONLY:
        return "read-only filesystem"
    if not os.access(target, os.W_OK) or not os.access(target.parent, os.W_OK):
        return "database file or folder not writable"
    return None
