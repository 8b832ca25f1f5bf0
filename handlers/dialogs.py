"""Feedback windows (dialogs): one per sender, kept in the database so every worker sees it.

On the per-message path, so it uses precompiled SQL (core.fastsql) rather than ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from core.fastsql import Sql, parse_dt

_GET = Sql(
    "SELECT id, sender, channel, site_id, table_no, meeting_id, meal, feedback_id, opened_at, expires_at "
    "FROM dialog WHERE sender = :sender"
)
_UPSERT = Sql(
    "INSERT INTO dialog (sender, channel, site_id, table_no, meeting_id, meal, feedback_id, opened_at, expires_at) "
    "VALUES (:sender, :channel, :site_id, :table_no, :meeting_id, :meal, :feedback_id, :opened_at, :expires_at) "
    "ON CONFLICT (sender) DO UPDATE SET channel = excluded.channel, site_id = excluded.site_id, "
    "table_no = excluded.table_no, meeting_id = excluded.meeting_id, meal = excluded.meal, "
    "feedback_id = excluded.feedback_id, opened_at = excluded.opened_at, expires_at = excluded.expires_at "
    "RETURNING id"
)
_EXTEND = Sql("UPDATE dialog SET feedback_id = :feedback_id, expires_at = :expires_at WHERE id = :id")


@dataclass
class DialogRow:
    """A sender's open window: what it is about and which feedback it fills."""

    id: int
    sender: str
    channel: str
    site_id: int | None
    table_no: str | None
    meeting_id: int | None
    meal: str | None
    feedback_id: int | None
    opened_at: datetime
    expires_at: datetime


def current_window(session: Session, *, sender: str, now: datetime) -> DialogRow | None:
    """The sender's open window, or None when there is none or it has expired."""
    row = _GET.one(session, sender=sender)
    if row is None:
        return None
    opened, expires = parse_dt(row[8]), parse_dt(row[9])
    assert opened is not None and expires is not None
    dialog = DialogRow(
        id=row[0],
        sender=row[1],
        channel=row[2],
        site_id=row[3],
        table_no=row[4],
        meeting_id=row[5],
        meal=row[6],
        feedback_id=row[7],
        opened_at=opened,
        expires_at=expires,
    )
    return dialog if dialog.expires_at > now else None


def open_window(
    session: Session,
    *,
    sender: str,
    now: datetime,
    minutes: int,
    channel: str = "canteen",
    site_id: int | None = None,
    table_no: str | None = None,
    meeting_id: int | None = None,
    meal: str | None = None,
    feedback_id: int | None = None,
) -> DialogRow:
    """Open (or reopen) the sender's window with this context, replacing whatever was there."""
    expires = now + timedelta(minutes=minutes)
    values = dict(
        sender=sender,
        channel=str(channel),
        site_id=site_id,
        table_no=table_no,
        meeting_id=meeting_id,
        meal=str(meal) if meal else None,
        feedback_id=feedback_id,
    )
    row = _UPSERT.one(session, **values, opened_at=now, expires_at=expires)
    return DialogRow(id=row[0], **values, opened_at=now, expires_at=expires)  # type: ignore[arg-type]


def extend_window(
    session: Session, *, dialog: DialogRow, now: datetime, minutes: int, feedback_id: int | None
) -> None:
    """Keep the window open for another `minutes` and point it at `feedback_id`."""
    dialog.feedback_id = feedback_id
    dialog.expires_at = now + timedelta(minutes=minutes)
    _EXTEND.run(session, feedback_id=feedback_id, expires_at=dialog.expires_at, id=dialog.id)
