"""三率: 响应率 (acknowledged within the acknowledge deadline), 解决率 (rectified within the rectify
deadline), 满意率 (满意 + 基本满意 over the answered return visits), each with its n, per canteen, per
meeting and per manager (the first to acknowledge: 首接负责), for a period of service dates and the
previous period of the same length (环比).

One aggregate over both periods, grouped by period, channel, site, meeting and manager — over the per-day
rollup (feedback.rollup) for days before the last LIVE_DAYS, over `feedback` for those; the slices are
summed from its rows. An item counts for 响应率 once acknowledged or once its deadline has passed
(an item still inside its deadline and not yet acknowledged is not judged yet); likewise for 解决率.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlmodel import Session, col

from feedback import live, rollup
from feedback.models import Feedback, FeedbackDaily, Meeting, Site

RATE_NAMES = ("response", "resolution", "satisfaction")  # 响应率, 解决率, 满意率, in this order everywhere


@dataclass
class Rate:
    """One rate: hits over n (None when n is 0)."""

    hits: int = 0
    n: int = 0

    @property
    def pct(self) -> float | None:
        """hits / n in per cent (None when n is 0)."""
        return round(100 * self.hits / self.n, 1) if self.n else None

    def as_dict(self, previous: Rate | None = None) -> dict[str, Any]:
        """JSON: the rate, its n and hits, the previous period's rate and the change (环比, points)."""
        prev = previous.pct if previous is not None else None
        change = round(self.pct - prev, 1) if self.pct is not None and prev is not None else None
        return {"pct": self.pct, "n": self.n, "hits": self.hits, "previous": prev, "change": change}


@dataclass
class Rates:
    """The three rates of one slice, in the period and the previous one."""

    label: str
    now: list[Rate] = field(default_factory=lambda: [Rate(), Rate(), Rate()])
    before: list[Rate] = field(default_factory=lambda: [Rate(), Rate(), Rate()])

    def add(self, row: Any) -> None:
        """Add one row of the aggregate query: its `period` and each rate's `<name>_hits` and `<name>_n`."""
        target = self.now if row.period else self.before
        for k, name in enumerate(RATE_NAMES):
            target[k].hits += int(getattr(row, f"{name}_hits") or 0)
            target[k].n += int(getattr(row, f"{name}_n") or 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON: the label and each rate with its previous period."""
        return {"label": self.label} | {
            name: self.now[k].as_dict(self.before[k]) for k, name in enumerate(RATE_NAMES)
        }

    @property
    def empty(self) -> bool:
        """Nothing to judge in the period."""
        return not any(r.n for r in self.now)


@dataclass
class RatesReport:
    """三率 overall and by canteen, meeting and manager, with the periods compared."""

    start: date
    end: date
    previous_start: date
    previous_end: date
    overall: Rates
    by_site: list[Rates]
    by_meeting: list[Rates]
    by_manager: list[Rates]

    def as_dict(self) -> dict[str, Any]:
        """JSON for the API and the page (slices with nothing to judge are left out)."""
        return {
            "start": self.start,
            "end": self.end,
            "previous_start": self.previous_start,
            "previous_end": self.previous_end,
            "overall": self.overall.as_dict(),
            "by_site": [r.as_dict() for r in self.by_site if not r.empty],
            "by_meeting": [r.as_dict() for r in self.by_meeting if not r.empty],
            "by_manager": [r.as_dict() for r in self.by_manager if not r.empty],
        }


def rates(
    session: Session,
    *,
    start: date,
    end: date,
    now: datetime,
    channel: str | None = None,
    rollups: bool = True,
) -> RatesReport:
    """The 三率 of feedback served from `start` to `end` inclusive, and of the same length before (环比);
    older days from the per-day rollup (feedback.rollup), the newest live (`rollups=False`: all live)."""
    days = (end - start).days + 1
    prev_start, prev_end = start - timedelta(days=days), start - timedelta(days=1)
    part = rollup.split(prev_start, end, now=now, rollups=rollups)
    rows: list[Any] = []
    if part.rolled is not None:
        got = live.rolled(
            session,
            now=now,
            key=("rates", *part.rolled, start, channel),
            queries=[_rolled_query(*part.rolled, start=start, channel=channel)],
        )
        if got is None:
            part, rollups = rollup.split(prev_start, end, now=now, rollups=False), False
        else:
            rows.extend(got[0])
    if part.live is not None and rollups:  # the live days' rollup-shaped rows (feedback.live)
        day_rows, _parts = live.days(session, *part.live, now=now)
        rows.extend(
            _Period(r, int(r.service_date >= start))
            for r in day_rows
            if channel is None or r.channel == channel
        )
    elif part.live is not None:
        rows.extend(session.execute(_live_query(*part.live, start=start, now=now, channel=channel)).all())
    sites = {s.id: s.name for s in session.execute(select(Site)).scalars()}
    meetings = {m.id: m.title for m in session.execute(select(Meeting)).scalars()}
    overall = Rates("合计")
    by_site: dict[Any, Rates] = {}
    by_meeting: dict[Any, Rates] = {}
    by_manager: dict[Any, Rates] = {}
    for row in rows:
        site_id, meeting_id, manager = row.site_id, row.meeting_id, row.acknowledged_by
        overall.add(row)
        if row.channel == "meeting":
            label = meetings.get(meeting_id, "未指明会议") if meeting_id else "未指明会议"
            by_meeting.setdefault(meeting_id, Rates(label)).add(row)
        else:
            label = sites.get(site_id, "未指明食堂") if site_id else "未指明食堂"
            by_site.setdefault(site_id, Rates(label)).add(row)
        if manager:
            by_manager.setdefault(manager, Rates(manager)).add(row)

    def order(d: dict[Any, Rates]) -> list[Rates]:
        return sorted(d.values(), key=lambda r: (-sum(x.n for x in r.now), r.label))

    return RatesReport(
        start=start,
        end=end,
        previous_start=prev_start,
        previous_end=prev_end,
        overall=overall,
        by_site=order(by_site),
        by_meeting=order(by_meeting),
        by_manager=order(by_manager),
    )


@dataclass(frozen=True, slots=True)
class _Period:
    """A live day's row (feedback.live.DayRow) in the period (`period` 1) or the one before (0)."""

    row: Any
    period: int

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)


def _live_query(first: date, last: date, *, start: date, now: datetime, channel: str | None) -> Any:
    """One aggregate over `feedback` of the days `first`..`last`, grouped by period and slice."""
    period = case((col(Feedback.service_date) >= start, literal(1)), else_=literal(0)).label("period")
    keys = [
        period,
        col(Feedback.channel),
        col(Feedback.site_id),
        col(Feedback.meeting_id),
        col(Feedback.acknowledged_by),
    ]
    query = (
        select(*keys, *rollup.rate_sums(now))
        .where(
            col(Feedback.service_date) >= first,
            col(Feedback.service_date) <= last,
            col(Feedback.misuse).is_(False),
        )
        .group_by(*keys)
    )
    return query.where(col(Feedback.channel) == channel) if channel is not None else query


def _rolled_query(first: date, last: date, *, start: date, channel: str | None) -> Any:
    """The same aggregate over the rollup's rows of the days `first`..`last`."""
    d = FeedbackDaily
    period = case((col(d.service_date) >= start, literal(1)), else_=literal(0)).label("period")
    keys = [period, col(d.channel), col(d.site_id), col(d.meeting_id), col(d.manager)]
    sums = [
        func.sum(col(getattr(d, f"{name}_{part}"))).label(f"{name}_{part}")
        for name in RATE_NAMES
        for part in ("hits", "n")
    ]
    query = (
        select(*keys[:4], col(d.manager).label("acknowledged_by"), *sums)
        .where(col(d.service_date) >= first, col(d.service_date) <= last)
        .group_by(*keys)
    )
    return query.where(col(d.channel) == channel) if channel is not None else query
