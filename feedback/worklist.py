"""今日待办 (the manager's worklist): unacknowledged alerts, items past their acknowledge deadline,
rectifications due today and overdue, yesterday's lowest scores — each a count, a few items, and the inbox
tab (`?tab=…`) that lists exactly those: this module is the one definition of those tabs, and the
console's inbox lists a tab by the very conditions its count uses (`conditions`).

An alert (预警) here is a feedback the SLA gave a rectification deadline (food safety or a low score:
HOUQIN_SLA, which with its defaults is exactly what `feedback.alerts.alert_reason` flags). That reads one
index (status, rectify_due_at) where matching the comments' words would read every new feedback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, literal, select, union_all
from sqlmodel import Session, col

from feedback.models import Feedback, Status

Tab = Literal["alerts_unacked", "ack_overdue", "rectify_due_today", "rectify_overdue", "lowest_yesterday"]
# the inbox tabs this module defines, in the worklist's order, with their labels
TABS: dict[str, str] = {
    "alerts_unacked": "预警未受理",
    "ack_overdue": "超时未受理",
    "rectify_due_today": "今日整改到期",
    "rectify_overdue": "整改逾期",
    "lowest_yesterday": "昨日低分",
}
_OPEN = (Status.new.value, Status.acknowledged.value, Status.rectifying.value)
ITEMS_PER_TAB = 5
_ITEM_COLUMNS = ("id", "reference", "score", "comment", "ack_due_at", "rectify_due_at")


def conditions(
    tab: str, *, now: datetime, tz: ZoneInfo, max_score: int = 2, channel: str | None = None
) -> list[ColumnElement[bool]]:
    """The WHERE conditions of one worklist tab (KeyError for an unknown tab)."""
    today = now.astimezone(tz).date()
    tomorrow = datetime.combine(today + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
    base: list[ColumnElement[bool]] = [col(Feedback.misuse).is_(False)]
    if channel is not None:
        base.append(col(Feedback.channel) == channel)
    by_tab: dict[str, list[ColumnElement[bool]]] = {
        "alerts_unacked": [col(Feedback.status) == Status.new, col(Feedback.rectify_due_at).is_not(None)],
        "ack_overdue": [col(Feedback.status) == Status.new, col(Feedback.ack_due_at) < now],
        "rectify_due_today": [
            col(Feedback.status).in_(_OPEN),
            col(Feedback.rectify_due_at) >= now,
            col(Feedback.rectify_due_at) < tomorrow,
        ],
        "rectify_overdue": [col(Feedback.status).in_(_OPEN), col(Feedback.rectify_due_at) < now],
        "lowest_yesterday": [
            col(Feedback.service_date) == today - timedelta(days=1),
            col(Feedback.score) <= max_score,
        ],
    }
    return base + by_tab[tab]


def tab_order(tab: str) -> list[Any]:
    """How a tab's items are listed: by the deadline that matters, or the lowest score first."""
    if tab in ("ack_overdue", "alerts_unacked"):
        return [col(Feedback.ack_due_at), col(Feedback.id)]
    if tab.startswith("rectify"):
        return [col(Feedback.rectify_due_at), col(Feedback.id)]
    return [col(Feedback.score), col(Feedback.id)]


@dataclass
class WorkItem:
    """One line of the worklist."""

    tab: str
    label: str
    count: int
    items: list[dict[str, Any]] = field(default_factory=list)


def worklist(
    session: Session, *, now: datetime, tz: ZoneInfo, max_score: int = 2, channel: str | None = None
) -> list[WorkItem]:
    """The worklist for one role's channel (None: all): every tab's count in one statement (each over its
    covering index), then the first items of the tabs that have any in one more."""
    wheres = {tab: conditions(tab, now=now, tz=tz, max_score=max_score, channel=channel) for tab in TABS}
    counts = session.execute(
        select(
            *[
                select(func.count()).select_from(Feedback).where(*where).scalar_subquery().label(tab)
                for tab, where in wheres.items()
            ]
        )
    ).one()
    table = Feedback.__table__  # type: ignore[attr-defined]
    columns = [table.c[name] for name in _ITEM_COLUMNS]
    parts = []
    for k, (tab, where) in enumerate(wheres.items()):
        if counts[k]:
            for one in _by_status(where):  # an index scan in deadline order each: no sort of all of them
                first = select(literal(k).label("tab_k"), *columns).where(*one).order_by(*tab_order(tab))
                parts.append(first.limit(ITEMS_PER_TAB).subquery().select())
    found: dict[int, list[Any]] = {}
    if parts:
        for row in session.execute(union_all(*parts) if len(parts) > 1 else parts[0]).mappings():
            found.setdefault(int(row["tab_k"]), []).append(row)
    nulls_first = session.get_bind().dialect.name == "sqlite"  # ascending: SQLite's NULLs first, PG's last
    out = []
    for k, (tab, label) in enumerate(TABS.items()):
        keys = [c.key for c in tab_order(tab)]
        rows = sorted(found.get(k, []), key=lambda r: [_ordered(r[name], nulls_first) for name in keys])
        items = [
            {name: r[name] for name in _ITEM_COLUMNS} | {"comment": (r["comment"] or "")[:60]}
            for r in rows[:ITEMS_PER_TAB]
        ]
        out.append(WorkItem(tab=tab, label=label, count=int(counts[k]), items=items))
    return out


def _by_status(where: list[ColumnElement[bool]]) -> list[list[ColumnElement[bool]]]:
    """`where` with its `status IN (…)` (the open statuses) as one `status = …` each."""
    for k, cond in enumerate(where):
        if cond.compare(col(Feedback.status).in_(_OPEN)):
            return [[*where[:k], col(Feedback.status) == status, *where[k + 1 :]] for status in _OPEN]
    return [where]


def _ordered(value: Any, nulls_first: bool) -> tuple[bool, Any]:
    """A sort key of one ordering column, NULL placed where the database places it."""
    return ((value is not None) if nulls_first else (value is None), 0 if value is None else value)


REVISIT_LABELS = {1: "满意", 2: "基本满意", 3: "不满意"}


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def loop_fields(fb: Feedback, *, now: datetime) -> dict[str, Any]:
    """A feedback's deadlines, whether it is past them (shown red), and its return-visit answer (回访)."""
    return {
        "ack_due_at": fb.ack_due_at,
        "rectify_due_at": fb.rectify_due_at,
        "ack_overdue": fb.status == Status.new and fb.ack_due_at is not None and _aware(fb.ack_due_at) < now,
        "rectify_overdue": fb.status in _OPEN
        and fb.rectify_due_at is not None
        and _aware(fb.rectify_due_at) < now,
        "revisit_asked_at": fb.revisit_asked_at,
        "revisit_answer": fb.revisit_answer,
        "revisit_answer_label": REVISIT_LABELS.get(fb.revisit_answer or 0),
        "revisit_answered_at": fb.revisit_answered_at,
    }
