"""The form's statements (feedback.forms.submit): raw SQL on the driver connection of the ingest writer's
transaction (core.fastsql), as the message path does — a submission is a handful of indexed statements,
not ORM queries and a flush (docs/benchmarks.md, "The feedback form").

Column lists come from the SQLModel tables; rows are read by column name.
"""

from __future__ import annotations

from typing import Any

from core.fastsql import Driver, Sql
from feedback.models import FeedbackForm

_FORM_COLUMNS = [c.name for c in FeedbackForm.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]

BY_KEY = Sql("SELECT diner, feedback_id FROM feedback_form WHERE key = :key")
REFERENCE = Sql("SELECT reference FROM feedback WHERE id = :id")
SITE = Sql("SELECT id, code, name FROM site WHERE code = :code AND active = :yes")
MEETING = Sql("SELECT id, code, title FROM meeting WHERE code = :code")
DINER_COUNT = Sql("SELECT count(*) AS n FROM feedback_form WHERE diner = :diner AND created_at >= :since")
PLACE_COUNT = Sql("SELECT count(*) AS n FROM feedback_form WHERE place = :place AND created_at >= :since")
# the diner's latest feedback of the edit window for this meal and place (or meeting), not yet archived
_EDITABLE = (
    "SELECT f.id, f.reference, f.created_at FROM feedback f JOIN feedback_form ff ON ff.feedback_id = f.id "
    "WHERE ff.diner = :diner AND f.sender = :diner AND f.channel = :channel AND f.service_date = :day "
    "AND f.created_at >= :since AND f.volume_id IS NULL AND {place} ORDER BY f.created_at DESC LIMIT 1"
)
EDITABLE_MEETING = Sql(_EDITABLE.format(place="f.meeting_id = :meeting_id"))
EDITABLE_CANTEEN = Sql(_EDITABLE.format(place="f.site_id = :site_id AND f.meal = :meal"))
PHOTO_COUNT = Sql("SELECT count(*) AS n FROM feedback_media WHERE feedback_id = :id")
DELETE_ASPECTS = Sql("DELETE FROM feedback_aspect WHERE feedback_id = :id")
INSERT_ASPECT = Sql(
    "INSERT INTO feedback_aspect (feedback_id, aspect, score) VALUES (:feedback_id, :aspect, :score)"
)
TWIN = Sql(
    "SELECT id FROM feedback_form WHERE diner = :diner AND fingerprint = :fingerprint "
    "AND created_at >= :since AND feedback_id != :id LIMIT 1"
)
INSERT_FORM = Sql(
    f"INSERT INTO feedback_form ({', '.join(_FORM_COLUMNS)}) VALUES ({', '.join(f':{c}' for c in _FORM_COLUMNS)})"
)


def count(db: Driver, statement: Sql, **params: Any) -> int:
    """A count(*) statement's number."""
    return int(statement.mapped(db, **params)[0]["n"])


def editable(db: Driver, *, meeting_id: int | None, **params: Any) -> tuple[int, str] | None:
    """(id, reference) of the feedback a new submission edits, or None."""
    rows = (
        EDITABLE_MEETING.mapped(db, meeting_id=meeting_id, **params)
        if meeting_id is not None
        else EDITABLE_CANTEEN.mapped(db, **params)
    )
    return (int(rows[0]["id"]), str(rows[0]["reference"])) if rows else None


def place_ids(db: Driver, place: str) -> tuple[int | None, int | None] | None:
    """(site id, meeting id) of a place canteen:<site> (an active one) or meeting:<code>; None if none."""
    kind, _, code = place.partition(":")
    if kind == "canteen":
        rows = SITE.mapped(db, code=code, yes=True)
        return (int(rows[0]["id"]), None) if rows else None
    if kind == "meeting":
        rows = MEETING.mapped(db, code=code.upper())
        return (None, int(rows[0]["id"])) if rows else None
    return None
