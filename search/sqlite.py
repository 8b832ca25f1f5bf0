"""The SQLite back-end of the search: FTS5 MATCH expressions over `feedback_fts`, exact counts from the
index alone, and pages sorted from all matches when they are few, else from the newest months that hold
the page.

Archived only: a feedback bound to no volume carries the token `zzopen` (the FTS triggers add it), so the
index leaves those out itself; what it cannot see is a feedback bound to a volume still being built
(normally none), whose matches are counted apart and taken off."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam
from sqlalchemy import text as sql
from sqlmodel import Session

from feedback.tokens import FTS_TABLE, OPEN, month_token
from search.tables import ARCHIVED_LIST, ARCHIVED_VOLUMES, FEEDBACK, ORDER, VOLUME, Groups, Phrases

DIRECT_MAX = 2000  # up to this many matches, a page is sorted from all of them at once


def fts5_match(
    phrases: Iterable[Sequence[str]], groups: Iterable[Sequence[str]] = (), *, exclude: str = ""
) -> str:
    """An FTS5 MATCH expression: every phrase, one token of every group, and not `exclude`."""
    quote = lambda t: '"' + t.replace('"', '""') + '"'  # noqa: E731
    parts = ['"' + " ".join(t.replace('"', '""') for t in p) + '"' for p in phrases]
    parts += ["(" + " OR ".join(quote(t) for t in g) + ")" for g in groups]
    expr = " AND ".join(parts)
    return f"({expr}) NOT {quote(exclude)}" if exclude else expr


# volumes still being built, with the id range of their feedback
_UNSEALED = sql(
    f"SELECT v.id, (SELECT min(id) FROM {FEEDBACK} WHERE volume_id = v.id) AS lo, "
    f"(SELECT max(id) FROM {FEEDBACK} WHERE volume_id = v.id) AS hi "
    f"FROM {VOLUME} v WHERE v.status NOT IN ({ARCHIVED_LIST})"
)
_COUNT = sql(f"SELECT count(*) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :q")
# the matches bound to those volumes: only their rowid range is searched (FTS5 seeks to it)
_COUNT_UNSEALED = sql(
    f"SELECT count(*) FROM {FTS_TABLE} JOIN {FEEDBACK} f ON f.id = {FTS_TABLE}.rowid "
    f"WHERE {FTS_TABLE} MATCH :q AND {FTS_TABLE}.rowid BETWEEN :lo AND :hi AND +f.volume_id IN :v"
).bindparams(bindparam("v", expanding=True))


def _page_sql(archived_only: bool) -> str:
    archived = f"AND +f.volume_id IN ({ARCHIVED_VOLUMES}) " if archived_only else ""
    return (
        f"SELECT f.id FROM {FEEDBACK} f WHERE f.id IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :q) "
        f"{archived}{ORDER} LIMIT :limit OFFSET :offset"
    )


_PAGE = {archived: sql(_page_sql(archived)) for archived in (False, True)}


class SqliteSearch:
    """FTS5: exact counts from the index alone; pages sorted from all matches when few, else month by month."""

    def __init__(self, session: Session, *, archived_only: bool) -> None:
        self.s = session
        self.archived_only = archived_only
        self.unsealed: list[int] = []
        self.unsealed_ids = (0, 0)
        if archived_only:
            # bound (so without `zzopen`) but not archived: items of volumes still being built, normally none
            rows = session.execute(_UNSEALED).all()
            self.unsealed = [r.id for r in rows]
            if self.unsealed:
                self.unsealed_ids = (min(r.lo or 0 for r in rows), max(r.hi or 0 for r in rows))

    def match(self, phrases: Phrases, groups: Groups) -> str:
        """The MATCH expression of these phrases and groups (without `zzopen` when archived only)."""
        return fts5_match(phrases, groups, exclude=OPEN if self.archived_only else "")

    def count(self, phrases: Phrases, groups: Groups) -> int:
        """The exact number of matches."""
        q = self.match(phrases, groups)
        n = int(self.s.execute(_COUNT, {"q": q}).scalar_one())
        if n and self.unsealed:
            lo, hi = self.unsealed_ids
            params = {"q": q, "lo": lo, "hi": hi, "v": self.unsealed}
            n -= int(self.s.execute(_COUNT_UNSEALED, params).scalar_one())
        return n

    def page(self, phrases: Phrases, groups: Groups, *, limit: int, offset: int) -> list[int]:
        """Ids of one page of matches, newest service date first, then by reference."""
        params = {"q": self.match(phrases, groups), "limit": limit, "offset": offset}
        return list(self.s.execute(_PAGE[self.archived_only], params).scalars())

    def search(
        self,
        phrases: Phrases,
        groups: Groups,
        dates: Groups,
        months: list[tuple[int, int]],
        *,
        limit: int,
        offset: int,
    ) -> tuple[int, list[int]]:
        """The exact number of matches and the ids of one page (`dates`: the month tokens of a date filter)."""
        total = self.count(phrases, [*groups, *dates])
        if total <= offset or limit <= 0:
            return total, []
        if total <= DIRECT_MAX or len(months) == 1:
            return total, self.page(phrases, [*groups, *dates], limit=limit, offset=offset)
        # newest months first, counting each (the month token narrows the index) until the page is in hand;
        # then sort only those months' matches
        skipped, got = 0, 0
        chosen: list[str] = []
        for ym in months:
            n = self.count(phrases, [*groups, [month_token(*ym)]])
            if not n:
                continue
            if not chosen and skipped + n <= offset:
                skipped += n
                continue
            chosen.append(month_token(*ym))
            got += n
            if skipped + got >= offset + limit:
                break
        if not chosen:
            return total, []
        return total, self.page(phrases, [*groups, chosen], limit=limit, offset=offset - skipped)
