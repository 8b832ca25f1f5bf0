"""Chinese full-text search over feedback (查档 in chat, the console): search tokens, the query grammar, the queries.

No Chinese word segmenter. `feedback.search_tokens` holds, for the comment, the site name and the meeting
title: every adjacent pair of characters of each run of letters/digits (NFKC-normalised, lower-cased), a
separator token after each run, then every distinct character. A term of two or more characters is a
phrase of consecutive pairs, a single character is a token itself, and the separator keeps phrases from
matching across punctuation, a space, or from the comment into the site name: results are exactly what
a case-insensitive substring scan would find. The column ends with filter tokens (service month, meal,
site, meeting) so date, meal and place filters are answered by the index too.

Indexes (migrations 0004, 0006): SQLite, an FTS5 external-content table `feedback_fts` over
feedback.search_tokens, kept in sync by triggers that add the token `zzopen` while the feedback is bound to no
volume; PostgreSQL, the stored generated column `search_vector = to_tsvector('simple', search_tokens || ' zzopen'
or ' zzvol<volume id>')` with a GIN index.

Totals are exact up to TOTAL_CAP matches (or the end of the page asked for), beyond it a lower bound
(SearchResult.total_exact; the chat says "more than"). SQLite counts exactly with the FTS index alone
(archived: no `zzopen`, less the items of volumes still being built) and sorts a page from all matches when
they are few, else only from the newest months that hold it. PostgreSQL 15 reads a table row for every
match it counts (a bitmap scan does not skip all-visible pages), so it walks the newest months first, each
narrowed by its month token and sorted, and stops once it has the page and one match past the cap; the
older months, when still needed, are asked at once (archived: no `zzopen`, no token of a volume still
being built).
"""

from __future__ import annotations

import re
import unicodedata
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, bindparam, event, inspect
from sqlalchemy import text as sql
from sqlmodel import Session

from core.fastsql import Sql, parse_date
from feedback.models import Feedback
from feedback.vocabulary import MEAL_WORDS

# Tokens of the index that are not text: never a character or a pair (those are 1–2 characters long).
SEPARATOR = "zzsepzz"  # ends a run
OPEN = "zzopen"  # bound to no volume yet: added by the FTS triggers (SQLite), in search_vector (PostgreSQL)
VOLUME = "zzvol"  # PostgreSQL's search_vector: this and the volume id, while bound to a volume
SNIPPET_CHARS = 40
DIRECT_MAX = 2000  # SQLite: up to this many matches, a page is sorted from all of them at once
TOTAL_CAP = 1000  # totals are exact up to this many matches (or the end of the page asked for)

_RUN = re.compile(r"[^\W_]+")  # letters and digits of any script: Han, kana, Latin, digits, …
_NOT_ALNUM = re.compile(r"[^0-9a-z]")


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def runs(text: str) -> list[str]:
    """The runs of letters and digits of `text`, normalised (NFKC, lower-case)."""
    return _RUN.findall(_norm(text))


def month_token(year: int, month: int) -> str:
    """The index token of a service month."""
    return f"zzm{year:04d}{month:02d}"


def meal_token(meal: str) -> str:
    """The index token of a meal (breakfast, lunch, dinner)."""
    return "zzmeal" + _NOT_ALNUM.sub("", meal.lower())


def site_token(site_id: int) -> str:
    """The index token of a site."""
    return f"zzsite{site_id}"


def meeting_token(meeting_id: int) -> str:
    """The index token of a meeting."""
    return f"zzmtg{meeting_id}"


def search_tokens(
    *texts: str | None,
    service_date: date | None = None,
    meal: str | None = None,
    site_id: int | None = None,
    meeting_id: int | None = None,
) -> str:
    """The search column of a feedback: its comment plus site name / meeting title as tokens, then its filters."""
    out: list[str] = []
    chars: dict[str, None] = {}
    for t in texts:
        if not t:
            continue
        for run in runs(t):
            chars.update(dict.fromkeys(run))
            if len(run) > 1:
                out.extend(run[i : i + 2] for i in range(len(run) - 1))
                out.append(SEPARATOR)
    out.extend(chars)
    if service_date is not None:
        out.append(month_token(service_date.year, service_date.month))
    if meal:
        out.append(meal_token(meal))
    if site_id is not None:
        out.append(site_token(site_id))
    if meeting_id is not None:
        out.append(meeting_token(meeting_id))
    return " ".join(out)


def term_phrases(term: str) -> list[list[str]]:
    """A search term as phrases that must all match: one per run (punctuation inside a term splits it)."""
    return [[r] if len(r) == 1 else [r[i : i + 2] for i in range(len(r) - 1)] for r in runs(term)]


# -- site and meeting names on the write path ------------------------------------------------------------


class _Names:
    __slots__ = ("meetings", "sites")

    def __init__(self) -> None:
        self.sites: dict[int, str] = {}
        self.meetings: dict[int, str] = {}


# per engine, so tests (and tools) that open several databases never mix their names
_CACHES: weakref.WeakKeyDictionary[Engine, _Names] = weakref.WeakKeyDictionary()
_SITES = Sql("SELECT id, name FROM site")
_MEETING = Sql("SELECT title FROM meeting WHERE id = :id")


def _cache(engine: Engine) -> _Names:
    names = _CACHES.get(engine)
    if names is None:
        names = _CACHES[engine] = _Names()
    return names


def _lookup(
    names: _Names,
    site_id: int | None,
    meeting_id: int | None,
    all_sites: Callable[[], Iterable[tuple[int, str]]],
    meeting_title: Callable[[int], str | None],
) -> tuple[str, str]:
    site = ""
    if site_id is not None:
        got = names.sites.get(site_id)
        if got is None:  # a new site, or a new process: sites are few, reload them all
            names.sites = {int(i): n for i, n in all_sites()}
            got = names.sites.get(site_id, "")
        site = got
    meeting = ""
    if meeting_id is not None:
        got = names.meetings.get(meeting_id)
        if got is None:
            got = meeting_title(meeting_id) or ""
            if len(names.meetings) > 10_000:
                names.meetings.clear()
            names.meetings[meeting_id] = got
        meeting = got
    return site, meeting


def place_names(session: Session, *, site_id: int | None, meeting_id: int | None) -> tuple[str, str]:
    """The site name and meeting title of a feedback, from a per-process cache (filled on a miss)."""
    if site_id is None and meeting_id is None:
        return "", ""

    def meeting_title(mid: int) -> str | None:
        row = _MEETING.one(session, id=mid)
        return None if row is None else str(row[0])

    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    return _lookup(_cache(engine), site_id, meeting_id, lambda: _SITES.run(session).fetchall(), meeting_title)


def forget_names() -> None:
    """Drop the cached site and meeting names (after a rename; then call `reindex`)."""
    _CACHES.clear()


def feedback_tokens(
    session: Session,
    *,
    comment: str,
    service_date: date | None,
    meal: str | None,
    site_id: int | None,
    meeting_id: int | None,
) -> str:
    """`search_tokens` for a feedback (the message path: names come from the per-process cache)."""
    site, meeting = place_names(session, site_id=site_id, meeting_id=meeting_id)
    return search_tokens(
        comment, site, meeting, service_date=service_date, meal=meal, site_id=site_id, meeting_id=meeting_id
    )


def _orm_tokens(conn: Connection, fb: Feedback) -> str:
    def all_sites() -> Iterable[tuple[int, str]]:
        return [(r[0], r[1]) for r in conn.execute(sql("SELECT id, name FROM site"))]

    def meeting_title(mid: int) -> str | None:
        return conn.execute(sql("SELECT title FROM meeting WHERE id = :id"), {"id": mid}).scalar()

    site, meeting = _lookup(_cache(conn.engine), fb.site_id, fb.meeting_id, all_sites, meeting_title)
    return search_tokens(
        fb.comment,
        site,
        meeting,
        service_date=fb.service_date,
        meal=fb.meal,
        site_id=fb.site_id,
        meeting_id=fb.meeting_id,
    )


_INDEXED = ("comment", "site_id", "meeting_id", "service_date", "meal")


# ORM writes (session.add(Feedback(...)), changing a loaded Feedback) keep the column too; the message path
# writes with raw SQL and sets it itself (feedback.service). Bulk statements bypass both: run `reindex`.
@event.listens_for(Feedback, "before_insert")
def _tokens_on_insert(_mapper: Any, conn: Connection, target: Feedback) -> None:
    if not target.search_tokens:
        target.search_tokens = _orm_tokens(conn, target)


@event.listens_for(Feedback, "before_update")
def _tokens_on_update(_mapper: Any, conn: Connection, target: Feedback) -> None:
    state = inspect(target)
    if any(state.attrs[a].history.has_changes() for a in _INDEXED):
        target.search_tokens = _orm_tokens(conn, target)


def rebuild_fts(session: Session) -> None:
    """SQLite: refill the FTS5 index from the feedback table (after a migration recreated feedback, or to repair
    it). FTS5's own 'rebuild' would leave out the `zzopen` tokens: never use it."""
    session.execute(sql("INSERT INTO feedback_fts(feedback_fts) VALUES ('delete-all')"))
    session.execute(
        sql(
            "INSERT INTO feedback_fts(rowid, search_tokens) SELECT id, search_tokens || "
            f"CASE WHEN volume_id IS NULL THEN ' {OPEN}' ELSE '' END FROM feedback"
        )
    )


def reindex(session: Session, *, feedback_ids: Sequence[int] | None = None, batch: int = 2000) -> int:
    """Recompute `search_tokens` (of these feedback, or of all): after bulk writes that bypassed the service,
    or a site / meeting rename. Returns the number of rows rewritten."""
    forget_names()
    select = (
        "SELECT f.id, f.comment, s.name, m.title, f.service_date, f.meal, f.site_id, f.meeting_id, "
        "f.search_tokens FROM feedback f LEFT JOIN site s ON s.id = f.site_id "
        "LEFT JOIN meeting m ON m.id = f.meeting_id WHERE f.id > :after {only} ORDER BY f.id LIMIT :batch"
    )
    ids = sorted(set(feedback_ids)) if feedback_ids is not None else None
    changed = 0
    after = 0
    while True:
        if ids is not None:
            chunk, ids = ids[:batch], ids[batch:]
            if not chunk:
                break
            stmt = sql(select.format(only="AND f.id IN :ids")).bindparams(bindparam("ids", expanding=True))
            rows = session.execute(stmt, {"after": 0, "batch": len(chunk), "ids": chunk}).all()
        else:
            rows = session.execute(sql(select.format(only="")), {"after": after, "batch": batch}).all()
            if not rows:
                break
            after = rows[-1][0]
        updates = []
        for r in rows:
            tokens = search_tokens(
                r[1], r[2], r[3], service_date=parse_date(r[4]), meal=r[5], site_id=r[6], meeting_id=r[7]
            )
            if tokens != r[8]:
                updates.append({"id": r[0], "t": tokens})
        if updates:
            session.execute(sql("UPDATE feedback SET search_tokens = :t WHERE id = :id"), updates)
            changed += len(updates)
    return changed


# -- the query grammar -----------------------------------------------------------------------------------


class SiteLike(Protocol):
    """What parse_query needs of a site (a Site row will do)."""

    @property
    def id(self) -> int | None: ...
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...


class MeetingLike(Protocol):
    """What parse_query needs of a meeting (a Meeting row will do)."""

    @property
    def id(self) -> int | None: ...
    @property
    def code(self) -> str: ...


_YEAR = re.compile(r"^(\d{4})年?$")
_MONTH_NAMES = {
    "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10, "十一": 11,
    "十二": 12, "正": 1, "腊": 12, "冬": 11,
}  # fmt: skip
_MONTH = re.compile(r"^(?:(\d{4})年)?(\d{1,2}|[一二三四五六七八九十正腊冬]{1,2})月份?$")
_YEAR_MONTH = re.compile(r"^(\d{4})[-/.](\d{1,2})$")


def _year(y: str) -> int | None:
    n = int(y)
    return n if 2000 <= n <= 2100 else None


def _month(m: str) -> int | None:
    n = int(m) if m.isdigit() else _MONTH_NAMES.get(m, 0)
    return n if 1 <= n <= 12 else None


@dataclass(frozen=True)
class Query:
    """A parsed 查档 query: search terms (all must match, as substrings) and filters."""

    terms: tuple[str, ...] = ()
    years: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()  # a month of any year (or of each year in `years`)
    year_months: frozenset[tuple[int, int]] = frozenset()
    meals: frozenset[str] = frozenset()
    site_ids: frozenset[int] = frozenset()
    meeting_ids: frozenset[int] = frozenset()
    phrases: tuple[tuple[str, ...], ...] = field(default=(), repr=False)

    @property
    def has_filters(self) -> bool:
        """True when the query narrows by date, meal or place."""
        return bool(self.has_dates or self.meals or self.site_ids or self.meeting_ids)

    @property
    def has_dates(self) -> bool:
        """True when the query names a year or a month."""
        return bool(self.years or self.months or self.year_months)

    @property
    def is_empty(self) -> bool:
        """True when the query says nothing at all."""
        return not self.phrases and not self.has_filters

    def periods(self) -> list[tuple[int | None, int | None]]:
        """The (year, month) windows any of which a service date must fall in; None means any."""
        out: list[tuple[int | None, int | None]] = list(self.year_months)
        if self.years and self.months:
            out += [(y, m) for y in self.years for m in self.months]
        elif self.years:
            out += [(y, None) for y in self.years]
        elif self.months:
            out += [(None, m) for m in self.months]
        return sorted(set(out), key=lambda p: (p[0] or 0, p[1] or 0))

    def covers(self, year: int, month: int) -> bool:
        """True when a service date in this month passes the date filters (always, without any)."""
        return not self.has_dates or any(
            (y is None or y == year) and (m is None or m == month) for y, m in self.periods()
        )


def parse_query(text: str, *, sites: Iterable[SiteLike] = (), meetings: Iterable[MeetingLike] = ()) -> Query:
    """Split a 查档 query on whitespace into filters (year, month, meal, site name or code, meeting code) and
    search terms."""
    by_name: dict[str, int] = {}
    for s in sites:
        if s.id is not None:
            by_name[_norm(s.name)] = s.id
            by_name[_norm(s.code)] = s.id
    meeting_codes = {_norm(m.code): m.id for m in meetings if m.id is not None}
    meals = {_norm(w): str(meal) for w, meal in MEAL_WORDS.items()}
    years: set[int] = set()
    months: set[int] = set()
    year_months: set[tuple[int, int]] = set()
    meal_set: set[str] = set()
    site_ids: set[int] = set()
    meeting_ids: set[int] = set()
    terms: list[str] = []
    for raw in text.split():
        word = _norm(raw)
        if (m := _YEAR.match(word)) and (y := _year(m[1])):
            years.add(y)
        elif (m := _MONTH.match(word)) and (mo := _month(m[2])) and (m[1] is None or _year(m[1])):
            if m[1] is None:
                months.add(mo)
            else:
                year_months.add((int(m[1]), mo))
        elif (m := _YEAR_MONTH.match(word)) and (y := _year(m[1])) and (mo := _month(m[2])):
            year_months.add((y, mo))
        elif word in meals:
            meal_set.add(meals[word])
        elif word in by_name:
            site_ids.add(by_name[word])
        elif word in meeting_codes:
            meeting_ids.add(meeting_codes[word])
        elif runs(word) and word not in terms:
            terms.append(word)
    phrases = tuple(tuple(p) for t in terms for p in term_phrases(t))
    return Query(
        terms=tuple(terms),
        years=frozenset(years),
        months=frozenset(months),
        year_months=frozenset(year_months),
        meals=frozenset(meal_set),
        site_ids=frozenset(site_ids),
        meeting_ids=frozenset(meeting_ids),
        phrases=tuple(dict.fromkeys(phrases)),
    )


# -- match expressions -----------------------------------------------------------------------------------


def fts5_match(
    phrases: Iterable[Sequence[str]], groups: Iterable[Sequence[str]] = (), *, exclude: str = ""
) -> str:
    """An FTS5 MATCH expression: every phrase, one token of every group, and not `exclude`."""
    quote = lambda t: '"' + t.replace('"', '""') + '"'  # noqa: E731
    parts = ['"' + " ".join(t.replace('"', '""') for t in p) + '"' for p in phrases]
    parts += ["(" + " OR ".join(quote(t) for t in g) + ")" for g in groups]
    expr = " AND ".join(parts)
    return f"({expr}) NOT {quote(exclude)}" if exclude else expr


def tsquery_text(phrases: Iterable[Sequence[str]], groups: Iterable[Sequence[str]] = ()) -> str:
    """A to_tsquery('simple', …) expression: phrases of consecutive tokens and one token of every group."""
    quote = lambda t: "'" + t.replace("\\", "\\\\").replace("'", "''") + "'"  # noqa: E731
    parts = ["(" + " <-> ".join(quote(t) for t in p) + ")" for p in phrases]
    parts += ["(" + " | ".join(quote(t) for t in g) + ")" for g in groups]
    return " & ".join(parts)


# -- the queries -----------------------------------------------------------------------------------------


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


_ARCHIVED_VOLUMES = "SELECT id FROM volume WHERE status IN ('sealed', 'received')"
_ORDER = "ORDER BY f.service_date DESC, f.reference"

Groups = Sequence[Sequence[str]]
Phrases = Sequence[Sequence[str]]


class _Sqlite:
    """FTS5: exact counts from the index alone; pages sorted from all matches when few, else month by month."""

    def __init__(self, session: Session, *, archived_only: bool) -> None:
        self.s = session
        self.archived_only = archived_only
        self.unsealed: list[int] = []
        self.unsealed_ids = (0, 0)
        if archived_only:
            # bound (so without `zzopen`) but not archived: items of volumes still being built, normally none
            rows = session.execute(
                sql(
                    "SELECT v.id, (SELECT min(id) FROM feedback WHERE volume_id = v.id), "
                    "(SELECT max(id) FROM feedback WHERE volume_id = v.id) "
                    "FROM volume v WHERE v.status NOT IN ('sealed', 'received')"
                )
            ).all()
            self.unsealed = [r[0] for r in rows]
            if self.unsealed:
                self.unsealed_ids = (min(r[1] or 0 for r in rows), max(r[2] or 0 for r in rows))

    def match(self, phrases: Phrases, groups: Groups) -> str:
        return fts5_match(phrases, groups, exclude=OPEN if self.archived_only else "")

    def count(self, phrases: Phrases, groups: Groups) -> int:
        """The exact number of matches."""
        q = self.match(phrases, groups)
        n = int(
            self.s.execute(
                sql("SELECT count(*) FROM feedback_fts WHERE feedback_fts MATCH :q"), {"q": q}
            ).scalar_one()
        )
        if n and self.unsealed:
            # only the rowid range of those items is searched (FTS5 seeks to it)
            stmt = sql(
                "SELECT count(*) FROM feedback_fts JOIN feedback f ON f.id = feedback_fts.rowid "
                "WHERE feedback_fts MATCH :q AND feedback_fts.rowid BETWEEN :lo AND :hi AND +f.volume_id IN :v"
            ).bindparams(bindparam("v", expanding=True))
            lo, hi = self.unsealed_ids
            n -= int(self.s.execute(stmt, {"q": q, "lo": lo, "hi": hi, "v": self.unsealed}).scalar_one())
        return n

    def page(self, phrases: Phrases, groups: Groups, *, limit: int, offset: int) -> list[int]:
        """Ids of one page of matches, newest service date first, then by reference."""
        archived = f"AND +f.volume_id IN ({_ARCHIVED_VOLUMES}) " if self.archived_only else ""
        stmt = (
            "SELECT f.id FROM feedback f WHERE f.id IN (SELECT rowid FROM feedback_fts WHERE feedback_fts MATCH :q) "
            f"{archived}{_ORDER} LIMIT :limit OFFSET :offset"
        )
        params = {"q": self.match(phrases, groups), "limit": limit, "offset": offset}
        return list(self.s.execute(sql(stmt), params).scalars())

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


class _Postgres:
    """GIN, newest months first: a month's token narrows the index to that month's matches, so a common word
    costs the rows of a month or two, never all its matches; what the newest months leave (rare words, or a
    count short of the cap) is asked of the remaining period in one statement."""

    WALK = 2  # months walked one by one before the rest is asked at once

    def __init__(self, session: Session, *, archived_only: bool) -> None:
        self.s = session
        self.archived_only = archived_only
        # a bigger work_mem keeps the bitmap of a common word exact (not lossy); the months are read in order
        # (one process, no Gather); compiling (JIT) takes longer than these queries
        session.execute(
            sql(
                "SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true), "
                "set_config('max_parallel_workers_per_gather', '0', true)"
            )
        )

    @property
    def _exclude(self) -> str:
        """SQL for the tsquery text that leaves out what is not archived: feedback bound to no volume, or to
        one still being built (normally none). Read in the same statement as the matches (one snapshot)."""
        if not self.archived_only:
            return "''"
        return (
            f"' & !{OPEN}' || coalesce((SELECT string_agg(' & !{VOLUME}' || id, '') FROM volume "
            "WHERE status NOT IN ('sealed', 'received')), '')"
        )

    def walk(
        self, phrases: Phrases, groups: Groups, months: list[tuple[int, int]], *, most: int
    ) -> list[int]:
        """Ids of the first `most` matches in these months, newest service date first, then by reference: one
        statement (a lateral join over the months' queries) whose LIMIT stops before the older months."""
        queries = [tsquery_text(phrases, [*groups, [month_token(*ym)]]) for ym in months]
        # OFFSET 0: each month's tsquery is a value parsed once, not an expression parsed again for every row
        stmt = (
            f"WITH e AS MATERIALIZED (SELECT {self._exclude} AS x) "
            "SELECT x.id FROM e CROSS JOIN unnest(CAST(:queries AS text[])) AS m(q) "
            "CROSS JOIN LATERAL (SELECT to_tsquery('simple', m.q || e.x) AS q OFFSET 0) t "
            f"CROSS JOIN LATERAL (SELECT f.id FROM feedback f WHERE f.search_vector @@ t.q {_ORDER}) x "
            "LIMIT :most"
        )
        return list(self.s.execute(sql(stmt), {"queries": queries, "most": most}).scalars())

    def rest(
        self, phrases: Phrases, groups: Groups, lo: date, hi: date, *, most: int, ordered: bool
    ) -> list[int]:
        """Ids of matches with a service date from lo to before hi: the first `most` (ordered), or any `most`."""
        params: dict[str, Any] = {"lo": lo, "hi": hi, "most": most}
        head, source = "", "feedback f WHERE true "
        if phrases or groups:
            params["q"] = tsquery_text(phrases, groups)
            head = f"WITH e AS MATERIALIZED (SELECT to_tsquery('simple', :q || {self._exclude}) AS q) "
            source = "e JOIN feedback f ON f.search_vector @@ e.q "
        elif self.archived_only:  # dates alone: no index but the service date's
            source = f"feedback f WHERE f.volume_id = ANY (ARRAY({_ARCHIVED_VOLUMES})) "
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
        if _months_between(_month_start(left[-1]), _month_start(left[0])) != left:
            more = self.walk(phrases, groups, left, most=most - len(first))
        else:
            y, m = left[0]
            lo, hi = _month_start(left[-1]), date(y + m // 12, m % 12 + 1, 1)
            ordered = len(first) < need
            more = self.rest(phrases, groups, lo, hi, most=most - len(first), ordered=ordered)
        return len(first) + len(more), (first + more)[:need]


def _month_start(ym: tuple[int, int]) -> date:
    return date(ym[0], ym[1], 1)


def _months_between(lo: date, hi: date) -> list[tuple[int, int]]:
    """Every month from hi's back to lo's, newest first."""
    out = []
    y, m = hi.year, hi.month
    while (y, m) >= (lo.year, lo.month):
        out.append((y, m))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out


def _data_months(session: Session, q: Query) -> list[tuple[int, int]]:
    """The months, newest first, that hold feedback and pass the query's date filters."""
    lo = parse_date(session.execute(sql("SELECT min(service_date) FROM feedback")).scalar())
    hi = parse_date(session.execute(sql("SELECT max(service_date) FROM feedback")).scalar())
    if lo is None or hi is None:
        return []
    return [ym for ym in _months_between(lo, hi) if q.covers(*ym)]


@dataclass(frozen=True)
class _Place:
    id: int | None
    code: str
    name: str = ""


def _parse_for(session: Session, query: str) -> Query:
    sites = session.execute(sql("SELECT id, code, name FROM site")).all()
    codes = [_norm(w).upper() for w in query.split()]
    meetings = (
        session.execute(
            sql("SELECT id, code FROM meeting WHERE code IN :codes").bindparams(
                bindparam("codes", expanding=True)
            ),
            {"codes": codes},
        ).all()
        if codes
        else []
    )
    return parse_query(
        query,
        sites=[_Place(id=r[0], code=r[1], name=r[2]) for r in sites],
        meetings=[_Place(id=r[0], code=r[1]) for r in meetings],
    )


def snippet(comment: str, terms: Sequence[str], *, width: int = SNIPPET_CHARS) -> str:
    """A short piece of the comment around the first term it contains (whole when short)."""
    flat = " ".join(comment.split())
    if len(flat) <= width:
        return flat
    pos = -1
    if terms:
        norm: list[str] = []
        index: list[int] = []
        for i, ch in enumerate(flat):
            for c in _norm(ch):
                norm.append(c)
                index.append(i)
        joined = "".join(norm)
        found = [p for t in terms if (p := joined.find(t)) >= 0]
        if found:
            pos = index[min(found)]
    start = 0 if pos < width // 3 else min(pos - width // 4, len(flat) - width)
    piece = flat[start : start + width]
    return ("…" if start > 0 else "") + piece + ("…" if start + width < len(flat) else "")


def _hits(session: Session, ids: list[int], terms: Sequence[str]) -> list[Hit]:
    if not ids:
        return []
    stmt = sql(
        "SELECT f.id, f.reference, f.service_date, f.score, f.meal, f.comment, vi.item_code, v.archival_code, "
        "v.title FROM feedback f "
        "LEFT JOIN volume v ON v.id = f.volume_id AND v.status IN ('sealed', 'received') "
        "LEFT JOIN volume_item vi ON vi.feedback_id = f.id AND vi.volume_id = v.id "
        "WHERE f.id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    rows = {r[0]: r for r in session.execute(stmt, {"ids": ids})}
    hits = []
    for fid in ids:
        r = rows[fid]
        service_date = parse_date(r[2])
        assert service_date is not None
        hits.append(
            Hit(
                feedback_id=r[0],
                reference=r[1],
                service_date=service_date,
                score=r[3],
                meal=r[4],
                snippet=snippet(r[5] or "", terms),
                item_code=r[6],
                archival_code=r[7],
                volume_title=r[8],
            )
        )
    return hits


def _plain(session: Session, *, archived_only: bool, limit: int, offset: int) -> tuple[int, list[int]]:
    """An empty query: every (archived) feedback, newest first. No index helps; only the console asks."""
    where = f"f.volume_id IN ({_ARCHIVED_VOLUMES})" if archived_only else "1 = 1"
    total = int(
        session.execute(
            sql(f"SELECT count(*) FROM (SELECT 1 FROM feedback f WHERE {where} LIMIT :most) x"),
            {"most": max(TOTAL_CAP, offset + limit) + 1},
        ).scalar_one()
    )
    ids = session.execute(
        sql(f"SELECT f.id FROM feedback f WHERE {where} {_ORDER} LIMIT :limit OFFSET :offset"),
        {"limit": limit, "offset": offset},
    ).scalars()
    return total, list(ids)


def _result(q: Query, hits: list[Hit], count: int, *, limit: int, offset: int) -> SearchResult:
    """The result with its total: exact up to TOTAL_CAP (or the end of the page), else a lower bound."""
    bound = max(TOTAL_CAP, offset + limit)
    return SearchResult(total=min(count, bound), hits=hits, query=q, total_exact=count <= bound)


def search(
    session: Session, *, query: str | Query, archived_only: bool, limit: int = 5, offset: int = 0
) -> SearchResult:
    """Feedback matching a 查档 query (archived only, or all for the console), newest first, with the total
    (exact up to TOTAL_CAP, see SearchResult)."""
    q = query if isinstance(query, Query) else _parse_for(session, query)
    terms = [_norm(t) for t in q.terms]
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
        gin = _Postgres(session, archived_only=archived_only)
        count, first = gin.search(q.phrases, groups, months, need=offset + limit, most=most)
        ids = first[offset : offset + limit] if limit > 0 else []
    else:
        dates = [[month_token(*ym) for ym in months]] if q.has_dates else []
        index = _Sqlite(session, archived_only=archived_only)
        count, ids = index.search(q.phrases, groups, dates, months, limit=limit, offset=offset)
    return _result(q, _hits(session, ids, terms), count, limit=limit, offset=offset)


def search_volumes(session: Session, *, query: str | Query, limit: int = 20) -> list[VolumeHit]:
    """Sealed or received volumes whose title holds every search term and whose period matches, newest first.

    A query with neither terms nor a date says nothing about volumes and finds none; meal, site and meeting
    filters are ignored (a volume holds a month of a channel)."""
    q = query if isinstance(query, Query) else _parse_for(session, query)
    periods = q.periods()
    if not q.terms and not periods:
        return []
    params: dict[str, Any] = {"limit": limit}
    conds = ["status IN ('sealed', 'received')"]
    for i, t in enumerate(q.terms):
        params[f"t{i}"] = "%" + t.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conds.append(f"lower(title) LIKE :t{i} ESCAPE '\\'")
    windows = []
    for i, (y, m) in enumerate(periods):
        params[f"w{i}"] = (
            f"{y}-{m:02d}" if y is not None and m is not None else f"{y}-%" if y is not None else f"%-{m:02d}"
        )
        windows.append(f"period LIKE :w{i}")
    if windows:
        conds.append("(" + " OR ".join(windows) + ")")
    rows = session.execute(
        sql(
            "SELECT id, archival_code, title, period, item_count FROM volume WHERE "
            + " AND ".join(conds)
            + " ORDER BY period DESC, archival_code LIMIT :limit"
        ),
        params,
    ).all()
    return [
        VolumeHit(volume_id=r[0], archival_code=r[1], title=r[2], period=r[3], item_count=r[4]) for r in rows
    ]
