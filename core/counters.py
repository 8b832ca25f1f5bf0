"""Named counters advanced inside the caller's transaction: gap-free, never reused, never derived from row ids."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session

from core.db import insert_ignore
from core.models import Counter


def next_value(session: Session, *, name: str) -> int:
    """Advance counter `name` by one and return the new value (the row stays locked until commit)."""
    table = Counter.__table__  # type: ignore[attr-defined]
    stmt = update(table).where(table.c.name == name).values(value=table.c.value + 1).returning(table.c.value)
    value = session.execute(stmt).scalar_one_or_none()
    if value is None:
        session.execute(insert_ignore(session, table).values(name=name, value=0))
        value = session.execute(stmt).scalar_one()
    return int(value)


def peek(session: Session, *, name: str) -> int:
    """The counter's current value (0 when never advanced)."""
    row = session.get(Counter, name)
    return row.value if row else 0
