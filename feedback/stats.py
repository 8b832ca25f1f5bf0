"""Dashboard statistics: count, mean score, CSAT (share of 4–5, always with n), response rate, median
times to first reply and to close, trends by day and week, breakdowns by site, meal and meeting, and
frequent words in comments (jieba)."""

from __future__ import annotations

import logging
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from core.settings import Settings
from feedback.models import Action, Feedback, FeedbackEvent, Meal, Meeting, Site
from feedback.vocabulary import MEAL_LABELS

_CJK_WORD = re.compile(r"^[\u4e00-\u9fff]{2,}$")
STOP_WORDS = frozenset(
    {
        "有点",
        "一点",
        "感觉",
        "今天",
        "我们",
        "还是",
        "就是",
        "一下",
        "希望",
        "非常",
        "比较",
        "没有",
        "可以",
        "不错",
        "这个",
        "那个",
        "什么",
        "觉得",
        "有些",
        "一些",
        "时候",
        "已经",
        "还有",
        "但是",
        "因为",
        "所以",
    }
)


def words_of(text: str) -> list[str]:
    """The words of a comment worth counting (jieba segmentation; two or more CJK characters, no stop words)."""
    import jieba  # loads its dictionary on first use (~0.5 s): only the dashboard and reports need it

    jieba.setLogLevel(logging.WARNING)  # it announces the dictionary load on every process otherwise
    return [w for w in jieba.lcut(text) if _CJK_WORD.match(w) and w not in STOP_WORDS]


@dataclass
class Group:
    """Counts and scores of one slice."""

    label: str
    n: int = 0
    scored: int = 0
    total: int = 0
    satisfied: int = 0

    def add(self, score: int | None) -> None:
        self.n += 1
        if score is not None:
            self.scored += 1
            self.total += score
            self.satisfied += int(score >= 4)

    @property
    def mean(self) -> float | None:
        return round(self.total / self.scored, 2) if self.scored else None

    @property
    def csat(self) -> float | None:
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

    @property
    def response_rate(self) -> float | None:
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
        }


def dashboard(
    session: Session, *, settings: Settings, start: date, end: date, channel: str | None = None
) -> Dashboard:
    """Statistics of feedback served from `start` to `end` inclusive (optionally one channel)."""
    query = select(Feedback).where(
        col(Feedback.service_date) >= start,
        col(Feedback.service_date) <= end,
        col(Feedback.misuse).is_(False),
    )
    if channel:
        query = query.where(col(Feedback.channel) == channel)
    rows = list(session.execute(query).scalars())
    sites = {s.id: s.name for s in session.execute(select(Site)).scalars()}
    meetings = {m.id: m.title for m in session.execute(select(Meeting)).scalars()}
    ids = [fb.id for fb in rows]
    first_reply: dict[int, datetime] = {}
    closed: dict[int, datetime] = {}
    for i in range(0, len(ids), 900):
        for ev in session.execute(
            select(FeedbackEvent).where(
                col(FeedbackEvent.feedback_id).in_(ids[i : i + 900]),
                col(FeedbackEvent.action).in_([Action.replied, Action.closed]),
            )
        ).scalars():
            target = first_reply if ev.action == Action.replied else closed
            target.setdefault(ev.feedback_id, ev.at)
    overall = Group("合计")
    days = {
        start + timedelta(days=k): Group(str(start + timedelta(days=k)))
        for k in range((end - start).days + 1)
    }
    weeks: dict[str, Group] = {}
    by_site: dict[str, Group] = {}
    by_meal: dict[str, Group] = {}
    by_meeting: dict[str, Group] = {}
    by_topic: dict[str, Group] = {}
    words: Counter[str] = Counter()
    reply_hours, close_hours = [], []
    for fb in rows:
        overall.add(fb.score)
        days[fb.service_date].add(fb.score)
        iso = fb.service_date.isocalendar()
        weeks.setdefault(f"{iso.year}-W{iso.week:02d}", Group(f"{iso.year}年第{iso.week}周")).add(fb.score)
        if fb.meeting_id:
            by_meeting.setdefault(
                meetings.get(fb.meeting_id, "?"), Group(meetings.get(fb.meeting_id, "?"))
            ).add(fb.score)
        else:
            name = sites.get(fb.site_id, "未指明食堂") if fb.site_id else "未指明食堂"
            by_site.setdefault(name, Group(name)).add(fb.score)
            if fb.meal:
                label = MEAL_LABELS.get(Meal(fb.meal), fb.meal)
                by_meal.setdefault(label, Group(label)).add(fb.score)
        words.update(words_of(fb.comment))
        for topic in filter(None, fb.topics.split(",")):
            by_topic.setdefault(topic, Group(topic)).add(fb.score)
        if fb.id in first_reply:
            reply_hours.append((first_reply[fb.id] - fb.created_at).total_seconds() / 3600)
        if fb.id in closed:
            close_hours.append((closed[fb.id] - fb.created_at).total_seconds() / 3600)
    return Dashboard(
        overall=overall,
        replied=len(first_reply),
        first_reply_hours=round(statistics.median(reply_hours), 1) if reply_hours else None,
        close_hours=round(statistics.median(close_hours), 1) if close_hours else None,
        by_day=list(days.values()),
        by_week=[weeks[k] for k in sorted(weeks)],
        by_site=sorted(by_site.values(), key=lambda x: -x.n),
        by_meal=[by_meal[k] for k in ("早餐", "午餐", "晚餐") if k in by_meal],
        by_meeting=sorted(by_meeting.values(), key=lambda x: -x.n),
        by_topic=sorted(by_topic.values(), key=lambda x: -x.n),
        words=words.most_common(20),
    )
