"""What the search reads, taken from the feedback and exports models: their tables, which volumes count as
archived, and the SQL pieces the statements share. The statements are SQL text, built once (why: see
docs/benchmarks.md, "Why the hot path looks the way it does"); their table names come from these tables."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table

from exports.models import ARCHIVED as ARCHIVED_STATUSES
from exports.models import Volume, VolumeItem
from feedback.models import Feedback, Meeting, Site

FEEDBACK: Table = Feedback.__table__  # type: ignore[attr-defined]
SITE: Table = Site.__table__  # type: ignore[attr-defined]
MEETING: Table = Meeting.__table__  # type: ignore[attr-defined]
VOLUME: Table = Volume.__table__  # type: ignore[attr-defined]
ITEM: Table = VolumeItem.__table__  # type: ignore[attr-defined]

# archived (已归档): bound to a sealed or received volume; a volume still building is not
ARCHIVED = tuple(s.value for s in ARCHIVED_STATUSES)  # as SQL text: plain strings
ARCHIVED_LIST = ", ".join(f"'{s}'" for s in ARCHIVED)
"""The archived statuses as an SQL list, for `status IN (…)`."""
ARCHIVED_VOLUMES = f"SELECT {VOLUME.c.id} FROM {VOLUME} WHERE {VOLUME.c.status} IN ({ARCHIVED_LIST})"
"""The ids of the archived volumes, as a subquery for SQL text."""
NOT_ARCHIVED = f"{VOLUME.c.status} NOT IN ({ARCHIVED_LIST})"
"""The condition on a volume row that it is not archived (still building)."""

ORDER = f"ORDER BY f.{FEEDBACK.c.service_date.name} DESC, f.{FEEDBACK.c.reference.name}"
"""The order of hits over `feedback f`: newest service date first, then by reference."""

Phrases = Sequence[Sequence[str]]  # each phrase: tokens that must stand in a row
Groups = Sequence[Sequence[str]]  # each group: tokens one of which must be present
