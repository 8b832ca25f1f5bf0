"""A batch: what one ingest transaction keeps in memory instead of asking the database once per message.

The ingest writer (ingest.writer) handles a batch of messages in one transaction. Its `Batch` holds the
senders' feedback windows (read with one query, changed in memory), the feedback the batch created or
read (by id), the new feedback rows not written yet with the ids reserved for them, the writer's blocks of
reference numbers (core.counters.Blocks), and the on-duty managers and active canteens (read once).
Handlers never see the batch: they call the `ingest.store.Store` of their context, which keeps its writes
here when it has a batch (`store.deferred`), and the unit of work that owns the batch calls
`Store.flush` before it commits: feedback first, then the windows that refer to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.counters import Blocks

if TYPE_CHECKING:
    from feedback.alerts import OnDuty
    from feedback.models import Site
    from feedback.service import FeedbackRow


@dataclass
class DialogRow:
    """A sender's open feedback window: what it is about and which feedback it fills (the `dialog` table,
    handlers.models.Dialog; the statements of ingest.store are derived from that table)."""

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


class Batch:
    """The in-memory state of one ingest batch's transaction (see the module docstring)."""

    __slots__ = (
        "canteens",
        "dirty_windows",
        "feedback",
        "next_id",
        "numbers",
        "on_duty",
        "pending_feedback",
        "pending_ids",
        "pg_ids",
        "windows",
    )

    def __init__(self, numbers: Blocks | None = None) -> None:
        self.numbers = numbers  # the writer's blocks of reference numbers; None: one at a time
        self.windows: dict[str, DialogRow | None] = {}  # by sender; None: no window stored
        self.dirty_windows: dict[str, DialogRow] = {}  # changed: written by the flush
        self.feedback: dict[int, FeedbackRow] = {}  # created or read in this batch, by id
        self.pending_feedback: list[dict[str, Any]] = []  # new rows, written by the flush
        self.pending_ids: set[int] = set()  # their ids
        self.pg_ids: list[int] = []  # PostgreSQL: ids reserved from the sequence, not used yet (newest first)
        self.next_id: int | None = None  # SQLite: the next id after the largest stored or reserved
        self.on_duty: list[OnDuty] | None = None  # read when the first alert fires
        self.canteens: list[Site] | None = None  # read when first asked for

    def take_feedback(self) -> list[dict[str, Any]]:
        """The pending feedback rows, handed over to be written (the batch forgets them)."""
        rows, self.pending_feedback = self.pending_feedback, []
        self.pending_ids.clear()
        return rows

    def take_windows(self) -> list[DialogRow]:
        """The changed windows, handed over to be written (the batch forgets they changed)."""
        rows, self.dirty_windows = list(self.dirty_windows.values()), {}
        return rows

    def keep_window(self, dialog: DialogRow) -> None:
        """Remember a window's new state, to be written by the flush."""
        self.windows[dialog.sender] = self.dirty_windows[dialog.sender] = dialog
