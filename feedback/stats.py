"""Dashboard statistics: count, mean score, CSAT (share of 4–5, always with n), response rate, median
times to first reply and to close (of the range's newest SAMPLE feedbacks), trends by day and week,
breakdowns by site, meal, meeting and topic, and frequent words in comments (jieba). `Group` is also the
slice of the meeting report and of the form's per-aspect summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session, col

from core.clock import utcnow
from core.settings import Settings
from feedback import live, rollup, sample
from feedback.models import (
    Feedback,
    FeedbackAspect,
    FeedbackDaily,
    FeedbackDailyPart,
    Meal,
    Meeting,
    Site,
)
from feedback.sample import warm_words as warm_words  # the app warms it at start
from feedback.vocabulary import MEAL_LABELS


def counted(first: date, last: date, *, channel: str | None = None) -> list[ColumnElement[bool]]:
    """The feedback the statistics count: served `first`..`last`, not flagged as misuse, of `channel` if given."""
    where = [
        col(Feedback.service_date) >= first,
        col(Feedback.service_date) <= last,
        col(Feedback.misuse).is_(False),
    ]
    if channel:
        where.append(col(Feedback.channel) == channel)
    return where


@dataclass
class Group:
    """Counts and scores of one slice."""

    label: str
    n: int = 0
    scored: int = 0
    total: int = 0
    satisfied: int = 0

    def add(self, score: int | None) -> None:
        """Count one feedback with this score (None: unscored)."""
        self.n += 1
        if score is not None:
            self.scored += 1
            self.total += score
            self.satisfied += int(score >= 4)

    @property
    def mean(self) -> float | None:
        """The mean score of the scored feedback (None: none scored)."""
        return round(self.total / self.scored, 2) if self.scored else None

    @property
    def csat(self) -> float | None:
        """CSAT: the share of scored feedback at 4–5, in per cent (None: none scored)."""
        return round(100 * self.satisfied / self.scored, 1) if self.scored else None


@dataclass
class Dashboard:
    """Everything the dashboard shows for a date range."""

    overall: Group
    replied: int
    first_reply_hours: float | None
    close_hours: float | None
    by_day: list[Group] = field(default_factory=list)
    by_week: list[Group] = field(default_factory=list)
    by_site: list[Group] = field(default_factory=list)
    by_meal: list[Group] = field(default_factory=list)
    by_meeting: list[Group] = field(default_factory=list)
    by_topic: list[Group] = field(default_factory=list)
    words: list[tuple[str, int]] = field(default_factory=list)
    # the form's per-aspect stars (口味, 卫生, … / 会场, 会务, …): overall, and per canteen and per meeting
    aspects: list[Group] = field(default_factory=list)
    aspects_by_site: list[tuple[str, list[Group]]] = field(default_factory=list)
    aspects_by_meeting: list[tuple[str, list[Group]]] = field(default_factory=list)

    @property
    def response_rate(self) -> float | None:
        """The share of feedback replied to, in per cent (None: no feedback)."""
        return round(100 * self.replied / self.overall.n, 1) if self.overall.n else None

    def as_dict(self) -> dict[str, Any]:
        """JSON for the API and the charts."""

        def g(x: Group) -> dict[str, Any]:
            return {"label": x.label, "n": x.n, "scored": x.scored, "mean": x.mean, "csat": x.csat}

        return {
            "overall": g(self.overall),
            "replied": self.replied,
            "response_rate": self.response_rate,
            "first_reply_hours": self.first_reply_hours,
            "close_hours": self.close_hours,
            "by_day": [g(x) for x in self.by_day],
            "by_week": [g(x) for x in self.by_week],
            "by_site": [g(x) for x in self.by_site],
            "by_meal": [g(x) for x in self.by_meal],
            "by_meeting": [g(x) for x in self.by_meeting],
            "by_topic": [g(x) for x in self.by_topic],
            "words": self.words,
            "aspects": {
                "overall": [g(x) for x in self.aspects],
                "by_site": [{"label": k, "aspects": [g(x) for x in v]} for k, v in self.aspects_by_site],
                "by_meeting": [
                    {"label": k, "aspects": [g(x) for x in v]} for k, v in self.aspects_by_meeting
                ],
            },
        }


# At a million feedbacks (issue 13) the dashboard is aggregates: the counts and scores by day, site, meal,
# meeting, topic and form aspect come from GROUP BYs over the per-day rollup (feedback.rollup) for older days
# and from the live days' rows (feedback.live) for the newest; reply and close times and the frequent words
# from the newest SAMPLE (WORDS_SAMPLE) feedbacks of the range (feedback.sample).
def _counts(row: Any) -> tuple[int, int, int, int]:
    """n, scored, total and satisfied of one aggregate row (see `dashboard`'s labelled sums)."""
    return int(row.n or 0), int(row.scored or 0), int(row.total or 0), int(row.satisfied or 0)


def _fill(group: Group, n: int, scored: int, total: int, satisfied: int) -> None:
    group.n += n
    group.scored += scored
    group.total += total
    group.satisfied += satisfied


def dashboard(
    session: Session,
    *,
    settings: Settings,
    start: date,
    end: date,
    channel: str | None = None,
    now: datetime | None = None,
    rollups: bool = True,
) -> Dashboard:
    """Statistics of feedback served from `start` to `end` inclusive (optionally one channel); `rollups=False`
    computes every figure from `feedback` itself (what the rollup is tested against)."""
    now = now or utcnow()
    where = counted(start, end, channel=channel)
    rows = _aggregates(session, start, end, channel=channel, now=now, rollups=rollups)
    sites = {s.id: s.name for s in session.execute(select(Site)).scalars()}
    meetings = {m.id: m.title for m in session.execute(select(Meeting)).scalars()}
    overall = Group("合计")
    days = {
        start + timedelta(days=k): Group(str(start + timedelta(days=k)))
        for k in range((end - start).days + 1)
    }
    weeks: dict[str, Group] = {}
    by_site: dict[str, Group] = {}
    by_meal: dict[str, Group] = {}
    by_meeting: dict[str, Group] = {}
    for row in rows["days"]:  # the rollup's days, already summed over places
        day = row.service_date
        day = day if isinstance(day, date) else date.fromisoformat(str(day))
        iso = day.isocalendar()
        week = weeks.setdefault(f"{iso.year}-W{iso.week:02d}", Group(f"{iso.year}年第{iso.week}周"))
        for g in (overall, days[day], week):
            _fill(g, *_counts(row))
    for row in rows["sites"]:
        name = sites.get(row.site_id, "未指明食堂") if row.site_id else "未指明食堂"
        _fill(by_site.setdefault(name, Group(name)), *_counts(row))
    for row in rows["meetings"]:
        title = meetings.get(row.meeting_id, "?")
        _fill(by_meeting.setdefault(title, Group(title)), *_counts(row))
    for row in rows["meals"]:
        label = MEAL_LABELS.get(Meal(row.meal), row.meal)
        _fill(by_meal.setdefault(label, Group(label)), *_counts(row))
    for row in rows["fine"]:  # the live days, by day × place × meal
        n, scored, total, satisfied = _counts(row)
        site_id, meeting_id, meal = row.site_id, row.meeting_id, row.meal
        day = row.service_date
        day = day if isinstance(day, date) else date.fromisoformat(str(day))
        for g in (overall, days[day]):
            _fill(g, n, scored, total, satisfied)
        iso = day.isocalendar()
        week = weeks.setdefault(f"{iso.year}-W{iso.week:02d}", Group(f"{iso.year}年第{iso.week}周"))
        _fill(week, n, scored, total, satisfied)
        if meeting_id:
            title = meetings.get(meeting_id, "?")
            _fill(by_meeting.setdefault(title, Group(title)), n, scored, total, satisfied)
        else:
            name = sites.get(site_id, "未指明食堂") if site_id else "未指明食堂"
            _fill(by_site.setdefault(name, Group(name)), n, scored, total, satisfied)
            if meal:
                label = MEAL_LABELS.get(Meal(meal), meal)
                _fill(by_meal.setdefault(label, Group(label)), n, scored, total, satisfied)
    by_topic: dict[str, Group] = {}
    for row in rows["topics"]:
        for topic in filter(None, str(row.topics).split(",")):
            _fill(by_topic.setdefault(topic, Group(topic)), *_counts(row))

    # the newest feedbacks of the range: reply and close times, frequent words (kept until one of the
    # range's feedbacks changes: feedback.live)
    def handling() -> sample.Handling:
        return sample.handling(session, where, start=start, end=end, in_range=overall.n)

    if rollups:
        seen = live.memo(
            session, now=now, key=("sample", start, end, channel), span=(start, end), fn=handling
        )
    else:
        seen = handling()
    replied = seen.replied
    if (
        seen.sampled == sample.SAMPLE and overall.n > sample.SAMPLE
    ):  # scale the sample's share up to the whole range
        replied = round(replied * overall.n / sample.SAMPLE)
    return Dashboard(
        overall=overall,
        replied=replied,
        first_reply_hours=seen.first_reply_hours,
        close_hours=seen.close_hours,
        by_day=list(days.values()),
        by_week=[weeks[k] for k in sorted(weeks)],
        by_site=sorted(by_site.values(), key=lambda x: (-x.n, x.label)),
        by_meal=[by_meal[k] for k in ("早餐", "午餐", "晚餐") if k in by_meal],
        by_meeting=sorted(by_meeting.values(), key=lambda x: (-x.n, x.label)),
        by_topic=sorted(by_topic.values(), key=lambda x: (-x.n, x.label)),
        words=list(seen.words),
        **_aspects(rows["aspects"], sites=sites, meetings=meetings, settings=settings),
    )


def _sums() -> list[Any]:
    return rollup.score_sums()


def _rolled_sums(table: Any) -> list[Any]:
    return [func.sum(col(getattr(table, k))).label(k) for k in ("n", "scored", "total", "satisfied")]


def _aggregates(
    session: Session, start: date, end: date, *, channel: str | None, now: datetime, rollups: bool
) -> dict[str, list[Any]]:
    """The aggregate rows: from the rollup (older days) by day, site, meeting and meal apiece; from
    `feedback` (the newest days, or all with `rollups=False`) by day × place × meal (`fine`); and topics
    and aspects from both."""
    part = rollup.split(start, end, now=now, rollups=rollups)
    out: dict[str, list[Any]] = {
        k: [] for k in ("days", "sites", "meetings", "meals", "fine", "topics", "aspects")
    }
    if part.rolled is not None:
        got = live.rolled(
            session,
            now=now,
            key=("dashboard", *part.rolled, channel),
            queries=_rolled_queries(*part.rolled, channel=channel),
        )
        if got is None:
            part, rollups = rollup.split(start, end, now=now, rollups=False), False
        else:
            for key, found in zip(
                ("days", "sites", "meetings", "meals", "topics", "aspects"), got, strict=True
            ):
                out[key] = list(found)  # a copy: `found` may be the cached rows
    if part.live is not None and rollups:  # the live days' rollup-shaped rows (feedback.live)
        rows, parts = live.days(session, *part.live, now=now)
        out["fine"] = [r for r in rows if channel is None or r.channel == channel]
        for p in parts:
            if channel is None or p.channel == channel:
                out["topics" if p.kind == "topic" else "aspects"].append(p)
    elif part.live is not None:
        first, last = part.live
        where = counted(first, last, channel=channel)
        keys = [
            col(Feedback.service_date),
            col(Feedback.site_id),
            col(Feedback.meeting_id),
            col(Feedback.meal),
        ]
        out["fine"] = list(session.execute(select(*keys, *_sums()).where(*where).group_by(*keys)).all())
        out["topics"] += session.execute(
            select(col(Feedback.topics), *_sums())
            .where(*where, col(Feedback.topics) != "")
            .group_by(col(Feedback.topics))
        ).all()
        place = [col(Feedback.site_id), col(Feedback.meeting_id)]
        out["aspects"] += session.execute(
            select(
                *place,
                col(FeedbackAspect.aspect).label("name"),
                *rollup.score_sums(col(FeedbackAspect.score)),
            )
            .select_from(FeedbackAspect)
            .join(Feedback, col(Feedback.id) == col(FeedbackAspect.feedback_id))
            .where(*where)
            .group_by(*place, col(FeedbackAspect.aspect))
        ).all()
    return out


def _rolled_queries(first: date, last: date, *, channel: str | None) -> list[Any]:
    """Over the rollup: by day, by canteen, by meeting, by meal; topics; aspects by place."""
    d, p = FeedbackDaily, FeedbackDailyPart
    in_days = [col(d.service_date) >= first, col(d.service_date) <= last]
    part_days = [col(p.service_date) >= first, col(p.service_date) <= last]
    if channel:
        in_days.append(col(d.channel) == channel)
        part_days.append(col(p.channel) == channel)
    canteen = col(d.meeting_id).is_(None)
    place = [col(p.site_id), col(p.meeting_id)]

    def by(key: Any, *where: Any) -> Any:
        return select(key, *_rolled_sums(d)).where(*in_days, *where).group_by(key)

    return [
        by(col(d.service_date)),
        by(col(d.site_id), canteen),
        by(col(d.meeting_id), col(d.meeting_id).is_not(None)),
        by(col(d.meal), canteen, col(d.meal).is_not(None)),
        select(col(p.name).label("topics"), *_rolled_sums(p))
        .where(*part_days, col(p.kind) == "topic")
        .group_by(col(p.name)),
        select(*place, col(p.name), *_rolled_sums(p))
        .where(*part_days, col(p.kind) == "aspect")
        .group_by(*place, col(p.name)),
    ]


def _aspects(
    rows: list[Any], *, sites: dict[Any, str], meetings: dict[Any, str], settings: Settings
) -> dict[str, Any]:
    """The form's aspects overall, per canteen and per meeting, in the configured order."""
    known = [*settings.h5_canteen_aspects, *settings.h5_meeting_aspects]

    def rank(name: str) -> tuple[int, str]:
        return (known.index(name) if name in known else len(known), name)

    overall: dict[str, Group] = {}
    by_place: dict[tuple[bool, str], dict[str, Group]] = {}
    for row in rows:
        n, scored, total, satisfied = _counts(row)
        name = str(row.name)
        _fill(overall.setdefault(name, Group(name)), n, scored, total, satisfied)
        if row.meeting_id:
            key = (True, meetings.get(row.meeting_id, "?"))
        else:
            key = (False, sites.get(row.site_id, "未指明食堂") if row.site_id else "未指明食堂")
        slot = by_place.setdefault(key, {})
        _fill(slot.setdefault(name, Group(name)), n, scored, total, satisfied)

    def ordered(groups: dict[str, Group]) -> list[Group]:
        return [groups[k] for k in sorted(groups, key=rank)]

    places = sorted(by_place.items(), key=lambda kv: (-sum(g.n for g in kv[1].values()), kv[0][1]))
    return {
        "aspects": ordered(overall),
        "aspects_by_site": [(label, ordered(g)) for (meeting, label), g in places if not meeting],
        "aspects_by_meeting": [(label, ordered(g)) for (meeting, label), g in places if meeting],
    }
