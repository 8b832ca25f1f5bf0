"""Named counters advanced inside the caller's transaction: gap-free, never reused, never derived from row ids."""

from __future__ import annotations

from sqlmodel import Session

from core.fastsql import Sql
from core.models import Counter

_NEXT = Sql(
    "INSERT INTO counter (name, value) VALUES (:name, 1) "
    "ON CONFLICT (name) DO UPDATE SET value = counter.value + 1 RETURNING value"
)


def next_value(session: Session, *, name: str) -> int:
    """Advance counter `name` by one and return the new value (the row stays locked until commit)."""
    return int(_NEXT.one(session, name=name)[0])


def peek(session: Session, *, name: str) -> int:
    """The counter's current value (0 when never advanced)."""
    row = session.get(Counter, name)
    return row.value if row else 0
