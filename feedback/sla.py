"""Deadlines in working time (HOUQIN_SLA): when a feedback must be acknowledged (受理) and rectified (整改).

Working days follow China's official holidays and make-up working days (调休) from the `chinese-calendar`
package (the State Council's yearly schedule: upgrade the package each December); working hours come from
HOUQIN_SLA's `work_hours`. A rule's hours count only inside working hours; its days end at the close
of the Nth working day after the day of receipt. Times in and out are aware UTC; the counting is local.
A year the installed package has no schedule for counts plain weekdays (Monday–Friday), with one warning
logged per year, so the message path and the console never fail on a new year.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar
from sqlalchemy import select, update
from sqlmodel import Session, col

from core.settings import Settings, SlaRule, SlaRules
from feedback.models import Feedback
from feedback.vocabulary import food_safety_words

log = logging.getLogger("houqin.sla")


@dataclass(frozen=True)
class Deadlines:
    """The two deadlines of one feedback (None: no such deadline)."""

    ack_due_at: datetime | None
    rectify_due_at: datetime | None


@lru_cache(maxsize=8)
def _spans(hours: tuple[str, ...]) -> tuple[tuple[time, time], ...]:
    out = []
    for span in hours:
        a, b = span.split("-")
        out.append((time.fromisoformat(a.strip()), time.fromisoformat(b.strip())))
    return tuple(sorted(out))


@lru_cache(maxsize=4096)
def is_workday(day: date) -> bool:
    """A working day in China (weekdays minus holidays, plus 调休 make-up days)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the package does not know yet: plain weekdays
        _warn_unknown_year(day.year)
        return day.weekday() < 5


@lru_cache(maxsize=64)
def _warn_unknown_year(year: int) -> None:
    log.warning(
        "chinese-calendar %s has no holiday schedule (节假日安排) for %d: deadlines count Monday–Friday; "
        "upgrade the package",
        getattr(chinese_calendar, "__version__", "?"),
        year,
    )


def next_workday(day: date) -> date:
    """The first working day after `day`."""
    day += timedelta(days=1)
    while not is_workday(day):
        day += timedelta(days=1)
    return day


def add_working_hours(start: datetime, hours: float, *, rules: SlaRules, tz: ZoneInfo) -> datetime:
    """`start` (aware) plus `hours` of working time, as aware UTC."""
    spans = _spans(tuple(rules.work_hours))
    local = start.astimezone(tz).replace(tzinfo=None)
    left = timedelta(hours=hours)
    day = local.date()
    while True:
        if is_workday(day):
            for a, b in spans:
                lo, hi = datetime.combine(day, a), datetime.combine(day, b)
                lo = max(lo, local)
                if lo >= hi:
                    continue
                if hi - lo >= left:
                    return (lo + left).replace(tzinfo=tz).astimezone(UTC)
                left -= hi - lo
        day += timedelta(days=1)
        local = datetime.combine(day, time.min)


def add_working_days(start: datetime, days: int, *, rules: SlaRules, tz: ZoneInfo) -> datetime:
    """The close of the `days`-th working day after the local day of `start`, as aware UTC."""
    day = start.astimezone(tz).date()
    for _ in range(days):
        day = next_workday(day)
    close = _spans(tuple(rules.work_hours))[-1][1]
    return datetime.combine(day, close).replace(tzinfo=tz).astimezone(UTC)


def rule_for(rules: SlaRules, *, score: int | None, comment: str) -> tuple[SlaRule, bool]:
    """The rule that applies, and whether it is one that asks for a rectification (food safety or low score)."""
    if food_safety_words(comment):
        return rules.food_safety, True
    if score is not None and score <= rules.max_score:
        return rules.low_score, True
    return rules.other, False


def deadlines(
    rules: SlaRules, *, score: int | None, comment: str, received_at: datetime, tz: ZoneInfo
) -> Deadlines:
    """The acknowledge and rectify deadlines of a feedback received at `received_at` (naive taken as UTC)."""
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=UTC)
    rule, _ = rule_for(rules, score=score, comment=comment)
    ack = None
    if rule.ack_hours is not None:
        ack = add_working_hours(received_at, rule.ack_hours, rules=rules, tz=tz)
    elif rule.ack_days is not None:
        ack = add_working_days(received_at, rule.ack_days, rules=rules, tz=tz)
    rectify = None
    if rule.rectify_days is not None:
        rectify = add_working_days(received_at, rule.rectify_days, rules=rules, tz=tz)
    return Deadlines(ack, rectify)


def rescore(
    session: Session, *, feedback_id: int, score: int | None, comment: str, settings: Settings | None
) -> Deadlines | None:
    """Give a feedback whose score was replaced the deadlines it would have had, had it been received with
    that score (its words and its time of receipt unchanged): 4分 → 1分 gets the complaint deadlines, 1分 →
    5分 loses them. Nothing without settings (as when creating a feedback without them)."""
    if settings is None:
        return None
    received_at = session.execute(
        select(col(Feedback.created_at)).where(col(Feedback.id) == feedback_id)
    ).scalar_one()
    due = deadlines(settings.sla, score=score, comment=comment, received_at=received_at, tz=settings.tz)
    session.execute(
        update(Feedback)
        .where(col(Feedback.id) == feedback_id)
        .values(ack_due_at=due.ack_due_at, rectify_due_at=due.rectify_due_at)
    )
    return due
