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

# everything a submission checks before it writes, in one statement (one round trip): the idempotency key
# seen before, the diner's and the place's recent submissions (counted up to the limit only, `*_cap`: a
# busy place costs no more than its limit), the site or meeting, and an identical submission within a day
CHECK = Sql(
    "SELECT (SELECT diner FROM feedback_form WHERE key = :key) AS seen_diner, "
    "(SELECT feedback_id FROM feedback_form WHERE key = :key) AS seen_feedback, "
    "(SELECT count(*) FROM (SELECT 1 FROM feedback_form WHERE diner = :diner AND created_at >= :hour "
    "LIMIT :diner_cap) AS d) AS diner_n, "
    "(SELECT count(*) FROM (SELECT 1 FROM feedback_form WHERE place = :place AND created_at >= :minute "
    "LIMIT :place_cap) AS p) AS place_n, "
    "(SELECT id FROM site WHERE code = :site_code AND active = :yes) AS site_id, "
    "(SELECT id FROM meeting WHERE code = :meeting_code) AS meeting_id, "
    "(SELECT count(*) FROM (SELECT 1 FROM feedback_form WHERE diner = :diner AND fingerprint = :fingerprint "
    "AND created_at >= :day LIMIT 1) AS t) AS twin"
)
REFERENCE = Sql("SELECT reference FROM feedback WHERE id = :id")
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
INSERT_FORM = Sql(
    f"INSERT INTO feedback_form ({', '.join(_FORM_COLUMNS)}) VALUES ({', '.join(f':{c}' for c in _FORM_COLUMNS)})"
)


def check(db: Driver, *, place: str, **params: Any) -> dict[str, Any]:
    """The CHECK row of a submission to `place` (canteen:<site> or meeting:<code>)."""
    kind, _, code = place.partition(":")
    site_code, meeting_code = (code, "") if kind == "canteen" else ("", code.upper())
    return CHECK.mapped(db, place=place, site_code=site_code, meeting_code=meeting_code, yes=True, **params)[
        0
    ]


def editable(db: Driver, *, meeting_id: int | None, **params: Any) -> tuple[int, str] | None:
    """(id, reference) of the feedback a new submission edits, or None."""
    rows = (
        EDITABLE_MEETING.mapped(db, meeting_id=meeting_id, **params)
        if meeting_id is not None
        else EDITABLE_CANTEEN.mapped(db, **params)
    )
    return (int(rows[0]["id"]), str(rows[0]["reference"])) if rows else None
