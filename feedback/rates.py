"""三率: 响应率 (acknowledged within the acknowledge deadline), 解决率 (rectified within the rectify
deadline), 满意率 (满意 + 基本满意 over the answered return visits), each with its n, per canteen, per
meeting and per manager (the first to acknowledge: 首接负责), for a period of service dates and the
previous period of the same length (环比).

One aggregate query over both periods, grouped by period, channel, site, meeting and manager; the slices
are summed from its rows. An item counts for 响应率 once acknowledged or once its deadline has passed
(an item still inside its deadline and not yet acknowledged is not judged yet); likewise for 解决率.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlmodel import Session, col

from feedback.models import Feedback, Meeting, Site

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
        values = row._mapping
        for k, name in enumerate(RATE_NAMES):
            target[k].hits += int(values[f"{name}_hits"] or 0)
            target[k].n += int(values[f"{name}_n"] or 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON: the label and each rate with its previous period."""
        return {"label": self.label} | {
            name: self.now[k].as_dict(self.before[k]) for k, name in enumerate(RATE_NAMES)
        }

    @property
    def empty(self) -> bool:
        """Nothing to judge in the period."""
        return not any(r.n for r in self.now)


def _sums(now: datetime) -> list[Any]:
    """Each rate's hits and n as labelled sums (`response_hits`, `response_n`, …)."""
    ack_judged = or_(col(Feedback.acknowledged_at).is_not(None), col(Feedback.ack_due_at) <= now)
    ack_ok = and_(
        col(Feedback.acknowledged_at).is_not(None), col(Feedback.acknowledged_at) <= col(Feedback.ack_due_at)
    )
    rect_judged = and_(
        col(Feedback.rectify_due_at).is_not(None),
        or_(col(Feedback.rectified_at).is_not(None), col(Feedback.rectify_due_at) <= now),
    )
    rect_ok = and_(
        col(Feedback.rectified_at).is_not(None), col(Feedback.rectified_at) <= col(Feedback.rectify_due_at)
    )

    def n(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    return [
        n(and_(col(Feedback.ack_due_at).is_not(None), ack_ok)).label("response_hits"),
        n(and_(col(Feedback.ack_due_at).is_not(None), ack_judged)).label("response_n"),
        n(and_(rect_judged, rect_ok)).label("resolution_hits"),
        n(rect_judged).label("resolution_n"),
        n(col(Feedback.revisit_answer).in_([1, 2])).label("satisfaction_hits"),
        n(col(Feedback.revisit_answer).is_not(None)).label("satisfaction_n"),
    ]


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
    session: Session, *, start: date, end: date, now: datetime, channel: str | None = None
) -> RatesReport:
    """The 三率 of feedback served from `start` to `end` inclusive, and of the same length before (环比)."""
    days = (end - start).days + 1
    prev_start, prev_end = start - timedelta(days=days), start - timedelta(days=1)
    period = case((col(Feedback.service_date) >= start, literal(1)), else_=literal(0)).label("period")
    keys = [
        period,
        col(Feedback.channel),
        col(Feedback.site_id),
        col(Feedback.meeting_id),
        col(Feedback.acknowledged_by),
    ]
    query = (
        select(*keys, *_sums(now))
        .where(
            col(Feedback.service_date) >= prev_start,
            col(Feedback.service_date) <= end,
            col(Feedback.misuse).is_(False),
        )
        .group_by(*keys)
    )
    if channel is not None:
        query = query.where(col(Feedback.channel) == channel)
    sites = {s.id: s.name for s in session.execute(select(Site)).scalars()}
    meetings = {m.id: m.title for m in session.execute(select(Meeting)).scalars()}
    overall = Rates("合计")
    by_site: dict[Any, Rates] = {}
    by_meeting: dict[Any, Rates] = {}
    by_manager: dict[Any, Rates] = {}
    for row in session.execute(query).all():
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
