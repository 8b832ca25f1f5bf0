"""The store of the message path: every statement it runs, and `Store`, through which handlers read and write.

A `Store` serves one unit of work (one transaction). Inside an ingest batch it has a `Batch`
(`store.deferred` is True): windows and new feedback are kept in memory and written by `flush`, which the
batch's unit of work calls before it commits (ingest.writer); reading them back gives what was kept. Outside
a batch (the one-by-one retry, the H5 form, the CLI, tests) `Store(session)` writes each call at once
(`store.deferred` is False). Either way a handler sees its own changes.

The statements are raw SQL on the driver connection (core.fastsql: the message path stores thousands of
messages a second, see docs/benchmarks.md); their column lists and PostgreSQL types are derived from the
SQLModel tables, and their rows are read by column name.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from core.counters import next_value
from core.fastsql import Driver, KeyLookup, Rows, Sql, driver, parse_date, parse_dt, pg_types
from feedback.alerts import ON_DUTY, OnDuty
from feedback.models import Feedback, FeedbackEvent, FeedbackMedia, InboundMessage, Site
from feedback.service import FeedbackRow, active_canteens
from handlers.models import Dialog
from ingest.batch import Batch, DialogRow

# --- inbound_message: the log of every delivery, keyed by its dedupe key -------------------------------

_INBOUND = [c.name for c in InboundMessage.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]
_INSERT_INBOUND = Rows(
    f"INSERT INTO inbound_message ({', '.join(_INBOUND)}) {{rows}} "
    "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key",
    pg_types(InboundMessage.__table__, _INBOUND),  # type: ignore[attr-defined]
)
_EXISTING = Sql("SELECT reply, feedback_id FROM inbound_message WHERE dedupe_key = :key")
_EXISTING_MANY = KeyLookup("SELECT dedupe_key, reply, feedback_id FROM inbound_message", "dedupe_key")
_SET_REPLY = Sql("UPDATE inbound_message SET reply = :reply, feedback_id = :feedback_id WHERE id = :id")

# --- feedback ---------------------------------------------------------------------------------------------

_FEEDBACK = [c.name for c in Feedback.__table__.columns]  # type: ignore[attr-defined]
_NEW = [c for c in _FEEDBACK if c != "id"]
_INSERT_FEEDBACK = Sql(
    f"INSERT INTO feedback ({', '.join(_NEW)}) VALUES ({', '.join(f':{c}' for c in _NEW)}) RETURNING id"
)
_INSERT_FEEDBACK_ROWS = Rows(
    f"INSERT INTO feedback ({', '.join(_FEEDBACK)}) {{rows}}",
    pg_types(Feedback.__table__),  # type: ignore[attr-defined]
)
_ROW_FIELDS = [f.name for f in fields(FeedbackRow)]  # the columns the message path reads
_SELECT_FEEDBACK = f"SELECT {', '.join(_ROW_FIELDS)} FROM feedback"
_GET_FEEDBACK = Sql(f"{_SELECT_FEEDBACK} WHERE id = :id")
_GET_FEEDBACK_MANY = KeyLookup(_SELECT_FEEDBACK, "id", chunk=500)
_NEXT_IDS_PG = Sql(
    "SELECT nextval(pg_get_serial_sequence('feedback', 'id')) AS id FROM generate_series(1, :n)"
)
_MAX_ID = Sql("SELECT coalesce(max(id), 0) AS id FROM feedback")
_ID_BLOCK = 32
# a score or words that came later can only bring the deadlines nearer (HOUQIN_SLA)
_TIGHTEN = Sql(
    "UPDATE feedback SET ack_due_at = CASE WHEN ack_due_at IS NULL OR ack_due_at > :ack THEN :ack "
    "ELSE ack_due_at END, rectify_due_at = coalesce(rectify_due_at, :rectify) WHERE id = :id"
)
_LAST_PLACE = Sql(
    "SELECT site_id FROM feedback WHERE sender = :sender AND created_at >= :since AND site_id IS NOT NULL "
    "AND channel = 'canteen' ORDER BY created_at DESC, id DESC LIMIT 1"
)
_EVENT_COLUMNS = [c.name for c in FeedbackEvent.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]
_EVENT = Sql(
    f"INSERT INTO feedback_event ({', '.join(_EVENT_COLUMNS)}) "
    f"VALUES ({', '.join(f':{c}' for c in _EVENT_COLUMNS)})"
)
_MEDIA_TABLE = FeedbackMedia.__table__  # type: ignore[attr-defined]
_FEEDBACK_TABLE = Feedback.__table__  # type: ignore[attr-defined]
_BUILT: dict[tuple[str, tuple[str, ...]], Sql] = {}  # statements built for the columns a caller sets


def _update(columns: tuple[str, ...]) -> Sql:
    """UPDATE feedback SET the given columns (checked against the table) WHERE id = :id."""
    found = _BUILT.get(("update", columns))
    if found is None:
        sets = ", ".join(f"{_FEEDBACK_TABLE.columns[c].name} = :{c}" for c in columns)
        found = _BUILT["update", columns] = Sql(f"UPDATE feedback SET {sets} WHERE id = :id")
    return found


def _insert_media(columns: tuple[str, ...]) -> Sql:
    """INSERT INTO feedback_media the given columns (the others take the database's defaults)."""
    found = _BUILT.get(("media", columns))
    if found is None:
        names = ", ".join(_MEDIA_TABLE.columns[c].name for c in columns)
        found = _BUILT["media", columns] = Sql(
            f"INSERT INTO feedback_media ({names}) VALUES ({', '.join(f':{c}' for c in columns)}) RETURNING id"
        )
    return found


def _feedback(row: dict[str, Any]) -> FeedbackRow:
    row["service_date"] = parse_date(row["service_date"])
    return FeedbackRow(**row)


# --- person: the on-duty managers an alert goes to (feedback.alerts.on_duty, on the driver connection) ---

_ON_DUTY = Sql("SELECT id, openid, wecom_userid FROM person WHERE roles LIKE :pattern")

# --- dialog: one feedback window per sender ---------------------------------------------------------------

_DIALOG = [c.name for c in Dialog.__table__.columns]  # type: ignore[attr-defined]
assert [f.name for f in fields(DialogRow)] == _DIALOG, "DialogRow must follow the dialog table"
_WINDOW = [c for c in _DIALOG if c != "id"]
_GET_WINDOW = Sql(f"SELECT {', '.join(_DIALOG)} FROM dialog WHERE sender = :sender")
_GET_WINDOWS = KeyLookup(f"SELECT {', '.join(_DIALOG)} FROM dialog", "sender", chunk=500)
# one upsert, written once: for a batch's windows at once (Rows), and for one window returning its id
_UPSERT_WINDOWS = (
    f"INSERT INTO dialog ({', '.join(_WINDOW)}) {{rows}} ON CONFLICT (sender) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _WINDOW if c != "sender")
)
_WRITE_WINDOWS = Rows(_UPSERT_WINDOWS, pg_types(Dialog.__table__, _WINDOW))  # type: ignore[attr-defined]
_UPSERT_WINDOW = Sql(
    _UPSERT_WINDOWS.replace("{rows}", "VALUES (" + ", ".join(f":{c}" for c in _WINDOW) + ")")
    + " RETURNING id"
)
_MUTABLE = ("site_id", "meal", "feedback_id", "expires_at", "awaiting", "pending_score", "asked_place")
_SAVE_WINDOW = Sql(
    "UPDATE dialog SET " + ", ".join(f"{c} = :{c}" for c in _MUTABLE) + " WHERE sender = :sender"
)


def _window(row: dict[str, Any]) -> DialogRow:
    row["opened_at"], row["expires_at"] = parse_dt(row["opened_at"]), parse_dt(row["expires_at"])
    row["asked_place"] = bool(row["asked_place"])
    return DialogRow(**row)


def _window_values(dialog: DialogRow) -> dict[str, Any]:
    return {c: getattr(dialog, c) for c in _WINDOW}


class Store:
    """The message path's reads and writes for one unit of work: deferred to `batch` when given (flushed by
    `flush` before the commit), at once otherwise. `deferred` says which."""

    __slots__ = ("_db", "_tx", "batch", "session")

    def __init__(self, session: Session, *, batch: Batch | None = None) -> None:
        self.session = session
        self.batch = batch
        self._db: Driver | None = None  # the driver connection of the session's transaction …
        self._tx: Any = None  # … which is this one

    @property
    def deferred(self) -> bool:
        """True when windows and new feedback are written by `flush` (a batch), False when at once."""
        return self.batch is not None

    @property
    def db(self) -> Driver:
        """The driver connection under the session's transaction (begun if needed): looked up once per
        transaction, as the next one may get another connection from the pool."""
        found = self._db
        if found is None or self.session.get_transaction() is not self._tx:
            found = self._db = driver(self.session)
            self._tx = self.session.get_transaction()
        return found

    def flush(self) -> None:
        """Write what the batch kept in memory, in a fixed order: new feedback first, then the windows that
        refer to it (a no-op outside a batch, or when nothing is pending). Safe to call again."""
        batch = self.batch
        if batch is None:
            return
        if batch.pending_feedback:
            _INSERT_FEEDBACK_ROWS.run(self.db, batch.take_feedback())
        if batch.dirty_windows:
            _WRITE_WINDOWS.run(self.db, [_window_values(d) for d in batch.take_windows()])

    def prepare(self, *, senders: list[str], now: datetime) -> None:
        """A batch's first reads: the senders' windows with one query, the feedback they point at with one more."""
        self.load_windows(senders)
        batch = self.batch
        if batch is not None:
            ids = [
                d.feedback_id
                for d in batch.windows.values()
                if d is not None and d.feedback_id and d.expires_at > now
            ]
            self.prefetch_feedback(ids)

    # --- inbound messages ----------------------------------------------------------------------------

    def insert_deliveries(self, rows: list[dict[str, Any]]) -> dict[str, int]:
        """Insert inbound_message rows (one statement per chunk); dedupe key → id of those that were new (a
        key already stored, or stored meanwhile by another worker, is left out: ON CONFLICT)."""
        return {r["dedupe_key"]: int(r["id"]) for r in _INSERT_INBOUND.run(self.db, rows)}

    def stored_replies(self, keys: list[str]) -> dict[str, tuple[str, int | None]]:
        """The stored reply and feedback of each of these keys (at most one statement per chunk)."""
        return {
            r["dedupe_key"]: (r["reply"] or "", r["feedback_id"]) for r in _EXISTING_MANY.run(self.db, keys)
        }

    def stored_reply(self, key: str) -> tuple[str, int | None]:
        """The stored reply and feedback of one key."""
        row = _EXISTING.mapped(self.db, key=key)[0]
        return row["reply"] or "", row["feedback_id"]

    def set_replies(self, rows: list[dict[str, Any]]) -> None:
        """Store replies ({reply, feedback_id, id}): one UPDATE by primary key per row, in one executemany
        (an UPDATE … FROM (VALUES …) join would be one statement, but PostgreSQL plans it as a sequential
        scan while the table is new)."""
        _SET_REPLY.many(self.db, rows)

    # --- counters --------------------------------------------------------------------------------------

    def next_number(self, name: str) -> int:
        """The next number of counter `name`: from the batch's blocks when it has them, else one at a time
        (gap-free: core.counters.next_value)."""
        batch = self.batch
        if batch is not None and batch.numbers is not None:
            return batch.numbers.take(self.db, name=name)
        return next_value(self.db, name=name)

    # --- feedback --------------------------------------------------------------------------------------

    def insert_feedback(self, row: dict[str, Any]) -> FeedbackRow:
        """Store a new feedback. In a batch its id is reserved now and the row written by `flush`: on
        PostgreSQL from the table's sequence (never handed out twice, even to another worker); on SQLite
        after the largest id, which is safe because the batch's transaction holds SQLite's write lock
        from its first statement."""
        values: dict[str, Any] = {c: row.get(c) for c in _NEW}
        batch = self.batch
        if batch is None:
            new_id = int(_INSERT_FEEDBACK.mapped(self.db, **values)[0]["id"])
        else:
            new_id = self._reserve_id(batch)
            batch.pending_ids.add(new_id)
            batch.pending_feedback.append({"id": new_id, **values})
        created = FeedbackRow(id=new_id, **{f: values[f] for f in _ROW_FIELDS if f != "id"})
        if batch is not None:
            batch.feedback[new_id] = created  # later reads in the batch get this very object
        return created

    def _reserve_id(self, batch: Batch) -> int:
        if self.db.is_pg:
            if not batch.pg_ids:
                rows = _NEXT_IDS_PG.mapped(self.db, n=_ID_BLOCK)
                batch.pg_ids = sorted((int(r["id"]) for r in rows), reverse=True)
            return batch.pg_ids.pop()
        if batch.next_id is None:
            batch.next_id = int(_MAX_ID.mapped(self.db)[0]["id"]) + 1
        found = batch.next_id
        batch.next_id += 1
        return found

    def _written(self, feedback_id: int) -> None:
        """Write the batch's pending feedback when `feedback_id` is one of them (about to be changed or
        referred to)."""
        batch = self.batch
        if batch is not None and feedback_id in batch.pending_ids:
            _INSERT_FEEDBACK_ROWS.run(self.db, batch.take_feedback())

    def prefetch_feedback(self, feedback_ids: list[int]) -> None:
        """Read these feedback with one query and keep them in the batch (a no-op outside a batch)."""
        batch = self.batch
        if batch is None:
            return
        todo = [i for i in dict.fromkeys(feedback_ids) if i not in batch.feedback]
        for row in _GET_FEEDBACK_MANY.run(self.db, todo):
            batch.feedback[int(row["id"])] = _feedback(row)

    def get_feedback(self, feedback_id: int) -> FeedbackRow | None:
        """One feedback as a plain row (the same object again within a batch that created or read it)."""
        batch = self.batch
        if batch is not None and feedback_id in batch.feedback:
            return batch.feedback[feedback_id]
        rows = _GET_FEEDBACK.mapped(self.db, id=feedback_id)
        return _feedback(rows[0]) if rows else None

    def update_feedback(self, feedback_id: int, values: dict[str, Any]) -> None:
        """Set these columns of one feedback."""
        self._written(feedback_id)
        _update(tuple(values)).run(self.db, **values, id=feedback_id)

    def tighten_deadlines(self, feedback_id: int, *, ack: datetime, rectify: datetime | None) -> None:
        """Bring the feedback's deadlines nearer (never later than they are)."""
        self._written(feedback_id)
        _TIGHTEN.run(self.db, ack=ack, rectify=rectify, id=feedback_id)

    def add_event(self, *, feedback_id: int, at: datetime, actor: str, action: str, detail: str) -> None:
        """Append to the feedback's history."""
        self._written(feedback_id)
        _EVENT.run(self.db, feedback_id=feedback_id, at=at, actor=actor, action=action, detail=detail)

    def add_media(self, row: dict[str, Any]) -> int:
        """Attach a media row to a feedback; its id."""
        self._written(row["feedback_id"])
        return int(_insert_media(tuple(row)).mapped(self.db, **row)[0]["id"])

    def last_place(self, *, sender: str, since: datetime) -> int | None:
        """The canteen (site id) of the sender's latest canteen feedback since `since`, or None."""
        if self.batch is not None:  # this batch's feedback, not written yet, is newer than any stored
            for new in reversed(self.batch.pending_feedback):
                if new["sender"] == sender and new["site_id"] is not None and new["channel"] == "canteen":
                    return int(new["site_id"])
        rows = _LAST_PLACE.mapped(self.db, sender=sender, since=since)
        return int(rows[0]["site_id"]) if rows else None

    def active_canteens(self) -> list[Site]:
        """The active canteens (feedback.service.active_canteens); read once per batch (a batch asks for
        every message without a place)."""
        batch = self.batch
        if batch is None:
            return active_canteens(self.session)
        if batch.canteens is None:
            batch.canteens = active_canteens(self.session)
        return batch.canteens

    def on_duty(self) -> list[OnDuty]:
        """The on-duty managers to alert (as feedback.alerts.on_duty); read once per batch."""
        batch = self.batch
        if batch is not None and batch.on_duty is not None:
            return batch.on_duty
        found = [
            OnDuty(int(r["id"]), r["openid"], r["wecom_userid"])
            for r in _ON_DUTY.mapped(self.db, pattern=f"%{ON_DUTY}%")
        ]
        if batch is not None:
            batch.on_duty = found
        return found

    # --- feedback windows ------------------------------------------------------------------------------

    def load_windows(self, senders: list[str]) -> None:
        """Read the windows of `senders` with one query, into the batch (a no-op outside a batch)."""
        batch = self.batch
        if batch is None:
            return
        todo = [s for s in dict.fromkeys(senders) if s not in batch.windows]
        batch.windows.update(dict.fromkeys(todo))
        for row in _GET_WINDOWS.run(self.db, todo):
            batch.windows[row["sender"]] = _window(row)

    def current_window(self, *, sender: str, now: datetime) -> DialogRow | None:
        """The sender's open window, or None when there is none or it has expired."""
        batch = self.batch
        if batch is not None and sender in batch.windows:
            dialog = batch.windows[sender]
        else:
            rows = _GET_WINDOW.mapped(self.db, sender=sender)
            dialog = _window(rows[0]) if rows else None
            if batch is not None:
                batch.windows[sender] = dialog
        return dialog if dialog is not None and dialog.expires_at > now else None

    def open_window(
        self,
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
        dialog = DialogRow(
            id=None,
            sender=sender,
            channel=str(channel),
            site_id=site_id,
            table_no=table_no,
            meeting_id=meeting_id,
            meal=str(meal) if meal else None,
            feedback_id=feedback_id,
            opened_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
        if self.batch is not None:
            self.batch.keep_window(dialog)
        else:
            dialog.id = int(_UPSERT_WINDOW.mapped(self.db, **_window_values(dialog))[0]["id"])
        return dialog

    def extend_window(
        self, *, dialog: DialogRow, now: datetime, minutes: int, feedback_id: int | None
    ) -> None:
        """Keep the window open for another `minutes` and point it at `feedback_id`."""
        dialog.feedback_id = feedback_id
        dialog.expires_at = now + timedelta(minutes=minutes)
        self.save_window(dialog)

    def save_window(self, dialog: DialogRow) -> None:
        """Write the window's changed context (site, meal, feedback, expiry, the question it waits on)."""
        if self.batch is not None:
            self.batch.keep_window(dialog)
            return
        _SAVE_WINDOW.run(self.db, sender=dialog.sender, **{c: getattr(dialog, c) for c in _MUTABLE})
