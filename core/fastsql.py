"""Hot-path SQL: statements written once with `:named` parameters, run on the driver connection of the
session's own transaction.

Why: the webhook stores every message with durable commits at thousands per second, and the ORM costs
far more per message than raw driver calls (docs/benchmarks.md). Only the per-message path uses this;
everything else uses the ORM. Values are converted to exactly what SQLAlchemy itself stores (UTC
datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' on SQLite), so ORM reads of rows written here and raw reads of
ORM rows agree. Rows come back as dicts keyed by column name (`named`), never by position; `pg_types`
derives a statement's PostgreSQL column types from a table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Boolean, Date, DateTime, Integer, String, Table, TypeDecorator
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

    def run(self, on: Session | Driver, **params: Any) -> Any:
        """Execute inside the session's transaction (or on its `Driver`); return the driver cursor."""
        conn, is_pg = _on(on)
        if is_pg:
            cur = conn.cursor()
            cur.execute(self.pg, params)
            return cur
        for k, v in params.items():
            if type(v) in _CONVERT:
                params[k] = _sqlite_value(v)
        return conn.execute(self.sqlite, params)

    def many(self, on: Session | Driver, rows: list[dict[str, Any]]) -> None:
        """Execute once per row of parameters (on PostgreSQL psycopg pipelines them: one round trip)."""
        if not rows:
            return
        conn, is_pg = _on(on)
        if is_pg:
            with conn.cursor() as cur:
                cur.executemany(self.pg, rows)
            return
        conv = _CONVERT
        conn.executemany(
            self.sqlite, [{k: _sqlite_value(v) if type(v) in conv else v for k, v in r.items()} for r in rows]
        )

    def one(self, on: Session | Driver, **params: Any) -> Any:
        """Execute and return the first row (or None)."""
        return self.run(on, **params).fetchone()

    def mapped(self, on: Session | Driver, **params: Any) -> list[dict[str, Any]]:
        """Execute and return the rows as dicts keyed by column name."""
        return named(self.run(on, **params))


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

    def run(self, on: Session | Driver, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Execute over `rows` (dicts keyed by column); the rows any RETURNING gave back, keyed by name."""
        if not rows:
            return []
        conn, is_pg = _on(on)
        if is_pg:
            cur = conn.cursor()
            # one JSON text parameter: json.dumps is C, where psycopg dumps array elements one by one in Python
            cur.execute(self.pg, {"rows": json.dumps(rows, default=_json_value, ensure_ascii=False)})
            return named(cur)
        out: list[dict[str, Any]] = []
        for start in range(0, len(rows), self.chunk):
            chunk = rows[start : start + self.chunk]
            params = {
                f"{c}{i}": _sqlite_value(v) if type(v := row[c]) in _CONVERT else v
                for i, row in enumerate(chunk)
                for c in self.columns
            }
            out.extend(named(conn.execute(self._sqlite(len(chunk)), params)))
        return out


class Driver(NamedTuple):
    """The DBAPI connection under a session's transaction, and whether it is PostgreSQL."""

    conn: Any
    is_pg: bool


def driver(session: Session) -> Driver:
    """The DBAPI connection under the session's current transaction (begun if needed). It belongs to that
    transaction only: the next one may get another connection from the pool, so a caller that runs many
    statements keeps the result for one transaction (ingest.store.Store does)."""
    conn = session.connection()  # begins the transaction when none is open
    return Driver(conn.connection.dbapi_connection, conn.dialect.name == "postgresql")


def _on(target: Session | Driver) -> Driver:
    return target if isinstance(target, Driver) else driver(target)


def named(cur: Any) -> list[dict[str, Any]]:
    """The rest of a driver cursor's rows as dicts keyed by column name (never by position)."""
    if cur.description is None:
        return []
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def pg_types(table: Table, names: Iterable[str] | None = None) -> dict[str, str]:
    """Column name → PostgreSQL type for `table`'s columns (all, or `names` in that order), for `Rows`."""
    columns = table.columns
    return {name: _pg_type(columns[name].type) for name in (names or [c.name for c in columns])}


def _pg_type(kind: Any) -> str:
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, Integer):
        return "integer"
    if isinstance(kind, DateTime):
        return "timestamptz"  # every timestamp is stored as aware UTC
    if isinstance(kind, Date):
        return "date"
    if isinstance(kind, String):  # String, Text, AutoString
        return "text"
    raise TypeError(f"no PostgreSQL type for {kind!r}")


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

    def run(self, on: Session | Driver, keys: list[Any]) -> list[dict[str, Any]]:
        """The rows of these keys, keyed by column name (in no particular order; a key with no row gives none)."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(keys), self.chunk):
            chunk = keys[start : start + self.chunk]
            stmt = self._built.get(len(chunk))
            if stmt is None:
                stmt = self._built[len(chunk)] = Sql(
                    " UNION ALL ".join(
                        f"{self.select} WHERE {self.column} = :k{i}" for i in range(len(chunk))
                    )
                )
            out.extend(named(stmt.run(on, **{f"k{i}": k for i, k in enumerate(chunk)})))
        return out
