"""Demo data at scale (`houqin demo --count 1000000 --months 24`): the same kinds of feedback, handling and
return visits as server/demo/fill.py, generated as plain rows and written with multi-row INSERT statements in
large transactions straight to the driver (server/demo/bulkwrite.py: SQLite executemany, PostgreSQL COPY,
indexes built once at the end; no ORM object per row, no photos), then the per-day rollups built
(feedback.rollup), so a million feedbacks take minutes, not hours.
"""

from __future__ import annotations

import functools
import itertools
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session

from core.clock import utcnow
from core.settings import Settings
from feedback import rollup, sla
from feedback.models import Channel, Feedback, FeedbackEvent, Meal, Status
from feedback.service import topics_of
from feedback.tokens import search_tokens
from server.demo import data, fill
from server.demo.bulkwrite import bulk_writer
from server.demo.handling import LOOP_KEYS

CHUNK = 5000
COMMIT_EVERY = 50_000  # feedbacks per transaction
_FB = Feedback.__tablename__
_EV = FeedbackEvent.__tablename__
MEALS = list(data.MEAL_WEIGHTS)
MEAL_CUM = list(itertools.accumulate(data.MEAL_WEIGHTS.values()))


@dataclass
class BulkSummary:
    """What a bulk fill wrote."""

    feedbacks: int
    events: int
    first_day: date
    last_day: date


def _cum(weights: dict[Any, float]) -> tuple[list[Any], list[float]]:
    return list(weights), list(itertools.accumulate(weights.values()))


def fill_bulk(
    engine: Engine, *, settings: Settings, count: int, months: int, seed: int, today: date
) -> BulkSummary:
    """Write `count` demo feedbacks over the `months` months before `today`, committing each chunk."""
    rng = random.Random(seed)
    tz = settings.tz
    last = today - timedelta(days=1)
    back = today.year * 12 + today.month - 1 - (months - 1)  # the first of `months` calendar months
    first = date(back // 12, back % 12 + 1, 1)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    day_cum = list(itertools.accumulate(1.0 if fill.workday(d) else data.WEEKEND_WEIGHT for d in days))
    cutoff = datetime.combine(today, time(0), tzinfo=tz).astimezone(UTC)
    with Session(engine) as session:
        sites = fill.ensure_sites(session)
        meetings = fill.ensure_meetings(
            session, rng, days=days, venue_names={n for _c, n, k, *_ in data.SITES if k == "venue"}
        )
        fill.add_roster(session)
        session.commit()
        site_names = {sid: name for code, name, *_ in data.SITES if (sid := sites.get(code))}
        meeting_rows = [(m.id, m.title, m.starts_on, m.ends_on) for m in meetings]
    canteens = [(sites[c], w, t) for c, _n, k, w, t in data.SITES if k == "canteen"]
    canteen_cum = list(itertools.accumulate(w for _s, w, _t in canteens))
    people = [f"o_bulk_{i:05X}" for i in range(5000)]
    scores_c, scores_c_cum = _cum(data.CANTEEN_SCORES)
    scores_m, scores_m_cum = _cum(data.MEETING_SCORES)
    per_day: dict[date, int] = {}
    written = events = 0
    next_id = _next_id(engine)
    with bulk_writer(engine) as writer:
        while written < count:
            n = min(CHUNK, count - written)
            fb_rows: list[dict[str, Any]] = []
            ev_rows: list[dict[str, Any]] = []
            for _ in range(n):
                is_meeting = meeting_rows and rng.random() < data.MEETING_SHARE
                if is_meeting:
                    mid, title, starts, ends = rng.choice(meeting_rows)
                    day = starts + timedelta(days=rng.randrange((ends - starts).days + 1))
                    meal, site_id, place = None, None, title
                    score = rng.choices(scores_m, cum_weights=scores_m_cum)[0]
                    comment, mood = fill.pick_comment(rng, data.MEETING_COMMENTS, score)
                    created = fill.random_time(rng, tz, day, time(9, 0), 510)
                else:
                    mid, title = None, None
                    day = rng.choices(days, cum_weights=day_cum)[0]
                    meal = rng.choices(MEALS, cum_weights=MEAL_CUM)[0]
                    start, minutes = data.MEAL_WINDOWS[meal]
                    site_id, _w, _t = canteens[rng.choices(range(len(canteens)), cum_weights=canteen_cum)[0]]
                    place = site_names.get(site_id, "")
                    score = rng.choices(scores_c, cum_weights=scores_c_cum)[0]
                    comment, mood = fill.pick_comment(rng, data.POOLS[meal], score)
                    created = fill.random_time(rng, tz, day, start, minutes)
                if created >= cutoff:
                    created = cutoff - timedelta(minutes=rng.randrange(30, 600))
                    day = created.astimezone(tz).date()
                per_day[day] = per_day.get(day, 0) + 1
                fid = next_id
                next_id += 1
                due = sla.deadlines(settings.sla, score=score, comment=comment, received_at=created, tz=tz)
                row: dict[str, Any] = {
                    "id": fid,
                    "reference": f"FK{day:%Y%m%d}-{per_day[day]:04d}",
                    "channel": Channel.meeting.value if is_meeting else Channel.canteen.value,
                    "source": data.SOURCE,
                    "sender": rng.choice(people),
                    "site_id": site_id,
                    "table_no": None,
                    "meeting_id": mid,
                    "meal": Meal(meal).value if meal else None,
                    "service_date": day,
                    "score": score,
                    "comment": comment,
                    "search_tokens": search_tokens(
                        comment,
                        None if is_meeting else place,
                        title,
                        service_date=day,
                        meal=meal,
                        site_id=site_id,
                        meeting_id=mid,
                    ),
                    "topics": topics_of(comment),
                    "misuse": False,
                    "volume_id": None,
                    "created_at": created,
                    "ack_due_at": due.ack_due_at,
                    "rectify_due_at": due.rectify_due_at,
                }
                row.update(_handle(rng, row, mood, cutoff, ev_rows, is_meeting=bool(is_meeting)))
                fb_rows.append(row)
            writer.write(_FB, fb_rows)
            writer.write(_EV, ev_rows)
            written += n
            events += len(ev_rows)
            if written % COMMIT_EVERY < n or written == count:
                writer.commit()
    _fix_sequence(engine)
    with Session(engine) as session:  # the dashboard's per-day rollups, over everything just written
        rollup.rebuild(session, now=utcnow())
        session.commit()
    return BulkSummary(feedbacks=written, events=events, first_day=first, last_day=last)


@functools.lru_cache(maxsize=65536)
def _text_tokens(comment: str, place: str | None, title: str | None) -> str:
    return search_tokens(comment, place, title)


@functools.lru_cache(maxsize=65536)
def _filter_tokens(day: date, meal: str | None, site_id: int | None, meeting_id: int | None) -> str:
    return search_tokens(service_date=day, meal=meal, site_id=site_id, meeting_id=meeting_id)


def _tokens(
    comment: str,
    place: str | None,
    title: str | None,
    day: date,
    meal: str | None,
    site: int | None,
    mid: int | None,
) -> str:
    """feedback.tokens.search_tokens of these, its two halves memoised (comments repeat)."""
    return " ".join(filter(None, (_text_tokens(comment, place, title), _filter_tokens(day, meal, site, mid))))


@functools.lru_cache(maxsize=65536)
def _topics(comment: str) -> str:
    return topics_of(comment)


def _handle(
    rng: random.Random,
    row: dict[str, Any],
    mood: str,
    cutoff: datetime,
    ev_rows: list[dict[str, Any]],
    *,
    is_meeting: bool,
) -> dict[str, Any]:
    """One row's handling, a shorter walk than server/demo/handling.py's (acknowledged, closed, a return visit):
    its columns, and its events appended to ev_rows."""
    actor = rng.choice(data.MEETING_ACTORS if is_meeting else data.CANTEEN_ACTORS)
    fid, at = row["id"], row["created_at"]
    last = at
    out: dict[str, Any] = dict.fromkeys(LOOP_KEYS)
    status = Status.new
    if rng.random() >= data.UNHANDLED_SHARE:
        at = at + timedelta(hours=rng.uniform(0.3, 30))
        if at < cutoff:
            status = Status.acknowledged
            out.update(acknowledged_at=at, acknowledged_by=actor)
            ev_rows.append(_ev(fid, at, actor, "replied", "已受理，感谢您的反馈"))
            last = at
            at = at + timedelta(hours=rng.uniform(24, 160))
            if at < cutoff and not (mood != "pos" and rng.random() < data.OPEN_ENDED_SHARE):
                status = Status.closed
                out["rectified_at"] = at
                ev_rows.append(_ev(fid, at, actor, "closed", "已办结"))
                last = at
                score = row["score"]
                if score is not None and score <= 3 and rng.random() < data.REVISIT_ANSWER_SHARE:
                    answered = at + timedelta(hours=rng.uniform(0.2, 20))
                    if answered < cutoff:
                        answer = rng.choices((1, 2, 3), weights=data.REVISIT_WEIGHTS)[0]
                        out.update(revisit_asked_at=at, revisit_answer=answer, revisit_answered_at=answered)
                        if answer == 3:
                            status = Status.rectifying
                        last = answered
    out["status"] = status.value
    out["updated_at"] = last  # the last thing that happened (never a planned time past the cutoff)
    return out


def _ev(feedback_id: int, at: datetime, actor: str, action: str, detail: str) -> dict[str, Any]:
    return {"feedback_id": feedback_id, "at": at, "actor": actor, "action": action, "detail": detail}


def _next_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM feedback")).scalar_one()) + 1


def _fix_sequence(engine: Engine) -> None:
    """PostgreSQL: move the id sequence past the ids written explicitly."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence('feedback', 'id'), (SELECT max(id) FROM feedback))")
        )
