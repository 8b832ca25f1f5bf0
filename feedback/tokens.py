"""The write side of the Chinese full-text search: the token format of `feedback.search_tokens`, computing
it for a feedback (with a per-engine cache of site and meeting names), the ORM listeners that keep it, and
reindexing. The queries that read the index live in `search/`.

No Chinese word segmenter. `feedback.search_tokens` holds, for the comment, the site name and the meeting
title: every adjacent pair of characters of each run of letters/digits (NFKC-normalised, lower-cased), a
separator token after each run, then every distinct character. A term of two or more characters is a
phrase of consecutive pairs, a single character is a token itself, and the separator keeps phrases from
matching across punctuation, a space, or from the comment into the site name: results are exactly what
a case-insensitive substring scan would find. The column ends with filter tokens (service month, meal,
site, meeting) so date, meal and place filters are answered by the index too.

Indexes (migrations 0004, 0006): SQLite, an FTS5 external-content table `feedback_fts` over
feedback.search_tokens, kept in sync by triggers that add the token `zzopen` while the feedback is bound to
no volume; PostgreSQL, the stored generated column `search_vector = to_tsvector('simple', search_tokens ||
' zzopen' or ' zzvol<volume id>')` with a GIN index.
"""

from __future__ import annotations

import re
import unicodedata
import weakref
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, event, inspect, select, update
from sqlalchemy import text as sql
from sqlmodel import Session

from core.fastsql import parse_date
from feedback.models import Feedback, Meeting, Site

# Tokens of the index that are not text: never a character or a pair (those are 1–2 characters long).
SEPARATOR = "zzsepzz"  # ends a run
OPEN = "zzopen"  # bound to no volume yet: added by the FTS triggers (SQLite), in search_vector (PostgreSQL)
VOLUME = "zzvol"  # PostgreSQL's search_vector: this and the volume id, while bound to a volume
FTS_TABLE = "feedback_fts"  # SQLite's FTS5 table over search_tokens (migration 0004; not a SQLModel table)

_RUN = re.compile(r"[^\W_]+")  # letters and digits of any script: Han, kana, Latin, digits, …
_NOT_ALNUM = re.compile(r"[^0-9a-z]")
_FEEDBACK = Feedback.__table__  # type: ignore[attr-defined]
_SITE = Site.__table__  # type: ignore[attr-defined]
_MEETING = Meeting.__table__  # type: ignore[attr-defined]


def norm(text: str) -> str:
    """`text` as the index sees it: NFKC-normalised and lower-cased."""
    return unicodedata.normalize("NFKC", text).lower()


def runs(text: str) -> list[str]:
    """The runs of letters and digits of `text`, normalised (NFKC, lower-case)."""
    return _RUN.findall(norm(text))


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
_ALL_SITES = select(_SITE.c.id, _SITE.c.name)
_MEETING_TITLE = select(_MEETING.c.title).where(_MEETING.c.id == bindparam("id"))


def _cache(engine: Engine) -> _Names:
    names = _CACHES.get(engine)
    if names is None:
        names = _CACHES[engine] = _Names()
    return names


def _lookup(
    names: _Names, conn: Callable[[], Connection], site_id: int | None, meeting_id: int | None
) -> tuple[str, str]:
    """Site name and meeting title from the cache, read through `conn` on a miss (Core on the connection:
    no autoflush of what the session holds)."""
    site = ""
    if site_id is not None:
        got = names.sites.get(site_id)
        if got is None:  # a new site, or a new process: sites are few, reload them all
            names.sites = {r.id: r.name for r in conn().execute(_ALL_SITES)}
            got = names.sites.get(site_id, "")
        site = got
    meeting = ""
    if meeting_id is not None:
        got = names.meetings.get(meeting_id)
        if got is None:
            got = conn().execute(_MEETING_TITLE, {"id": meeting_id}).scalar() or ""
            if len(names.meetings) > 10_000:
                names.meetings.clear()
            names.meetings[meeting_id] = got
        meeting = got
    return site, meeting


def place_names(session: Session, *, site_id: int | None, meeting_id: int | None) -> tuple[str, str]:
    """The site name and meeting title of a feedback, from a per-process cache (filled on a miss)."""
    if site_id is None and meeting_id is None:
        return "", ""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    return _lookup(_cache(engine), session.connection, site_id, meeting_id)


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
    site, meeting = _lookup(_cache(conn.engine), lambda: conn, fb.site_id, fb.meeting_id)
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


# -- repairs ---------------------------------------------------------------------------------------------


def rebuild_fts(session: Session) -> None:
    """SQLite: refill the FTS5 index from the feedback table (after a migration recreated feedback, or to repair
    it). FTS5's own 'rebuild' would leave out the `zzopen` tokens: never use it."""
    session.execute(sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')"))
    session.execute(
        sql(
            f"INSERT INTO {FTS_TABLE}(rowid, search_tokens) SELECT id, search_tokens || "
            f"CASE WHEN volume_id IS NULL THEN ' {OPEN}' ELSE '' END FROM {_FEEDBACK.name}"
        )
    )


# what reindex reads of a feedback: the indexed columns, the place names and the tokens it has now
_REINDEX = (
    select(
        _FEEDBACK.c.id,
        _FEEDBACK.c.comment,
        _SITE.c.name.label("site_name"),
        _MEETING.c.title.label("meeting_title"),
        _FEEDBACK.c.service_date,
        _FEEDBACK.c.meal,
        _FEEDBACK.c.site_id,
        _FEEDBACK.c.meeting_id,
        _FEEDBACK.c.search_tokens,
    )
    .select_from(
        _FEEDBACK.outerjoin(_SITE, _SITE.c.id == _FEEDBACK.c.site_id).outerjoin(
            _MEETING, _MEETING.c.id == _FEEDBACK.c.meeting_id
        )
    )
    .order_by(_FEEDBACK.c.id)
)
_SET_TOKENS = (
    update(_FEEDBACK).where(_FEEDBACK.c.id == bindparam("fid")).values(search_tokens=bindparam("tokens"))
)


def reindex(session: Session, *, feedback_ids: Sequence[int] | None = None, batch: int = 2000) -> int:
    """Recompute `search_tokens` (of these feedback, or of all): after bulk writes that bypassed the service,
    or a site / meeting rename. Returns the number of rows rewritten."""
    forget_names()
    ids = sorted(set(feedback_ids)) if feedback_ids is not None else None
    changed = 0
    after = 0
    while True:
        if ids is not None:
            chunk, ids = ids[:batch], ids[batch:]
            if not chunk:
                break
            rows = session.execute(_REINDEX.where(_FEEDBACK.c.id.in_(chunk))).all()
        else:
            rows = session.execute(_REINDEX.where(_FEEDBACK.c.id > after).limit(batch)).all()
            if not rows:
                break
            after = rows[-1].id
        updates = []
        for r in rows:
            tokens = search_tokens(
                r.comment,
                r.site_name,
                r.meeting_title,
                service_date=parse_date(r.service_date),
                meal=r.meal,
                site_id=r.site_id,
                meeting_id=r.meeting_id,
            )
            if tokens != r.search_tokens:
                updates.append({"fid": r.id, "tokens": tokens})
        if updates:
            session.execute(_SET_TOKENS, updates)
            changed += len(updates)
    return changed
