"""A batch of messages handled in one transaction (the ingest writer's): what to prepare before routing it.

The senders' windows are read with one query and written with one statement before the commit
(handlers.dialogs), the feedback those windows point at is read with one more (feedback.service.prefetch),
and the feedback the batch creates is written with one multi-row insert (feedback.service.defer_inserts). Handlers run unchanged: they see their own changes either way.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session

from core.clock import utcnow
from feedback.service import defer_inserts, prefetch
from handlers import dialogs


def prepare(session: Session, *, senders: Iterable[str]) -> None:
    """Ready the session's transaction for a batch of messages from `senders`."""
    dialogs.batch(session, senders=senders)
    prefetch(session, feedback_ids=dialogs.window_feedback_ids(session, now=utcnow()))
    defer_inserts(session)
