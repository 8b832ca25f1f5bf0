"""The feedback jobs the scheduler runs (server/scheduler.py): escalation, the managers' daily digest and
the media fetch.

Escalation (督办): an open feedback past its acknowledge or rectify deadline (HOUQIN_SLA) goes once, through
the outbox, to the supervising people: HOUQIN_ESCALATE_TO (staff numbers, WeCom userids or openids of
Persons, comma-separated), or every Person whose roles contain admin. Each item is escalated once
(`escalated_at`, an `escalated` event naming whom); the scheduler claims each run's slot, a local minute.
The digest (feedback/digest.py) is claimed per local day; the media fetch (feedback/media.py) runs every
30 seconds with no claim row.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine, and_, or_, select
from sqlmodel import Session, col

from core.clock import utcnow
from core.outbox import enqueue_to
from core.settings import Settings
from feedback.digest import queue_daily_digest
from feedback.media import MediaCounts, fetch_pending
from feedback.models import Action, Feedback, FeedbackEvent, Person, Status

ADMIN = "admin"
BATCH = 500
ESCALATE_TEXT = "【督办】反馈 {ref} 已超过{what}期限（{due}），仍未处理：{comment}\n请督促在控制台处理。"
WHAT_ACK = "受理"
WHAT_RECTIFY = "整改"
_OPEN = (Status.new.value, Status.acknowledged.value, Status.rectifying.value)


def supervisors(session: Session, *, escalate_to: str) -> list[Person]:
    """Who gets overdue items: the Persons HOUQIN_ESCALATE_TO names, or the admins."""
    names = [n.strip() for n in escalate_to.split(",") if n.strip()]
    query = select(Person).order_by(col(Person.id))
    if names:
        query = query.where(
            or_(
                col(Person.staff_no).in_(names),
                col(Person.wecom_userid).in_(names),
                col(Person.openid).in_(names),
            )
        )
    else:
        query = query.where(col(Person.roles).contains(ADMIN))
    return [p for p in session.execute(query).scalars() if p.wecom_userid or p.openid]


def overdue(session: Session, *, now: datetime, limit: int = BATCH) -> list[Feedback]:
    """Open feedback past a deadline and not escalated yet, oldest deadline first."""
    late_ack = and_(col(Feedback.status) == Status.new, col(Feedback.ack_due_at) < now)
    late_fix = and_(col(Feedback.status).in_(_OPEN), col(Feedback.rectify_due_at) < now)
    return list(
        session.execute(
            select(Feedback)
            .where(
                col(Feedback.escalated_at).is_(None), col(Feedback.misuse).is_(False), or_(late_ack, late_fix)
            )
            .order_by(col(Feedback.id))
            .limit(limit)
        ).scalars()
    )


def escalate(session: Session, *, settings: Settings, now: datetime) -> int:
    """Queue each overdue item to the supervisors once; returns how many items were escalated."""
    people = supervisors(session, escalate_to=settings.escalate_to)
    n = 0
    for fb in overdue(session, now=now):
        assert fb.id is not None
        ack_late = fb.status == Status.new and fb.ack_due_at is not None and _aware(fb.ack_due_at) < now
        due = fb.ack_due_at if ack_late else fb.rectify_due_at
        assert due is not None
        text = ESCALATE_TEXT.format(
            ref=fb.reference,
            what=WHAT_ACK if ack_late else WHAT_RECTIFY,
            due=_aware(due).astimezone(settings.tz).strftime("%m-%d %H:%M"),
            comment=fb.comment[:80] or f"{fb.score}分",
        )
        sent_to = []
        for person in people:
            queued = enqueue_to(
                session,
                wecom_userid=person.wecom_userid,
                openid=person.openid,
                text=text,
                dedupe_key=f"escalate:{fb.id}:{person.id}",
            )
            if queued is not False:
                sent_to.append(person.name or str(person.id))
        fb.escalated_at = now
        session.add(fb)
        session.add(
            FeedbackEvent(
                feedback_id=fb.id,
                at=now,
                actor="system",
                action=Action.escalated,
                detail="、".join(sent_to) or "无督办人（未配置 HOUQIN_ESCALATE_TO，也没有管理员的微信身份）",
            )
        )
        n += 1
    session.flush()
    return n


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def escalate_job(engine: Engine, *, settings: Settings, period: str) -> dict[str, int]:
    """The scheduler's body for one slot (`period`, a local minute): escalate what is overdue now."""
    with Session(engine) as session:
        n = escalate(session, settings=settings, now=utcnow())
        session.commit()
    return {"escalated": n}


def digest_job(engine: Engine, *, settings: Settings, period: str) -> dict[str, int]:
    """The scheduler's body for one day (`period`, YYYY-MM-DD): queue that day's digest to the managers."""
    with Session(engine) as session:
        n = queue_daily_digest(session, settings=settings, day=date.fromisoformat(period))
        session.commit()
    return {"queued": n}


def media_job(engine: Engine, *, settings: Settings) -> MediaCounts:
    """The scheduler's 30-second body: download the attachments not yet in DATA_DIR."""
    return fetch_pending(engine, settings=settings)
