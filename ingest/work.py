"""Work for the ingest writer other than deliveries: a function of a session (the H5 form's submission,
feedback.forms.submit) that the writer runs in its batch's group commit.

Why through the writer: on SQLite one process has one writer; a form handled in its own request thread
takes the write lock and pays an fsync per submission, and the form threads queue on the lock
(busy_timeout) behind the webhook's batches. Queued to the writer (`Ingestor.call`), the forms that arrived
meanwhile share one transaction and one fsync, as the webhook's messages do (docs/benchmarks.md, "The
feedback form").

The pieces of a batch run one after the other in the batch's transaction, with no savepoint each (a
savepoint cost a tenth of the writer's time): a piece may refuse — raise one of its `refusals` (a form over
its rate limit) — only before it writes anything, and gets that exception back while the others go on. Any
other exception (a key taken meanwhile by another process, a bug), or a commit that fails, rolls the
batch back, and each piece is run again alone in its own transaction (so a work function must depend only
on the database and its arguments); there, what it raises is its answer. An outage
(ingest.delivery.database_unavailable) goes back to every caller, as for deliveries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine
from sqlmodel import Session

from core.db import unit_of_work
from ingest.delivery import database_unavailable

log = logging.getLogger("houqin.ingest")

WorkFn = Callable[[Session], Any]


class Work:
    """One function to run in the writer's transaction; the caller awaits what it returns (or raises).
    `refusals`: the exceptions it raises only before writing anything."""

    __slots__ = ("fn", "refusals")

    def __init__(self, fn: WorkFn, refusals: tuple[type[Exception], ...] = ()) -> None:
        self.fn = fn
        self.refusals = refusals


def _one(session: Session, work: Work) -> Any:
    try:
        return work.fn(session)
    except work.refusals as exc:
        return exc


def run_work(engine: Engine | Connection, works: list[Work]) -> list[Any]:
    """Run these pieces of work in one transaction and commit once (see the module docstring); each one's
    result, or the exception it raised. Raises only when the database is unavailable."""
    try:
        with unit_of_work(engine) as session:
            return [_one(session, w) for w in works]
    except Exception as exc:
        if database_unavailable(exc):
            raise
        if len(works) == 1:
            return [exc]
        log.warning("batch of %d form submissions failed; retrying one by one", len(works), exc_info=True)
    out: list[Any] = []
    for w in works:
        try:
            with unit_of_work(engine) as session:
                out.append(w.fn(session))
        except Exception as exc:
            if database_unavailable(exc):
                raise
            out.append(exc)
    return out
