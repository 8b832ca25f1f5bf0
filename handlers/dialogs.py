"""Feedback windows (dialogs): one per sender, kept in the database so every worker sees it.

On the per-message path, so it uses precompiled SQL (core.fastsql) rather than ORM objects. The ingest
batch calls `batch` first: then the windows of all its senders are read with one query, the handlers work
on those rows in memory, and every changed window is written with one multi-row upsert just before the
transaction commits, instead of a read and a write per message. Outside a batch every call goes to the database at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from core.fastsql import KeyLookup, Rows, Sql, defer, memo, parse_dt

_COLUMNS = (
    "id, sender, channel, site_id, table_no, meeting_id, meal, feedback_id, opened_at, expires_at, "
    "awaiting, pending_score, asked_place"
)
_GET = Sql(f"SELECT {_COLUMNS} FROM dialog WHERE sender = :sender")
_TYPES = {"sender": "text", "channel": "text", "site_id": "integer", "table_no": "text", "meeting_id": "integer",
          "meal": "text", "feedback_id": "integer", "opened_at": "timestamptz", "expires_at": "timestamptz",
          "awaiting": "text", "pending_score": "integer", "asked_place": "boolean"}  # fmt: skip
# one upsert, written once: for a batch's windows at once (Rows), and for one window returning its id
_UPSERT_ROWS = (
    f"INSERT INTO dialog ({', '.join(_TYPES)}) {{rows}} ON CONFLICT (sender) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _TYPES if c != "sender")
)
_WRITE = Rows(_UPSERT_ROWS, _TYPES)
_UPSERT = Sql(
    _UPSERT_ROWS.replace("{rows}", "VALUES (" + ", ".join(f":{c}" for c in _TYPES) + ")") + " RETURNING id"
)
_MUTABLE = ("site_id", "meal", "feedback_id", "expires_at", "awaiting", "pending_score", "asked_place")
_EXTEND = Sql("UPDATE dialog SET " + ", ".join(f"{c} = :{c}" for c in _MUTABLE) + " WHERE sender = :sender")
_MANY = KeyLookup(f"SELECT {_COLUMNS} FROM dialog", "sender", chunk=500)
_BATCH = "houqin.dialogs"  # memo key: this transaction's windows, by sender, and the ones to write


@dataclass
class DialogRow:
    """A sender's open window: what it is about and which feedback it fills."""

    id: int | None  # None until a batch writes it
    sender: str
    channel: str
    site_id: int | None
    table_no: str | None
    meeting_id: int | None
    meal: str | None
    feedback_id: int | None
    opened_at: datetime
    expires_at: datetime
    awaiting: str | None = None  # the question the window waits on: "place", "replace" or None
    pending_score: int | None = None  # the second score "replace" asks about
    asked_place: bool = False  # the place was asked once in this window: never again


def _dialog(row: Any) -> DialogRow:
    opened, expires = parse_dt(row[8]), parse_dt(row[9])
    assert opened is not None and expires is not None
    return DialogRow(
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
        awaiting=row[10],
        pending_score=row[11],
        asked_place=bool(row[12]),
    )


class _Batch:
    __slots__ = ("dirty", "rows")

    def __init__(self) -> None:
        self.rows: dict[str, DialogRow | None] = {}  # None: the sender has no window stored
        self.dirty: dict[str, DialogRow] = {}


def batch(session: Session, *, senders: Iterable[str]) -> None:
    """Read the windows of `senders` at once, and keep window changes in memory until the commit."""
    state = memo(session).get(_BATCH)
    if state is None:
        state = memo(session)[_BATCH] = _Batch()
        defer(session, order=1, flush=flush)  # after feedback rows: a window refers to its feedback
    todo = [s for s in dict.fromkeys(senders) if s not in state.rows]
    state.rows.update(dict.fromkeys(todo))
    for row in _MANY.run(session, todo):
        state.rows[row[1]] = _dialog(row)


def window_feedback_ids(session: Session, *, now: datetime) -> list[int]:
    """The feedback the batch's open windows point at (to read them all at once)."""
    state = _batch(session)
    if state is None:
        return []
    return [
        d.feedback_id for d in state.rows.values() if d is not None and d.feedback_id and d.expires_at > now
    ]


def _batch(session: Session) -> _Batch | None:
    found: _Batch | None = memo(session).get(_BATCH)
    return found


def flush(session: Session) -> None:
    """Write the windows a batch changed (called before the commit; a no-op outside a batch)."""
    state = _batch(session)
    if state is None or not state.dirty:
        return
    rows = [
        {
            "sender": d.sender,
            "channel": d.channel,
            "site_id": d.site_id,
            "table_no": d.table_no,
            "meeting_id": d.meeting_id,
            "meal": d.meal,
            "feedback_id": d.feedback_id,
            "opened_at": d.opened_at,
            "expires_at": d.expires_at,
            "awaiting": d.awaiting,
            "pending_score": d.pending_score,
            "asked_place": d.asked_place,
        }
        for d in state.dirty.values()
    ]
    state.dirty = {}
    _WRITE.run(session, rows)


def current_window(session: Session, *, sender: str, now: datetime) -> DialogRow | None:
    """The sender's open window, or None when there is none or it has expired."""
    state = _batch(session)
    if state is not None and sender in state.rows:
        dialog = state.rows[sender]
    else:
        row = _GET.one(session, sender=sender)
        dialog = None if row is None else _dialog(row)
        if state is not None:
            state.rows[sender] = dialog
    return dialog if dialog is not None and dialog.expires_at > now else None


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
        awaiting=None,
        pending_score=None,
        asked_place=False,
    )
    state = _batch(session)
    if state is not None:
        dialog = DialogRow(id=None, **values, opened_at=now, expires_at=expires)  # type: ignore[arg-type]
        state.rows[sender] = state.dirty[sender] = dialog
        return dialog
    row = _UPSERT.one(session, **values, opened_at=now, expires_at=expires)
    return DialogRow(id=row[0], **values, opened_at=now, expires_at=expires)  # type: ignore[arg-type]


def extend_window(
    session: Session, *, dialog: DialogRow, now: datetime, minutes: int, feedback_id: int | None
) -> None:
    """Keep the window open for another `minutes` and point it at `feedback_id`."""
    dialog.feedback_id = feedback_id
    dialog.expires_at = now + timedelta(minutes=minutes)
    save_window(session, dialog=dialog)


def save_window(session: Session, *, dialog: DialogRow) -> None:
    """Write the window's changed context (site, meal, feedback, expiry, the question it waits on)."""
    state = _batch(session)
    if state is not None:
        state.rows[dialog.sender] = state.dirty[dialog.sender] = dialog
        return
    _EXTEND.run(session, sender=dialog.sender, **{c: getattr(dialog, c) for c in _MUTABLE})
