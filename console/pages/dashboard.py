"""The managers' dashboard: 今日待办 at the top, then counts, CSAT, response and handling times, trends and
breakdowns with ECharts charts, 三率 with n and 环比, and the feedback form's per-aspect stars."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from console import inputs
from console.deps import DbSession, Manager, SettingsDep
from console.pages.render import render
from console.queries.feedback import channel_of
from core.clock import to_local, utcnow
from feedback import rates, stats, worklist

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/dashboard")
def dashboard(request: Request, db: DbSession, who: Manager, settings: SettingsDep) -> Response:
    """Counts, CSAT, response and handling times, trends and breakdowns, with ECharts charts."""
    today = to_local(utcnow(), settings.tz).date()
    try:
        start, end = inputs.date_range(
            inputs.day(request.query_params.get("start")),
            inputs.day(request.query_params.get("end")),
            today=today,
        )
    except inputs.InputError as exc:
        raise HTTPException(400, str(exc)) from exc
    channel = channel_of(who)
    now = utcnow()
    # the form's per-aspect stars (h5/, issue 15) come with it (d.aspects, per canteen and per meeting)
    d = stats.dashboard(db, settings=settings, start=start, end=end, channel=channel, now=now)
    # issue 13: 今日待办 at the top, 三率 with n and 环比
    work = worklist.worklist(db, now=now, tz=settings.tz, max_score=settings.sla.max_score, channel=channel)
    three = rates.rates(db, start=start, end=end, now=now, channel=channel).as_dict()
    return render(
        request,
        "dashboard.html",
        who,
        d=d,
        data=d.as_dict(),
        start=start,
        end=end,
        work=work,
        rates=three,
    )
