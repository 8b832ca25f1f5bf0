"""Named counters advanced inside the caller's transaction: never reused, never derived from row ids.

`next_value` takes one number at a time: gap-free, but the counter row stays locked until the caller's
transaction commits, so every other writer of that counter waits. `Blocks` (used by the ingest writer of
each worker) reserves `size` numbers with one counter write and hands them out from memory: workers stop
queueing behind each other's batches, at the price of unused numbers (gaps) when a worker stops with
part of a block left. Numbers stay unique either way: a block is a range the counter has moved past.
"""

from __future__ import annotations

from sqlmodel import Session

from core.fastsql import Driver, Sql
from core.models import Counter

_NEXT = Sql(
    "INSERT INTO counter (name, value) VALUES (:name, 1) "
    "ON CONFLICT (name) DO UPDATE SET value = counter.value + 1 RETURNING value"
)
_ADVANCE = Sql(
    "INSERT INTO counter (name, value) VALUES (:name, :by) "
    "ON CONFLICT (name) DO UPDATE SET value = counter.value + :by RETURNING value"
)


def next_value(session: Session | Driver, *, name: str) -> int:
    """Advance counter `name` by one and return the new value (the row stays locked until commit)."""
    return int(_NEXT.mapped(session, name=name)[0]["value"])


def advance(session: Session | Driver, *, name: str, by: int) -> int:
    """Advance counter `name` by `by` and return the new value: the caller owns value-by+1 … value."""
    return int(_ADVANCE.mapped(session, name=name, by=by)[0]["value"])


class Blocks:
    """Numbers drawn from blocks reserved in the counter rows, for one writer thread at a time.

    A block reserved inside a transaction is only kept once that transaction commits (`committed`); if it
    rolls back, so does the counter, and the block is dropped (`rolled_back`) so its numbers are never
    handed out without the counter having moved past them.
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._blocks: dict[str, list[int]] = {}  # name → [next, last]
        self._new: list[tuple[str, list[int]]] = []  # reserved in the current transaction

    def take(self, session: Session | Driver, *, name: str) -> int:
        """The next number of `name`, reserving a new block in this transaction when none is left."""
        block = self._blocks.get(name)
        if block is None or block[0] > block[1]:
            last = advance(session, name=name, by=self.size)
            block = [last - self.size + 1, last]
            if len(self._blocks) > 16:  # names are per day: forget old days
                self._blocks.clear()
            self._blocks[name] = block
            self._new.append((name, block))
        number = block[0]
        block[0] += 1
        return number

    def committed(self) -> None:
        """The transaction that reserved the new blocks committed: keep them."""
        self._new = []

    def rolled_back(self) -> None:
        """The transaction rolled back: drop the blocks it reserved (their counter write is undone)."""
        for name, block in self._new:
            if self._blocks.get(name) is block:
                del self._blocks[name]
        self._new = []


def peek(session: Session, *, name: str) -> int:
    """The counter's current value (0 when never advanced)."""
    row = session.get(Counter, name)
    return row.value if row else 0
