"""The 查档 query grammar: a query split on whitespace into filters (year, month, meal, site, meeting) and
search terms, and the months a query's date filters cover."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from feedback.tokens import norm, runs, term_phrases
from feedback.vocabulary import MEAL_WORDS


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
            by_name[norm(s.name)] = s.id
            by_name[norm(s.code)] = s.id
    meeting_codes = {norm(m.code): m.id for m in meetings if m.id is not None}
    meals = {norm(w): str(meal) for w, meal in MEAL_WORDS.items()}
    years: set[int] = set()
    months: set[int] = set()
    year_months: set[tuple[int, int]] = set()
    meal_set: set[str] = set()
    site_ids: set[int] = set()
    meeting_ids: set[int] = set()
    terms: list[str] = []
    for raw in text.split():
        word = norm(raw)
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


def month_start(ym: tuple[int, int]) -> date:
    """The first day of a (year, month)."""
    return date(ym[0], ym[1], 1)


def months_between(lo: date, hi: date) -> list[tuple[int, int]]:
    """Every month from hi's back to lo's, newest first."""
    out = []
    y, m = hi.year, hi.month
    while (y, m) >= (lo.year, lo.month):
        out.append((y, m))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out
