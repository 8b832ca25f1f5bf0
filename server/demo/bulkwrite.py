"""Writing the bulk demo rows fast (server/demo/bulk.py): plain tuples straight to the driver — SQLite's
executemany with synchronous=OFF for the fill, PostgreSQL's COPY — in large transactions, with the feedback
table's secondary indexes (and SQLite's FTS triggers) dropped for the fill and built once at the end, then
the FTS table refilled and the per-day rollups built."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection


def _sqlite_dt(v: datetime | None) -> str | None:
    """A datetime as SQLAlchemy stores it in SQLite: UTC, 'YYYY-MM-DD HH:MM:SS.ffffff'."""
    return None if v is None else v.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _sqlite_date(v: date | None) -> str | None:
    return None if v is None else v.isoformat()


def _sqlite_bool(v: bool | None) -> int | None:
    return None if v is None else int(v)


def _converters(rows: Sequence[dict[str, Any]], names: list[str]) -> list[Any]:
    """Per column, how its values go to SQLite (None: as they are), from the first row that has one."""
    out: list[Any] = []
    for name in names:
        sample = next((r[name] for r in rows if r[name] is not None), None)
        if isinstance(sample, datetime):
            out.append(_sqlite_dt)
        elif isinstance(sample, date):
            out.append(_sqlite_date)
        elif isinstance(sample, bool):
            out.append(_sqlite_bool)
        else:
            out.append(None)
    return out


def _saved_objects(conn: Connection, table: str) -> list[tuple[str, str, str]]:
    """(kind, name, definition) of `table`'s secondary indexes and triggers, to drop and make again."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL "
            "AND type IN ('index', 'trigger') ORDER BY type",
            (table,),
        ).all()
        return [(str(k), str(n), str(s)) for k, n, s in rows]
    rows = conn.exec_driver_sql(
        "SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = %(t)s AND indexname NOT IN (SELECT conname FROM pg_constraint)",
        {"t": table},
    ).all()
    return [(str(k), str(n), str(s)) for k, n, s in rows]


class BulkWriter:
    """Appends rows to tables on one connection, one transaction per `commit`."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"

    def write(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        """Append `rows` (dicts with the same keys) to `table`."""
        if not rows:
            return
        names = list(rows[0])
        if self.sqlite:
            sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            columns = [[r[n] for r in rows] for n in names]
            for k, convert in enumerate(_converters(rows, names)):
                if convert is not None:
                    columns[k] = [convert(v) for v in columns[k]]
            self.conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))
            return
        raw = self.conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for r in rows:
                copy.write_row(tuple(r[n] for n in names))

    def commit(self) -> None:
        """End this transaction (the next write begins another)."""
        self.conn.commit()


@contextmanager
def bulk_writer(engine: Engine, *, table: str = "feedback") -> Iterator[BulkWriter]:
    """A writer for a fill; `table`'s secondary indexes and triggers are made again (and, on SQLite, its FTS
    index refilled) when it ends, even after an error."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        raw: Any = conn.connection.dbapi_connection
        if sqlite:  # outside any transaction (SQLite will not change them inside one)
            synchronous = raw.execute("PRAGMA synchronous").fetchone()[0]
            raw.execute("PRAGMA synchronous = OFF")
            raw.execute("PRAGMA cache_size = -200000")
        saved = _saved_objects(conn, table)
        for kind, name, _sql in saved:
            conn.exec_driver_sql(f"DROP {kind.upper()} IF EXISTS {name}")
        conn.commit()
        try:
            yield BulkWriter(conn)
            conn.commit()
        finally:
            conn.rollback()
            for _kind, _name, sql in sorted(saved, key=lambda s: s[0]):  # indexes before triggers
                conn.exec_driver_sql(sql)
            if sqlite:
                from sqlmodel import Session

                from feedback.tokens import rebuild_fts

                with Session(bind=conn) as session:
                    rebuild_fts(session)
                    session.flush()
            else:
                conn.exec_driver_sql(f"ANALYZE {table}")
            conn.commit()
            if sqlite:
                raw.execute(f"PRAGMA synchronous = {int(synchronous)}")
                raw.execute("PRAGMA cache_size = -2000")
