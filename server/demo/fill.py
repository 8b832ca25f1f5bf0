"""The demo fill (`houqin demo`): a realistic month of canteen and meeting feedback so a newcomer can look
around, drawn from the constants of server/demo/data.py.

Everything is derived from one seeded random generator and the given `today`, so the same seed on a fresh
database gives the same reference numbers, comments and photos. Feedback is recorded through the service
functions the message path uses (reference numbers, raw SQL); the handling history is written as
FeedbackEvent rows and each feedback's status is set with a bulk UPDATE by primary key. Nothing here
commits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import func, select
from sqlmodel import Session, col

from core.settings import Settings
from feedback import service
from feedback.meetings import add_meeting
from feedback.models import Channel, Feedback, Meal, Meeting, Person, Site, Status
from ingest.store import Store
from server.demo.data import (
    AND,
    BUT,
    CANTEEN_SCORES,
    DINERS,
    GUESTS,
    HOLIDAYS,
    MEAL_WEIGHTS,
    MEAL_WINDOWS,
    MEETING_COMMENTS,
    MEETING_SCORES,
    MEETING_SHARE,
    MEETINGS,
    POOLS,
    ROSTER,
    SITES,
    SOURCE,
    TABLE_SHARE,
    URGE,
    WEEKEND_WEIGHT,
)
from server.demo.handling import walk_handling
from server.demo.photos import attach_photos

# --- results ---------------------------------------------------------------------------------------------


@dataclass
class DemoSummary:
    """What `fill_demo` made."""

    sites: int
    meetings: int
    feedbacks: int
    photos: int
    events: int = 0
    first_day: date | None = None
    last_day: date | None = None


@dataclass
class _Plan:
    """One feedback to create."""

    created_at: datetime  # aware UTC
    local_day: date
    channel: Channel
    sender: str
    score: int | None
    comment: str
    mood: str  # pos, mid, neg, idea: how the handling goes
    site_id: int | None = None
    table_no: str | None = None
    meeting_id: int | None = None
    meal: Meal | None = None
    events: list[tuple[Status, datetime, str]] = field(default_factory=list)


# --- the generator ---------------------------------------------------------------------------------------


def demo_feedback_count(session: Session) -> int:
    """How many demo feedbacks the database holds."""
    return int(
        session.execute(
            select(func.count()).select_from(Feedback).where(col(Feedback.source) == SOURCE)
        ).scalar_one()
    )


def demo_period(today: date) -> tuple[date, date]:
    """First and last day of demo feedback: the previous calendar month through yesterday.

    Today itself is left out: the data is a pure function of (seed, today), and a time later today
    would be in the future.
    """
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    return first, today - timedelta(days=1)


def fill_demo(session: Session, *, settings: Settings, count: int, seed: int, today: date) -> DemoSummary:
    """Create the demo sites, meetings and `count` feedbacks (with photos and handling history); no commit."""
    if count < 0:
        raise ValueError("count must be ≥ 0")
    rng = random.Random(seed)
    tz = settings.tz
    first, last = demo_period(today)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    cutoff = datetime.combine(today, time(0), tzinfo=tz).astimezone(UTC)

    sites = ensure_sites(session)
    canteens = [
        (sites[code], weight, tables) for code, _name, kind, weight, tables in SITES if kind == "canteen"
    ]
    meetings = ensure_meetings(
        session, rng, days=days, venue_names={name for _c, name, kind, *_ in SITES if kind == "venue"}
    )
    diners = _openids(rng, DINERS + GUESTS)
    staff, guests = diners[:DINERS], diners[DINERS:]
    home = {d: rng.choices(range(len(canteens)), weights=[w for _s, w, _t in canteens])[0] for d in staff}

    n_meeting = round(count * MEETING_SHARE) if meetings else 0
    plans = [_canteen_plan(rng, tz, days, canteens, staff, home) for _ in range(count - n_meeting)]
    plans += [_meeting_plan(rng, tz, meetings, staff + guests, last) for _ in range(n_meeting)]
    plans = [p for _, p in sorted(enumerate(plans), key=lambda ip: (ip[1].created_at, ip[0]))]

    store = Store(session)  # outside a batch: its writes land at once
    rows: list[tuple[_Plan, service.FeedbackRow]] = []
    for plan in plans:
        row = service.create_feedback(
            store,
            sender=plan.sender,
            local_day=plan.local_day,
            service_date=plan.local_day,
            channel=plan.channel,
            source=SOURCE,
            site_id=plan.site_id,
            table_no=plan.table_no,
            meeting_id=plan.meeting_id,
            meal=plan.meal,
            score=plan.score,
            comment=plan.comment,
            created_at=plan.created_at,
            settings=settings,
        )
        rows.append((plan, row))

    add_roster(session)
    photos = attach_photos(store, rng, settings, rows)
    events = walk_handling(session, rng, rows, cutoff=cutoff, photo_ids=set(photos))
    return DemoSummary(
        sites=len(sites),
        meetings=len(meetings),
        feedbacks=len(rows),
        photos=len(photos),
        events=events,
        first_day=first,
        last_day=last,
    )


def ensure_sites(session: Session) -> dict[str, int]:
    """The demo sites by code, created when missing (an existing site with the code is reused)."""
    ids: dict[str, int] = {}
    for code, name, kind, _weight, _tables in SITES:
        site = session.execute(select(Site).where(col(Site.code) == code)).scalar_one_or_none()
        if site is None:
            site = Site(code=code, name=name, kind=kind)
            session.add(site)
            session.flush()
        assert site.id is not None
        ids[code] = site.id
    return ids


def ensure_meetings(
    session: Session, rng: random.Random, *, days: list[date], venue_names: set[str]
) -> list[Meeting]:
    """One meeting per quarter of the period's weekdays; codes HYYYYYMMDD, reused when already there."""
    workdays = [d for d in days if workday(d)]
    if len(workdays) < 2 * len(MEETINGS):
        return []
    chunk = len(workdays) // len(MEETINGS)
    out = []
    for i, (title, venue, organiser, length) in enumerate(MEETINGS):
        options = workdays[i * chunk : (i + 1) * chunk]
        fits = [d for d in options if all(d + timedelta(days=k) in workdays for k in range(length))]
        start = rng.choice(fits or options)
        end = start
        while (end - start).days + 1 < length and end + timedelta(days=1) in workdays:
            end += timedelta(days=1)
        code = f"HY{start:%Y%m%d}"
        meeting = service.meeting_by_code(session, code=code)
        if meeting is None:
            meeting = add_meeting(
                session,
                code=code,
                title=title,
                starts_on=start,
                ends_on=end,
                venue=venue,
                organiser=organiser,
            )
        out.append(meeting)
    return out


def workday(day: date) -> bool:
    """A weekday that is not one of the fixed-date public holidays."""
    return day.weekday() < 5 and (day.month, day.day) not in HOLIDAYS


def _openids(rng: random.Random, n: int) -> list[str]:
    """`n` distinct anonymous-looking openids o_demo_XXXX."""
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        openid = f"o_demo_{rng.randrange(16**4):04X}"
        if openid not in seen:
            seen.add(openid)
            out.append(openid)
    return out


def random_time(rng: random.Random, tz: tzinfo, day: date, start: time, minutes: int) -> datetime:
    """A random moment, as aware UTC, within `minutes` after local `start` on `day`."""
    offset = timedelta(
        minutes=rng.randrange(minutes), seconds=rng.randrange(60), microseconds=rng.randrange(10**6)
    )
    local = datetime.combine(day, start, tzinfo=tz) + offset
    return local.astimezone(UTC)


def _score(rng: random.Random, weights: dict[int | None, float]) -> int | None:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def pick_comment(rng: random.Random, pools: dict[str, tuple[str, ...]], score: int | None) -> tuple[str, str]:
    """A comment matched to the score, and its mood (pos, mid, neg, idea)."""

    def one(kind: str) -> str:
        return rng.choice(pools[kind])

    def two(kind: str) -> str:
        a, b = rng.sample(pools[kind], 2)
        return a + AND + b

    roll = rng.random()
    if score is None:
        mood = "idea" if roll < 0.45 else "neg" if roll < 0.75 else "pos"
        return one(mood), mood
    if score == 5:
        return ("" if roll < 0.25 else one("pos") if roll < 0.75 else two("pos")), "pos"
    if score == 4:
        if roll < 0.25:
            return "", "pos"
        if roll < 0.6:
            return one("pos"), "pos"
        if roll < 0.85:
            return one("pos") + BUT + one("mid"), "mid"
        return one("mid"), "mid"
    if score == 3:
        return ("" if roll < 0.1 else one("mid") if roll < 0.75 else one("neg")), "mid"
    if score == 2:
        return (one("neg") if roll < 0.7 else one("neg") + AND + one("mid")), "neg"
    return (one("neg") if roll < 0.5 else two("neg") if roll < 0.8 else one("neg") + URGE), "neg"


def _canteen_plan(
    rng: random.Random,
    tz: tzinfo,
    days: list[date],
    canteens: list[tuple[int, float, int]],
    staff: list[str],
    home: dict[str, int],
) -> _Plan:
    day = rng.choices(days, weights=[1.0 if workday(d) else WEEKEND_WEIGHT for d in days])[0]
    meal = rng.choices(list(MEAL_WEIGHTS), weights=list(MEAL_WEIGHTS.values()))[0]
    start, minutes = MEAL_WINDOWS[meal]
    sender = rng.choice(staff)
    site = home[sender] if rng.random() < 0.8 else rng.randrange(len(canteens))
    site_id, _weight, tables = canteens[site]
    score = _score(rng, CANTEEN_SCORES)
    comment, mood = pick_comment(rng, POOLS[meal], score)
    created = random_time(rng, tz, day, start, minutes)
    return _Plan(
        created_at=created,
        local_day=day,
        channel=Channel.canteen,
        sender=sender,
        score=score,
        comment=comment,
        mood=mood,
        site_id=site_id,
        meal=meal,
        table_no=str(rng.randint(1, tables)) if rng.random() < TABLE_SHARE else None,
    )


def _meeting_plan(
    rng: random.Random, tz: tzinfo, meetings: list[Meeting], people: list[str], last: date
) -> _Plan:
    meeting = rng.choices(meetings, weights=[(m.ends_on - m.starts_on).days + 1 for m in meetings])[0]
    after = meeting.ends_on + timedelta(days=1)
    if after <= last and rng.random() < 0.15:
        day, start, minutes = after, time(8, 30), 210  # a late word the next morning
    else:
        day = meeting.starts_on + timedelta(
            days=rng.randrange((meeting.ends_on - meeting.starts_on).days + 1)
        )
        start, minutes = time(9, 0), 510
    score = _score(rng, MEETING_SCORES)
    comment, mood = pick_comment(rng, MEETING_COMMENTS, score)
    return _Plan(
        created_at=random_time(rng, tz, day, start, minutes),
        local_day=day,
        channel=Channel.meeting,
        sender=rng.choice(people),
        score=score,
        comment=comment,
        mood=mood,
        meeting_id=meeting.id,
    )


def add_roster(session: Session) -> int:
    """The demo staff roster (Person rows with 工号), when none of it is there yet; returns how many added."""
    known = set(
        session.execute(select(col(Person.staff_no)).where(col(Person.staff_no).is_not(None))).scalars()
    )
    added = 0
    for staff_no, name, department, roles in ROSTER:
        if staff_no not in known:
            session.add(Person(staff_no=staff_no, name=name, department=department, roles=roles))
            added += 1
    session.flush()
    return added
