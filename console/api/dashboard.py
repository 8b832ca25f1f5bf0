"""`/api/v1/dashboard` (counts, CSAT, handling times, trends, breakdowns and 三率) and `/api/v1/worklist`
(今日待办, each line with the inbox tab that lists exactly its items)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, HTTPException

from console import inputs
from console.deps import DbSession, Manager, SettingsDep
from console.queries.feedback import channel_of
from console.schemas import DashboardOut, WorkItemOut
from core.clock import to_local, utcnow
from feedback import rates, stats, worklist

router = APIRouter()


@router.get("/dashboard", response_model=DashboardOut, tags=["feedback"])
def dashboard(
    db: DbSession, who: Manager, settings: SettingsDep, start: date | None = None, end: date | None = None
) -> DashboardOut:
    """Counts, CSAT, response and handling times, trends, breakdowns, 三率 and the form's per-aspect stars
    (average and n per aspect, per canteen and per meeting; default: the last 30 days)."""
    today = to_local(utcnow(), settings.tz).date()
    try:
        start, end = inputs.date_range(start, end, today=today)
    except inputs.InputError as exc:
        raise HTTPException(422, str(exc)) from exc
    now = utcnow()
    data = stats.dashboard(
        db, settings=settings, start=start, end=end, channel=channel_of(who), now=now
    ).as_dict()
    data["words"] = [{"word": w, "n": n} for w, n in data["words"]]
    data["rates"] = rates.rates(db, start=start, end=end, now=now, channel=channel_of(who)).as_dict()
    return DashboardOut(start=start, end=end, **data)


@router.get("/worklist", response_model=list[WorkItemOut], tags=["feedback"])
def get_worklist(db: DbSession, who: Manager, settings: SettingsDep) -> list[WorkItemOut]:
    """今日待办: unacknowledged alerts, past the acknowledge deadline, rectifications due today and overdue,
    yesterday's lowest scores; each with the inbox link (`GET /api/v1/feedback?tab=…`) that lists exactly those."""
    lines = worklist.worklist(
        db, now=utcnow(), tz=settings.tz, max_score=settings.sla.max_score, channel=channel_of(who)
    )
    return [
        WorkItemOut(
            tab=w.tab, label=w.label, count=w.count, inbox=f"/console/feedback?tab={w.tab}", items=w.items
        )
        for w in lines
    ]
