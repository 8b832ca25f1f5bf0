"""Hot-path SQL: statements written once with `:named` parameters, run on the driver connection of the
session's own transaction.

Why: the webhook stores every message with durable commits at thousands per second; building SQLModel
objects and going through the ORM cost ~2 ms per message, raw driver calls ~0.1 ms. Only the
per-message path uses this; everything else uses the ORM. Values are converted to exactly what
SQLAlchemy itself stores (UTC datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' on SQLite), so ORM reads of
rows written here and raw reads of ORM rows agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

_NAMED = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


def _json_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return (v if v.tzinfo is not None else v.replace(tzinfo=UTC)).isoformat()  # naive means UTC here
    if isinstance(v, date):
        return v.isoformat()
    raise TypeError(f"cannot send {type(v).__name__} as a JSON row value")


def _sqlite_value(v: Any) -> Any:
    t = type(v)
    if t is datetime:
        if v.tzinfo is not UTC and v.tzinfo is not None:
            v = v.astimezone(UTC)
        return v.replace(tzinfo=None).isoformat(" ", "microseconds")
    if t is date:
        return v.isoformat()
    return v


def parse_dt(v: Any) -> datetime | None:
    """A timestamp column as aware UTC, whichever driver returned it."""
    if v is None:
        return None
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    return v if v.tzinfo is not None else v.replace(tzinfo=UTC)


def parse_date(v: Any) -> date | None:
    """A date column as a date, whichever driver returned it."""
    if v is None or isinstance(v, date):
        return v
    return date.fromisoformat(str(v))


_CONVERT = (datetime, date)


class Sql:
    """One statement, kept in both paramstyles."""

    __slots__ = ("pg", "sqlite")

    def __init__(self, text: str) -> None:
        self.sqlite = text
        self.pg = _NAMED.sub(r"%(\1)s", text)

    def run(self, session: Session, **params: Any) -> Any:
        """Execute inside the session's transaction; return the driver cursor."""
        conn, is_pg = driver(session)
        if is_pg:
            cur = conn.cursor()
            cur.execute(self.pg, params)
            return cur
        for k, v in params.items():
            if type(v) in _CONVERT:
                params[k] = _sqlite_value(v)
        return conn.execute(self.sqlite, params)

    def many(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Execute once per row of parameters (on PostgreSQL psycopg pipelines them: one round trip)."""
        if not rows:
            return
        conn, is_pg = driver(session)
        if is_pg:
            with conn.cursor() as cur:
                cur.executemany(self.pg, rows)
            return
        conv = _CONVERT
        conn.executemany(
            self.sqlite, [{k: _sqlite_value(v) if type(v) in conv else v for k, v in r.items()} for r in rows]
        )

    def one(self, session: Session, **params: Any) -> Any:
        """Execute and return the first row (or None)."""
        return self.run(session, **params).fetchone()


class Rows:
    """One statement over many rows: `{rows}` in the text becomes the rows' source, in one statement per
    chunk instead of one per row (on PostgreSQL each executed statement costs the server far more than one
    more row). SQLite: `VALUES (:col0, …), (:col1, …)`, built once per row count. PostgreSQL: `SELECT *
    FROM json_to_recordset(…)` over one JSON parameter: one short statement whatever the row count
    (psycopg re-parses, and does not cache, a statement text longer than 4 KiB).

    `columns` maps each column to its PostgreSQL type.
    """

    __slots__ = ("_built", "chunk", "columns", "pg")

    def __init__(self, text: str, columns: dict[str, str], *, chunk: int = 128) -> None:
        self.columns = columns
        self.chunk = chunk
        self._built: dict[int, Sql] = {}
        record = ", ".join(f'"{c}" {t}' for c, t in columns.items())
        self.pg = Sql(
            text.replace("{rows}", f"SELECT * FROM json_to_recordset(CAST(:rows AS json)) AS r({record})")
        ).pg
        self._built[0] = Sql(text)  # the template, for SQLite's VALUES lists

    def _sqlite(self, n: int) -> str:
        found = self._built.get(n)
        if found is None:
            values = ", ".join("(" + ", ".join(f":{c}{i}" for c in self.columns) + ")" for i in range(n))
            found = self._built[n] = Sql(self._built[0].sqlite.replace("{rows}", f"VALUES {values}"))
        return found.sqlite

    def run(self, session: Session, rows: list[dict[str, Any]]) -> list[Any]:
        """Execute over `rows` (dicts keyed by column); the rows any RETURNING gave back."""
        if not rows:
            return []
        conn, is_pg = driver(session)
        if is_pg:
            cur = conn.cursor()
            # one JSON text parameter: json.dumps is C, where psycopg dumps array elements one by one in Python
            cur.execute(self.pg, {"rows": json.dumps(rows, default=_json_value, ensure_ascii=False)})
            return cur.fetchall() if cur.description is not None else []
        out: list[Any] = []
        for start in range(0, len(rows), self.chunk):
            chunk = rows[start : start + self.chunk]
            params = {
                f"{c}{i}": _sqlite_value(v) if type(v := row[c]) in _CONVERT else v
                for i, row in enumerate(chunk)
                for c in self.columns
            }
            cur = conn.execute(self._sqlite(len(chunk)), params)
            if cur.description is not None:
                out.extend(cur.fetchall())
        return out


def driver(session: Session) -> tuple[Any, bool]:
    """The DBAPI connection under the session's current transaction (begun if needed), and whether it is PostgreSQL."""
    cached = session.info.get(_KEY)
    if cached is not None:
        return cached
    conn = session.connection()  # begins the transaction when none is open
    cached = (conn.connection.dbapi_connection, conn.dialect.name == "postgresql")
    session.info[_KEY] = cached
    return cached


_KEY = "houqin.fastsql.driver"
_MEMO = "houqin.fastsql.memo"


def memo(session: Session) -> dict[str, Any]:
    """A dict that lives as long as the session's current transaction: what the message path has read (or
    will write) in this transaction, so a batch of messages asks the database once, not once each."""
    found = session.info.get(_MEMO)
    if found is None:
        found = session.info[_MEMO] = {}
    return found


_DEFERRED = "houqin.fastsql.deferred"


def defer(session: Session, *, order: int, flush: Callable[[Session], None]) -> None:
    """Have `flush` write what a batch kept in memory, before the transaction commits (or when
    `flush_deferred` is called). Lower `order` first: rows others refer to (feedback) before the rows
    that refer to them (windows). Registering the same function again is a no-op."""
    pending: dict[Callable[[Session], None], int] = memo(session).setdefault(_DEFERRED, {})
    pending.setdefault(flush, order)


def flush_deferred(session: Session) -> None:
    """Run every registered flush now, in order (each must be safe to call again)."""
    pending = memo(session).get(_DEFERRED)
    if pending:
        for flush in sorted(pending, key=pending.__getitem__):
            flush(session)


@event.listens_for(Session, "before_commit")
def _flush_before_commit(session: Session) -> None:
    if _MEMO in session.info:
        flush_deferred(session)


class KeyLookup:
    """`select` for many values of a unique column at once: `select WHERE column = :k0 UNION ALL select WHERE
    column = :k1 …`, one statement per chunk of keys, built once per chunk size.

    Not `IN (…)`: PostgreSQL may plan an IN list over a table it believes small (new, or not analyzed yet)
    as a sequential scan, and psycopg's prepared statement keeps that plan as the table grows; an equality
    on a unique index is planned as an index lookup whatever the statistics say.
    """

    __slots__ = ("_built", "chunk", "column", "select")

    def __init__(self, select: str, column: str, *, chunk: int = 128) -> None:
        self.select = select
        self.column = column
        self.chunk = chunk
        self._built: dict[int, Sql] = {}

    def run(self, session: Session, keys: list[Any]) -> list[Any]:
        """The rows of these keys (in no particular order; a key with no row gives none)."""
        out: list[Any] = []
        for start in range(0, len(keys), self.chunk):
            chunk = keys[start : start + self.chunk]
            stmt = self._built.get(len(chunk))
            if stmt is None:
                stmt = self._built[len(chunk)] = Sql(
                    " UNION ALL ".join(
                        f"{self.select} WHERE {self.column} = :k{i}" for i in range(len(chunk))
                    )
                )
            out.extend(stmt.run(session, **{f"k{i}": k for i, k in enumerate(chunk)}).fetchall())
        return out


@event.listens_for(Session, "after_transaction_end")
def _forget_driver(session: Session, transaction: Any) -> None:
    # the driver connection belongs to one transaction: the next one may get another from the pool; and
    # what the transaction read or meant to write is gone with it
    if transaction.parent is None:
        session.info.pop(_KEY, None)
        session.info.pop(_MEMO, None)
