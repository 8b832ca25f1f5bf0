"""The PostgreSQL back-end of the search: to_tsquery expressions over the GIN-indexed `search_vector`,
walking the newest months first.

PostgreSQL 15 reads a table row for every match it counts (a bitmap scan does not skip all-visible pages),
so the search walks the newest months first, each narrowed by its month token and sorted, and stops once
it has the page and one match past the cap; the older months, when still needed, are asked at once.
Archived only: the tsquery leaves out `zzopen` (bound to no volume) and the token of every volume still
being built."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import text as sql
from sqlmodel import Session

from feedback.tokens import OPEN, VOLUME, month_token
from search.grammar import month_start, months_between
from search.tables import ARCHIVED_VOLUMES, FEEDBACK, NOT_ARCHIVED, ORDER, Groups, Phrases
from search.tables import VOLUME as VOLUME_TABLE


def tsquery_text(phrases: Iterable[Sequence[str]], groups: Iterable[Sequence[str]] = ()) -> str:
    """A to_tsquery('simple', …) expression: phrases of consecutive tokens and one token of every group."""
    quote = lambda t: "'" + t.replace("\\", "\\\\").replace("'", "''") + "'"  # noqa: E731
    parts = ["(" + " <-> ".join(quote(t) for t in p) + ")" for p in phrases]
    parts += ["(" + " | ".join(quote(t) for t in g) + ")" for g in groups]
    return " & ".join(parts)


# a bigger work_mem keeps the bitmap of a common word exact (not lossy); the months are read in order (one
# process, no Gather); compiling (JIT) takes longer than these queries
_SETTINGS = sql(
    "SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true), "
    "set_config('max_parallel_workers_per_gather', '0', true)"
)
# the tsquery text that leaves out what is not archived: feedback bound to no volume, or to one still being
# built (normally none); read in the same statement as the matches (one snapshot)
_EXCLUDE = (
    f"' & !{OPEN}' || coalesce((SELECT string_agg(' & !{VOLUME}' || {VOLUME_TABLE.c.id}, '') "
    f"FROM {VOLUME_TABLE} WHERE {NOT_ARCHIVED}), '')"
)


def _walk_sql(exclude: str) -> str:
    # OFFSET 0: each month's tsquery is a value parsed once, not an expression parsed again for every row
    return (
        f"WITH e AS MATERIALIZED (SELECT {exclude} AS x) "
        "SELECT x.id FROM e CROSS JOIN unnest(CAST(:queries AS text[])) AS m(q) "
        "CROSS JOIN LATERAL (SELECT to_tsquery('simple', m.q || e.x) AS q OFFSET 0) t "
        f"CROSS JOIN LATERAL (SELECT f.id FROM {FEEDBACK} f WHERE f.search_vector @@ t.q {ORDER}) x "
        "LIMIT :most"
    )


_WALK = {archived: sql(_walk_sql(_EXCLUDE if archived else "''")) for archived in (False, True)}


class PostgresSearch:
    """GIN, newest months first: a month's token narrows the index to that month's matches, so a common word
    costs the rows of a month or two, never all its matches; what the newest months leave (rare words, or a
    count short of the cap) is asked of the remaining period in one statement."""

    WALK = 2  # months walked one by one before the rest is asked at once

    def __init__(self, session: Session, *, archived_only: bool) -> None:
        self.s = session
        self.archived_only = archived_only
        session.execute(_SETTINGS)

    @property
    def _exclude(self) -> str:
        """SQL for the tsquery text that leaves out what is not archived (nothing when all are asked)."""
        return _EXCLUDE if self.archived_only else "''"

    def walk(
        self, phrases: Phrases, groups: Groups, months: list[tuple[int, int]], *, most: int
    ) -> list[int]:
        """Ids of the first `most` matches in these months, newest service date first, then by reference: one
        statement (a lateral join over the months' queries) whose LIMIT stops before the older months."""
        queries = [tsquery_text(phrases, [*groups, [month_token(*ym)]]) for ym in months]
        stmt = _WALK[self.archived_only]
        return list(self.s.execute(stmt, {"queries": queries, "most": most}).scalars())

    def rest(
        self, phrases: Phrases, groups: Groups, lo: date, hi: date, *, most: int, ordered: bool
    ) -> list[int]:
        """Ids of matches with a service date from lo to before hi: the first `most` (ordered), or any `most`."""
        params: dict[str, Any] = {"lo": lo, "hi": hi, "most": most}
        head, source = "", f"{FEEDBACK} f WHERE true "
        if phrases or groups:
            params["q"] = tsquery_text(phrases, groups)
            head = f"WITH e AS MATERIALIZED (SELECT to_tsquery('simple', :q || {self._exclude}) AS q) "
            source = f"e JOIN {FEEDBACK} f ON f.search_vector @@ e.q "
        elif self.archived_only:  # dates alone: no index but the service date's
            source = f"{FEEDBACK} f WHERE f.volume_id = ANY (ARRAY({ARCHIVED_VOLUMES})) "
        where = "AND f.service_date >= :lo AND f.service_date < :hi "
        if (
            ordered
        ):  # MATERIALIZED: sort the matches, never walk the service-date index backwards testing rows
            stmt = (
                f"{head}{', ' if head else 'WITH '}m AS MATERIALIZED (SELECT f.id, f.service_date, f.reference "
                f"FROM {source}{where}) SELECT id FROM m ORDER BY service_date DESC, reference LIMIT :most"
            )
        else:
            stmt = f"{head}SELECT f.id FROM {source}{where}LIMIT :most"
        return list(self.s.execute(sql(stmt), params).scalars())

    def search(
        self, phrases: Phrases, groups: Groups, months: list[tuple[int, int]], *, need: int, most: int
    ) -> tuple[int, list[int]]:
        """How many matches up to `most`, and the first `need` ids."""
        first = self.walk(phrases, groups, months[: self.WALK], most=most)
        left = months[self.WALK :]
        if len(first) >= most or not left:
            return len(first), first[:need]
        # the rest of the months, at once when they are consecutive (no date filter, or a year), else walked
        if months_between(month_start(left[-1]), month_start(left[0])) != left:
            more = self.walk(phrases, groups, left, most=most - len(first))
        else:
            y, m = left[0]
            lo, hi = month_start(left[-1]), date(y + m // 12, m % 12 + 1, 1)
            ordered = len(first) < need
            more = self.rest(phrases, groups, lo, hi, most=most - len(first), ordered=ordered)
        return len(first) + len(more), (first + more)[:need]
