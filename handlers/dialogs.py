"""Feedback windows (dialogs): one per sender, kept in the database, open for a few minutes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from handlers.models import Dialog


def current_window(session: Session, *, sender: str, now: datetime) -> Dialog | None:
    """The sender's open window, or None when there is none or it has expired."""
    dialog = session.execute(select(Dialog).where(Dialog.sender == sender)).scalar_one_or_none()
    if dialog is None or dialog.expires_at <= now:
        return None
    return dialog


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
) -> Dialog:
    """Open (or reopen) the sender's window with this context, replacing whatever was there."""
    dialog = session.execute(select(Dialog).where(Dialog.sender == sender)).scalar_one_or_none()
    if dialog is None:
        dialog = Dialog(sender=sender)
    dialog.channel = channel
    dialog.site_id = site_id
    dialog.table_no = table_no
    dialog.meeting_id = meeting_id
    dialog.meal = meal
    dialog.feedback_id = feedback_id
    dialog.opened_at = now
    dialog.expires_at = now + timedelta(minutes=minutes)
    session.add(dialog)
    session.flush()
    return dialog


def extend_window(session: Session, *, dialog: Dialog, now: datetime, minutes: int, feedback_id: int | None) -> None:
    """Keep the window open for another `minutes` and point it at `feedback_id`."""
    dialog.feedback_id = feedback_id
    dialog.expires_at = now + timedelta(minutes=minutes)
    session.add(dialog)
    session.flush()
