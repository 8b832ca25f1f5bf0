"""The search service: 查档 over feedback (archived only in chat; all of it for the console's text filter),
volumes by title and period, and archived volumes or items by their 档号.

Totals are exact up to TOTAL_CAP matches (or the end of the page asked for), beyond it a lower bound
(SearchResult.total_exact; the chat says "more than"). The back-ends (search/sqlite.py, search/postgres.py)
find the ids of a page; this module parses the query, picks the months that hold feedback, and reads the
hits with their volume's 档号.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import TextClause, bindparam, func, literal, select, true
from sqlalchemy import text as sql
from sqlmodel import Session, col

from core.fastsql import parse_date
from exports.models import Volume, VolumeItem
from feedback.tokens import meal_token, meeting_token, month_token, norm, site_token
from search.grammar import Query, months_between, parse_query
from search.postgres import PostgresSearch
from search.sqlite import SqliteSearch
from search.tables import ARCHIVED, ARCHIVED_LIST, FEEDBACK, ITEM, MEETING, SITE, VOLUME

SNIPPET_CHARS = 40
TOTAL_CAP = 1000  # totals are exact up to this many matches (or the end of the page asked for)


@dataclass(frozen=True)
class Hit:
    """One matching feedback; item_code, archival_code and volume_title only when it is archived."""

    feedback_id: int
    reference: str
    service_date: date
    score: int | None
    meal: str | None
    snippet: str
    item_code: str | None
    archival_code: str | None
    volume_title: str | None


@dataclass(frozen=True)
class SearchResult:
    """One page of hits, the number of matches, and how the query was read.

    `total` is exact when `total_exact`; otherwise there are more than `total` matches (`total` is then the
    larger of TOTAL_CAP and the end of the page, so more pages follow)."""

    total: int
    hits: list[Hit]
    query: Query
    total_exact: bool = True


@dataclass(frozen=True)
class VolumeHit:
    """A sealed or received volume whose title and period match."""

    volume_id: int
    archival_code: str
    title: str
    period: str
    item_count: int


@dataclass(frozen=True)
class _Place:
    id: int | None
    code: str
    name: str = ""


_SITES = sql(f"SELECT id, code, name FROM {SITE}")
_MEETINGS = sql(f"SELECT id, code FROM {MEETING} WHERE code IN :codes").bindparams(
    bindparam("codes", expanding=True)
)


def parse_for(session: Session, query: str) -> Query:
    """`parse_query` with this database's sites and the meetings whose codes the query names."""
    sites = session.execute(_SITES).all()
    codes = [norm(w).upper() for w in query.split()]
    meetings = session.execute(_MEETINGS, {"codes": codes}).all() if codes else []
    return parse_query(
        query,
        sites=[_Place(id=r.id, code=r.code, name=r.name) for r in sites],
        meetings=[_Place(id=r.id, code=r.code) for r in meetings],
    )


# the oldest and newest service dates: two subqueries, so each is one step of the service-date index
_DATE_RANGE = sql(
    f"SELECT (SELECT min(service_date) FROM {FEEDBACK}) AS lo, (SELECT max(service_date) FROM {FEEDBACK}) AS hi"
)


def _data_months(session: Session, q: Query) -> list[tuple[int, int]]:
    """The months, newest first, that hold feedback and pass the query's date filters."""
    span = session.execute(_DATE_RANGE).one()
    lo, hi = parse_date(span.lo), parse_date(span.hi)
    if lo is None or hi is None:
        return []
    return [ym for ym in months_between(lo, hi) if q.covers(*ym)]


def snippet(comment: str, terms: Sequence[str], *, width: int = SNIPPET_CHARS) -> str:
    """A short piece of the comment around the first term it contains (whole when short)."""
    flat = " ".join(comment.split())
    if len(flat) <= width:
        return flat
    pos = -1
    if terms:
        normed: list[str] = []
        index: list[int] = []
        for i, ch in enumerate(flat):
            for c in norm(ch):
                normed.append(c)
                index.append(i)
        joined = "".join(normed)
        found = [p for t in terms if (p := joined.find(t)) >= 0]
        if found:
            pos = index[min(found)]
    start = 0 if pos < width // 3 else min(pos - width // 4, len(flat) - width)
    piece = flat[start : start + width]
    return ("…" if start > 0 else "") + piece + ("…" if start + width < len(flat) else "")


# a hit: the feedback, and its item and volume when the volume is archived
_HITS = sql(
    "SELECT f.id, f.reference, f.service_date, f.score, f.meal, f.comment, vi.item_code, v.archival_code, "
    f"v.title AS volume_title FROM {FEEDBACK} f "
    f"LEFT JOIN {VOLUME} v ON v.id = f.volume_id AND v.status IN ({ARCHIVED_LIST}) "
    f"LEFT JOIN {ITEM} vi ON vi.feedback_id = f.id AND vi.volume_id = v.id "
    "WHERE f.id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def _hits(session: Session, ids: list[int], terms: Sequence[str]) -> list[Hit]:
    if not ids:
        return []
    rows = {r.id: r for r in session.execute(_HITS, {"ids": ids})}
    hits = []
    for fid in ids:
        r = rows[fid]
        service_date = parse_date(r.service_date)
        assert service_date is not None
        hits.append(
            Hit(
                feedback_id=r.id,
                reference=r.reference,
                service_date=service_date,
                score=r.score,
                meal=r.meal,
                snippet=snippet(r.comment or "", terms),
                item_code=r.item_code,
                archival_code=r.archival_code,
                volume_title=r.volume_title,
            )
        )
    return hits


_IN_ARCHIVED_VOLUME = FEEDBACK.c.volume_id.in_(select(VOLUME.c.id).where(VOLUME.c.status.in_(ARCHIVED)))


def _plain(session: Session, *, archived_only: bool, limit: int, offset: int) -> tuple[int, list[int]]:
    """An empty query: every (archived) feedback, newest first. No index helps; only the console asks."""
    where = _IN_ARCHIVED_VOLUME if archived_only else true()
    most = max(TOTAL_CAP, offset + limit) + 1
    found = select(literal(1)).select_from(FEEDBACK).where(where).limit(most).subquery()
    total = int(session.execute(select(func.count()).select_from(found)).scalar_one())
    page = (
        select(FEEDBACK.c.id)
        .where(where)
        .order_by(FEEDBACK.c.service_date.desc(), FEEDBACK.c.reference)
        .limit(limit)
        .offset(offset)
    )
    return total, list(session.execute(page).scalars())


def _result(q: Query, hits: list[Hit], count: int, *, limit: int, offset: int) -> SearchResult:
    """The result with its total: exact up to TOTAL_CAP (or the end of the page), else a lower bound."""
    bound = max(TOTAL_CAP, offset + limit)
    return SearchResult(total=min(count, bound), hits=hits, query=q, total_exact=count <= bound)


def search(
    session: Session, *, query: str | Query, archived_only: bool, limit: int = 5, offset: int = 0
) -> SearchResult:
    """Feedback matching a 查档 query (archived only, or all for the console), newest first, with the total
    (exact up to TOTAL_CAP, see SearchResult)."""
    q = query if isinstance(query, Query) else parse_for(session, query)
    terms = [norm(t) for t in q.terms]
    if q.is_empty:
        count, ids = _plain(session, archived_only=archived_only, limit=limit, offset=offset)
        return _result(q, _hits(session, ids, terms), count, limit=limit, offset=offset)
    months = _data_months(session, q)
    if not months:
        return _result(q, [], 0, limit=limit, offset=offset)
    groups: list[list[str]] = []
    if q.meals:
        groups.append([meal_token(m) for m in sorted(q.meals)])
    if q.site_ids or q.meeting_ids:
        groups.append(
            [site_token(i) for i in sorted(q.site_ids)] + [meeting_token(i) for i in sorted(q.meeting_ids)]
        )
    if session.get_bind().dialect.name == "postgresql":
        # the first matches up to one past the bound: enough for the page and the (bounded) count
        most = max(TOTAL_CAP, offset + limit) + 1
        gin = PostgresSearch(session, archived_only=archived_only)
        count, first = gin.search(q.phrases, groups, months, need=offset + limit, most=most)
        ids = first[offset : offset + limit] if limit > 0 else []
    else:
        dates = [[month_token(*ym) for ym in months]] if q.has_dates else []
        index = SqliteSearch(session, archived_only=archived_only)
        count, ids = index.search(q.phrases, groups, dates, months, limit=limit, offset=offset)
    return _result(q, _hits(session, ids, terms), count, limit=limit, offset=offset)


def search_volumes(session: Session, *, query: str | Query, limit: int = 20) -> list[VolumeHit]:
    """Sealed or received volumes whose title holds every search term and whose period matches, newest first.

    A query with neither terms nor a date says nothing about volumes and finds none; meal, site and meeting
    filters are ignored (a volume holds a month of a channel)."""
    q = query if isinstance(query, Query) else parse_for(session, query)
    periods = q.periods()
    if not q.terms and not periods:
        return []
    params: dict[str, Any] = {"limit": limit}
    for i, t in enumerate(q.terms):
        params[f"t{i}"] = "%" + t.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    for i, (y, m) in enumerate(periods):
        params[f"w{i}"] = (
            f"{y}-{m:02d}" if y is not None and m is not None else f"{y}-%" if y is not None else f"%-{m:02d}"
        )
    rows = session.execute(_volumes_sql(len(q.terms), len(periods)), params)
    return [
        VolumeHit(
            volume_id=r.id,
            archival_code=r.archival_code,
            title=r.title,
            period=r.period,
            item_count=r.item_count,
        )
        for r in rows
    ]


@functools.lru_cache(maxsize=64)
def _volumes_sql(terms: int, windows: int) -> TextClause:
    """Archived volumes whose lower-cased title is LIKE every :t<i> and whose period is LIKE any :w<i>."""
    conds = [f"status IN ({ARCHIVED_LIST})"]
    conds += [f"lower(title) LIKE :t{i} ESCAPE '\\'" for i in range(terms)]
    if windows:
        conds.append("(" + " OR ".join(f"period LIKE :w{i}" for i in range(windows)) + ")")
    return sql(
        f"SELECT id, archival_code, title, period, item_count FROM {VOLUME} WHERE "
        + " AND ".join(conds)
        + " ORDER BY period DESC, archival_code LIMIT :limit"
    )


def archived_by_code(session: Session, *, code: str) -> tuple[Volume, VolumeItem | None] | None:
    """An archived volume by its 档号, or an item (档号/条目序号) with its volume; None if unknown or not archived."""
    if "/" in code:
        row = session.execute(
            select(VolumeItem, Volume)
            .join(Volume, col(Volume.id) == col(VolumeItem.volume_id))
            .where(col(VolumeItem.item_code) == code)
        ).first()
        if row is None or row.Volume.status not in ARCHIVED:
            return None
        return row.Volume, row.VolumeItem
    vol = session.execute(select(Volume).where(col(Volume.archival_code) == code)).scalar_one_or_none()
    if vol is None or vol.status not in ARCHIVED:
        return None
    return vol, None
