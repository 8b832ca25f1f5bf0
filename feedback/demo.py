"""Demo data (`houqin demo`): a realistic month of canteen and meeting feedback so a newcomer can look around.

Everything is derived from one seeded random generator and the given `today`, so the same seed on a fresh
database gives the same reference numbers, comments and photos. Feedback is recorded through the service
functions the message path uses (reference numbers, raw SQL); the handling history is written as
FeedbackEvent rows and each feedback's status is set with a plain UPDATE. Nothing here commits.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import func, select, update
from sqlmodel import Session, col

from core.settings import Settings
from feedback import service
from feedback.meetings import add_meeting
from feedback.models import (
    Action,
    Channel,
    Feedback,
    FeedbackEvent,
    FeedbackMedia,
    Meal,
    Meeting,
    Person,
    Site,
    Status,
)

# --- constants (Chinese text lives here) -----------------------------------------------------------------

SOURCE = "demo"
ACTOR = "食堂管理员"

# (code, name, kind, weight of canteen feedback, tables)
SITES: tuple[tuple[str, str, str, float, int], ...] = (
    ("yst", "机关一食堂", "canteen", 0.45, 40),
    ("est", "机关二食堂", "canteen", 0.35, 30),
    ("zgct", "职工餐厅", "canteen", 0.20, 24),
    ("hys", "第一会议室", "venue", 0.0, 0),
)

# (title, venue, organiser, days)
MEETINGS: tuple[tuple[str, str, str, int], ...] = (
    ("全市机关事务工作会议", "第一会议室", "办公室", 2),
    ("公共机构节能工作推进会", "第一会议室", "公共机构节能管理处", 1),
    ("机关食堂食品安全培训会", "二号楼报告厅", "餐饮服务中心", 1),
    ("后勤服务满意度座谈会", "第一会议室", "服务保障处", 1),
)

DINERS = 60  # staff who eat in the canteens
GUESTS = 30  # meeting attendees from other units
MEETING_SHARE = 0.12  # of all feedback
PHOTO_SHARE = 0.08
TABLE_SHARE = 0.35
WEEKEND_WEIGHT = 0.1  # canteens run a duty service at weekends and on public holidays
# fixed-date public holidays (元旦, 劳动节, 国庆节), treated like weekends; lunar ones are not modelled
HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (5, 3), (5, 4), (5, 5), *((10, d) for d in range(1, 8))})

# local meal windows: (start, minutes long)
MEAL_WINDOWS = {
    Meal.breakfast: (time(7, 0), 120),
    Meal.lunch: (time(11, 30), 90),
    Meal.dinner: (time(17, 30), 90),
}
MEAL_WEIGHTS = {Meal.breakfast: 0.25, Meal.lunch: 0.55, Meal.dinner: 0.20}

# score → weight; None is an unscored (free-text) feedback
CANTEEN_SCORES: dict[int | None, float] = {5: 0.40, 4: 0.28, 3: 0.12, 2: 0.06, 1: 0.04, None: 0.10}
MEETING_SCORES: dict[int | None, float] = {5: 0.48, 4: 0.28, 3: 0.10, 2: 0.04, 1: 0.02, None: 0.08}

# comment pools: pos(itive), mid (mild remark), neg(ative), idea (suggestion, mostly unscored)
BREAKFAST_COMMENTS: dict[str, tuple[str, ...]] = {
    "pos": (
        "豆浆很香浓",
        "包子皮薄馅大",
        "小米粥熬得很稠",
        "鸡蛋煮得刚好",
        "早餐品种丰富",
        "油条酥脆不油腻",
        "花卷松软",
    ),
    "mid": ("豆浆有点淡", "包子馅偏少", "粥稍微有点稀", "早餐品种可以再多一些", "咸菜有点咸"),
    "neg": ("馒头凉了", "鸡蛋煮老了", "油条太油", "七点半粥就没了", "豆浆不够热", "包子没蒸透"),
}
MAIN_MEAL_COMMENTS: dict[str, tuple[str, ...]] = {
    "pos": (
        "汤很鲜美",
        "青菜新鲜",
        "红烧肉肥而不腻",
        "鱼香肉丝味道正宗",
        "米饭软硬适中",
        "菜量足",
        "番茄炒蛋很下饭",
        "清蒸鱼很新鲜",
        "水果品种多",
        "凉菜爽口",
        "饺子馅很香",
    ),
    "mid": (
        "红烧肉偏咸",
        "米饭有点硬",
        "汤有点淡",
        "菜品变化不大，希望多换换花样",
        "辣菜有点多，希望增加清淡菜",
        "排队时间有点长",
        "炒菜油有点大",
    ),
    "neg": (
        "排队时间太长",
        "菜凉了",
        "红烧肉太咸了",
        "米饭有点夹生",
        "青菜发黄不新鲜",
        "吃出一根头发",
        "打菜分量不均",
        "十二点半以后好多菜没了",
        "鱼有腥味",
    ),
}
CANTEEN_COMMENTS: dict[str, tuple[str, ...]] = {
    "pos": ("服务热情", "餐厅环境干净整洁", "窗口阿姨服务热情", "餐具消毒到位"),
    "mid": ("餐厅有点吵", "座位有点紧张", "空调温度偏高"),
    "neg": ("餐具不够干净", "地面有油渍很滑", "餐桌没及时擦", "刷卡机经常故障"),
    "idea": (
        "建议增加一些粗粮",
        "希望能提供低糖饮品",
        "建议周五晚上增加面食",
        "希望增加少油少盐的窗口",
        "建议公布每周菜谱",
        "能否增加外带餐盒",
        "希望早餐多一些南方口味",
        "建议增加自助称重窗口",
    ),
}
MEETING_COMMENTS: dict[str, tuple[str, ...]] = {
    "pos": (
        "茶水续得及时",
        "会场布置整洁",
        "签到引导清楚",
        "会务人员服务周到",
        "音响效果好",
        "茶歇点心可口",
        "会议材料准备齐全",
        "会场温度适宜",
    ),
    "mid": ("会场有点闷", "投影有点暗，后排看不清", "座位略显拥挤", "茶歇品种可以再丰富些", "签到排队稍久"),
    "neg": (
        "会场空调太冷",
        "麦克风有杂音",
        "茶水不够热",
        "指示牌不清楚，找不到会场",
        "停车位不够",
        "会议材料缺页",
    ),
    "idea": ("建议提前发送会议议程", "希望提供无线网络", "建议会场准备充电插座", "建议增加会场指引标识"),
}
BUT = "，就是"
AND = "，"
URGE = "，希望尽快改进"

# handling history: action → details to pick from
CANTEEN_DETAILS = {
    Status.acknowledged: ("已受理，感谢您的反馈", "已受理，已转厨房负责人"),
    Status.rectifying: (
        "已通知后厨调整口味",
        "已要求窗口加快打菜速度",
        "已加强餐具清洗消毒",
        "已与供应商沟通，加强进货查验",
    ),
    Status.resolved: ("整改完成，欢迎继续监督", "已调整，欢迎再次品尝"),
    Status.closed: ("已办结",),
}
MEETING_DETAILS = {
    Status.acknowledged: ("已受理，感谢您的反馈", "已受理，已转会务组"),
    Status.rectifying: ("已通知会务组调整", "已联系物业检修设备"),
    Status.resolved: ("已整改，下次会议落实", "已调整完毕"),
    Status.closed: ("已办结",),
}
UNHANDLED_SHARE = 0.03  # feedback nobody got round to
OPEN_ENDED_SHARE = 0.08  # handled feedback left resolved (or rectifying) rather than closed

# photo palette: table tops, and food colours by meal
TABLE_COLOURS = ((181, 136, 99), (160, 120, 90), (205, 170, 125), (120, 130, 140))
FOOD_COLOURS = {
    Meal.breakfast: ((245, 235, 210), (250, 205, 60), (235, 225, 200), (210, 160, 90)),
    Meal.lunch: ((150, 60, 30), (60, 150, 60), (250, 250, 245), (220, 70, 40), (230, 180, 80)),
    Meal.dinner: ((150, 60, 30), (60, 150, 60), (250, 250, 245), (200, 120, 50)),
}


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

    sites = _sites(session)
    canteens = [
        (sites[code], weight, tables) for code, _name, kind, weight, tables in SITES if kind == "canteen"
    ]
    meetings = _meetings(
        session, rng, days=days, venue_names={name for _c, name, kind, *_ in SITES if kind == "venue"}
    )
    diners = _openids(rng, DINERS + GUESTS)
    staff, guests = diners[:DINERS], diners[DINERS:]
    home = {d: rng.choices(range(len(canteens)), weights=[w for _s, w, _t in canteens])[0] for d in staff}

    n_meeting = round(count * MEETING_SHARE) if meetings else 0
    plans = [_canteen_plan(rng, tz, days, canteens, staff, home) for _ in range(count - n_meeting)]
    plans += [_meeting_plan(rng, tz, meetings, staff + guests, last) for _ in range(n_meeting)]
    plans = [p for _, p in sorted(enumerate(plans), key=lambda ip: (ip[1].created_at, ip[0]))]

    from ingest.store import Store  # the demo data belongs to the composition root (issue 10 moves it there)

    store = Store(session)
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
    photos = _photos(store, rng, settings, rows)
    events = _handling(session, rng, rows, cutoff=cutoff, photo_ids=set(photos))
    return DemoSummary(
        sites=len(sites),
        meetings=len(meetings),
        feedbacks=len(rows),
        photos=len(photos),
        events=events,
        first_day=first,
        last_day=last,
    )


def _sites(session: Session) -> dict[str, int]:
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


def _meetings(
    session: Session, rng: random.Random, *, days: list[date], venue_names: set[str]
) -> list[Meeting]:
    """One meeting per quarter of the period's weekdays; codes HYYYYYMMDD, reused when already there."""
    workdays = [d for d in days if _workday(d)]
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


def _workday(day: date) -> bool:
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


def _at(rng: random.Random, tz: tzinfo, day: date, start: time, minutes: int) -> datetime:
    offset = timedelta(
        minutes=rng.randrange(minutes), seconds=rng.randrange(60), microseconds=rng.randrange(10**6)
    )
    local = datetime.combine(day, start, tzinfo=tz) + offset
    return local.astimezone(UTC)


def _score(rng: random.Random, weights: dict[int | None, float]) -> int | None:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _comment(rng: random.Random, pools: dict[str, tuple[str, ...]], score: int | None) -> tuple[str, str]:
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


def _merge(*pools: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for pool in pools:
        for kind, words in pool.items():
            out[kind] = out.get(kind, ()) + words
    return out


_POOLS = {
    Meal.breakfast: _merge(BREAKFAST_COMMENTS, CANTEEN_COMMENTS),
    Meal.lunch: _merge(MAIN_MEAL_COMMENTS, CANTEEN_COMMENTS),
    Meal.dinner: _merge(MAIN_MEAL_COMMENTS, CANTEEN_COMMENTS),
}


def _canteen_plan(
    rng: random.Random,
    tz: tzinfo,
    days: list[date],
    canteens: list[tuple[int, float, int]],
    staff: list[str],
    home: dict[str, int],
) -> _Plan:
    day = rng.choices(days, weights=[1.0 if _workday(d) else WEEKEND_WEIGHT for d in days])[0]
    meal = rng.choices(list(MEAL_WEIGHTS), weights=list(MEAL_WEIGHTS.values()))[0]
    start, minutes = MEAL_WINDOWS[meal]
    sender = rng.choice(staff)
    site = home[sender] if rng.random() < 0.8 else rng.randrange(len(canteens))
    site_id, _weight, tables = canteens[site]
    score = _score(rng, CANTEEN_SCORES)
    comment, mood = _comment(rng, _POOLS[meal], score)
    created = _at(rng, tz, day, start, minutes)
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
    comment, mood = _comment(rng, MEETING_COMMENTS, score)
    return _Plan(
        created_at=_at(rng, tz, day, start, minutes),
        local_day=day,
        channel=Channel.meeting,
        sender=rng.choice(people),
        score=score,
        comment=comment,
        mood=mood,
        meeting_id=meeting.id,
    )


def _photos(
    store: service.FeedbackStore,
    rng: random.Random,
    settings: Settings,
    rows: list[tuple[_Plan, service.FeedbackRow]],
) -> dict[int, int]:
    """Draw a plate photo for ~8% of the canteen feedback and attach it; feedback id → media id."""
    candidates = [i for i, (plan, _row) in enumerate(rows) if plan.channel == Channel.canteen]
    chosen = sorted(rng.sample(candidates, min(len(candidates), round(len(rows) * PHOTO_SHARE))))
    folder = settings.data_dir / "media" / "demo"
    if chosen:
        folder.mkdir(parents=True, exist_ok=True)
    out: dict[int, int] = {}
    media_times = []
    for i in chosen:
        plan, row = rows[i]
        _draw_plate(rng, folder / f"{row.reference}.png", meal=plan.meal or Meal.lunch, label=row.reference)
        media = service.attach_media(
            store,
            feedback=row,
            kind="image",
            local_path=f"media/demo/{row.reference}.png",
            media_id=f"demo-{row.reference}",
        )
        out[row.id] = media
        media_times.append(
            {"id": media, "created_at": plan.created_at + timedelta(seconds=rng.randint(20, 120))}
        )
    if media_times:
        # attach_media stamps the wall clock; the demo photo was sent with its feedback
        store.session.execute(update(FeedbackMedia), media_times)
    return out


def _draw_plate(rng: random.Random, path: Path, *, meal: Meal, label: str) -> None:
    """A 320x240 PNG: a plate with food on a table, stamped with the reference number."""
    width, height = 320, 240
    img = Image.new("RGB", (width, height), rng.choice(TABLE_COLOURS))
    draw = ImageDraw.Draw(img)
    cx, cy = width // 2 + rng.randint(-20, 20), height // 2 + rng.randint(-10, 10)
    draw.ellipse(
        (cx - 110, cy - 85, cx + 110, cy + 85), fill=(235, 235, 235), outline=(190, 190, 190), width=4
    )
    draw.ellipse((cx - 85, cy - 62, cx + 85, cy + 62), fill=(250, 250, 250))
    for _ in range(rng.randint(2, 4)):
        fx, fy = cx + rng.randint(-45, 45), cy + rng.randint(-30, 30)
        rx, ry = rng.randint(18, 34), rng.randint(12, 24)
        draw.ellipse((fx - rx, fy - ry, fx + rx, fy + ry), fill=rng.choice(FOOD_COLOURS[meal]))
    x = width - 40 + rng.randint(-5, 5)
    draw.line((x, 20, x - 25, height - 20), fill=(90, 60, 30), width=4)
    draw.line((x + 12, 20, x - 10, height - 20), fill=(90, 60, 30), width=4)
    draw.text((6, height - 16), label, fill=(255, 255, 255), font=ImageFont.load_default())
    img.save(path, "PNG")


def _handling(
    session: Session,
    rng: random.Random,
    rows: list[tuple[_Plan, service.FeedbackRow]],
    *,
    cutoff: datetime,
    photo_ids: set[int],
) -> int:
    """Walk each feedback along new → acknowledged → … → closed until the cutoff, as managers do: a reply
    to the diner, the rectification (措施/责任人/期限/完成情况) for complaints, and a return visit (回访)
    answered after closing a score ≤ 3; records events, statuses and the 三率 columns."""
    events: list[FeedbackEvent] = []
    updates: list[dict[str, Any]] = []
    for plan, row in rows:
        meeting = plan.channel == Channel.meeting
        details = MEETING_DETAILS if meeting else CANTEEN_DETAILS
        actor = rng.choice(MEETING_ACTORS if meeting else CANTEEN_ACTORS)
        if plan.mood == "neg":
            steps = [
                (Status.acknowledged, 0.3, 20),
                (Status.rectifying, 2, 30),
                (Status.resolved, 24, 120),
                (Status.closed, 12, 72),
            ]
        elif plan.mood in ("mid", "idea"):
            steps = [(Status.acknowledged, 1, 40), (Status.resolved, 24, 140), (Status.closed, 24, 96)]
        else:
            steps = [(Status.acknowledged, 1, 60), (Status.closed, 24, 140)]
        roll = rng.random()
        if roll < UNHANDLED_SHARE:
            steps = []
        elif roll < UNHANDLED_SHARE + OPEN_ENDED_SHARE and len(steps) > 2:
            steps = steps[:-1]
        at = plan.created_at
        last: datetime | None = None
        status = Status.new
        values: dict[str, Any] = {}
        for action, low, high in steps:
            at = at + timedelta(hours=rng.uniform(low, high))
            if at >= cutoff:
                break
            detail = rng.choice(details[action])
            if action == Status.acknowledged:
                events.append(_ev(row.id, at, actor, Action.acknowledged, ""))
                values.update(acknowledged_at=at, acknowledged_by=actor)
                replied = at + timedelta(minutes=3)
                if (plan.mood != "pos" or rng.random() < 0.5) and replied < cutoff:
                    events.append(_ev(row.id, replied, actor, Action.replied, detail))
                    at = replied
            elif action == Status.rectifying:
                rect = {"措施": detail, "责任人": rng.choice(OWNERS), "期限": str((at + timedelta(days=3)).date()),
                        "完成情况": ""}  # fmt: skip
                events.append(
                    _ev(row.id, at, actor, Action.rectification, json.dumps(rect, ensure_ascii=False))
                )
            else:
                events.append(_ev(row.id, at, actor, str(action), detail))
                values.setdefault("rectified_at", at)
            status, last = action, at
        asked = (last or at) + timedelta(minutes=1)
        if status == Status.closed and plan.score is not None and plan.score <= 3 and asked < cutoff:
            events.append(_ev(row.id, asked, actor, Action.revisit_asked, "客服消息"))
            values["revisit_asked_at"] = last = asked
            answered = asked + timedelta(hours=rng.uniform(0.2, 20))
            if answered < cutoff and rng.random() < REVISIT_ANSWER_SHARE:
                answer = rng.choices(("1", "2", "3"), weights=REVISIT_WEIGHTS)[0]
                events.append(_ev(row.id, answered, row.sender, Action.revisit_answered, answer))
                values.update(revisit_answer=int(answer), revisit_answered_at=answered)
                last = answered
                if answer == "3":
                    events.append(_ev(row.id, answered, row.sender, Action.reopened, ""))
                    status = Status.rectifying
        if last is not None:
            updates.append({"id": row.id, "status": str(status), "updated_at": last, **_all_keys(values)})
        elif row.id in photo_ids:
            updates.append(
                {
                    "id": row.id,
                    "status": str(status),
                    "updated_at": plan.created_at + timedelta(minutes=2),
                    **_all_keys({}),
                }
            )
    session.add_all(events)
    session.flush()
    if updates:
        session.execute(update(Feedback), updates)
    return len(events)


# --- the manager's day in the demo (issue 13): who handles, the return visit, a staff roster -------------

CANTEEN_ACTORS = ("李经理", "王主管", "陈值班")
MEETING_ACTORS = ("赵主任", "孙会务")
OWNERS = ("王师傅", "刘班长", "张采购", "周保洁")
REVISIT_ANSWER_SHARE = 0.7  # of the diners asked, how many answer
REVISIT_WEIGHTS = (0.6, 0.28, 0.12)  # 满意, 基本满意, 不满意
_LOOP_KEYS = ("acknowledged_at", "acknowledged_by", "rectified_at", "revisit_asked_at", "revisit_answer",
              "revisit_answered_at")  # fmt: skip
# staff who can try 绑定 工号 姓名 in the simulator (and a duty manager for alerts)
ROSTER = (
    ("10001", "张伟", "办公室", ""),
    ("10002", "王芳", "财务处", ""),
    ("10003", "李娜", "人事处", "archivist"),
    ("10004", "刘洋", "后勤服务中心", "canteen_manager,on_duty"),
    ("10005", "陈静", "机关事务局领导", "admin"),
)


def _ev(feedback_id: int, at: datetime, actor: str, action: str, detail: str) -> FeedbackEvent:
    return FeedbackEvent(feedback_id=feedback_id, at=at, actor=actor, action=str(action), detail=detail)


def _all_keys(values: dict[str, Any]) -> dict[str, Any]:
    # a bulk UPDATE by primary key needs the same keys in every row
    return {k: values.get(k) for k in _LOOP_KEYS}


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
