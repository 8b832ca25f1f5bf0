"""Work for the ingest writer other than deliveries: a function of a session (the H5 form's submission,
feedback.forms.submit) that the writer runs in its batch's group commit.

Why through the writer: on SQLite one process has one writer; a form handled in its own request thread
takes the write lock and pays an fsync per submission, and the form threads queue on the lock
(busy_timeout) behind the webhook's batches. Queued to the writer (`Ingestor.call`), the forms that arrived
meanwhile share one transaction and one fsync, as the webhook's messages do (docs/benchmarks.md, "The
feedback form").

Each piece of work runs in a savepoint of the batch's transaction, so one that raises (a refused form, a
key taken by another process) is rolled back alone and gets its exception; the others go on. When the
commit itself fails, each piece is run again alone in its own transaction (a work function must depend only
on the database and its arguments). An outage (ingest.delivery.database_unavailable) goes back to every
caller, as for deliveries.
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
    """One function to run in the writer's transaction; the caller awaits what it returns (or raises)."""

    __slots__ = ("fn",)

    def __init__(self, fn: WorkFn) -> None:
        self.fn = fn


def _one(session: Session, work: Work) -> Any:
    try:
        with session.begin_nested():
            return work.fn(session)
    except Exception as exc:
        if database_unavailable(exc):
            raise
        return exc


def run_work(engine: Engine | Connection, works: list[Work]) -> list[Any]:
    """Run these pieces of work in one transaction (each in a savepoint) and commit once; each one's result,
    or the exception it raised. Raises only when the database is unavailable."""
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
