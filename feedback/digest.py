"""The daily digest (HOUQIN_DIGEST_CRON, 08:00 by default): the previous day summed up for every Person whose
roles contain on_duty or manager: counts, CSAT with n, the lowest scores, and rectifications past due."""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import or_, select
from sqlmodel import Session, col

from core.outbox import enqueue_to
from core.settings import Settings
from feedback.alerts import ON_DUTY
from feedback.models import Action, Feedback, FeedbackEvent, Person, Status
from feedback.stats import Group

MANAGER = "manager"  # any role containing it (canteen_manager, reception_manager, manager) gets the digest
DIGEST_LOWEST = 3
_DONE = (Status.resolved, Status.closed)


def _overdue(session: Session, *, today: date) -> list[tuple[str, str, str]]:
    """Open feedback whose latest rectification deadline (期限) is before `today`: (reference, 期限, 责任人)."""
    latest: dict[int, dict[str, str]] = {}
    for ev in session.execute(
        select(FeedbackEvent)
        .join(Feedback, col(Feedback.id) == col(FeedbackEvent.feedback_id))
        .where(
            col(FeedbackEvent.action) == Action.rectification,
            col(Feedback.status).not_in([s.value for s in _DONE]),
            col(Feedback.volume_id).is_(None),
        )
        .order_by(col(FeedbackEvent.id))
    ).scalars():
        try:
            detail = json.loads(ev.detail)
        except ValueError:
            continue
        if isinstance(detail, dict):
            latest[ev.feedback_id] = detail
    found = []
    for fid, detail in latest.items():
        try:
            deadline = date.fromisoformat(str(detail.get("期限", "")))
        except ValueError:
            continue
        if deadline < today:
            fb = session.get(Feedback, fid)
            if fb is not None:
                found.append((fb.reference, str(deadline), str(detail.get("责任人", ""))))
    return sorted(found, key=lambda x: (x[1], x[0]))


def daily_digest(session: Session, *, settings: Settings, day: date) -> str:
    """The managers' summary of `day` (a local service date, normally yesterday): counts, CSAT with n,
    the lowest-scored items, and open items past their rectification deadline as of the day after."""
    rows = list(
        session.execute(
            select(Feedback).where(col(Feedback.service_date) == day, col(Feedback.misuse).is_(False))
        ).scalars()
    )
    overall = Group("合计")
    for fb in rows:
        overall.add(fb.score)
    waiting = sum(1 for fb in rows if fb.status == Status.new)
    lines = [f"【每日反馈摘要】{day}", f"反馈 {len(rows)} 条，其中待受理 {waiting} 条"]
    if overall.scored:
        lines.append(
            f"平均分 {overall.mean}，满意度 {overall.csat}%（4–5分 {overall.satisfied}/{overall.scored}，"
            f"n={overall.scored}）"
        )
    else:
        lines.append("满意度 —（n=0）")
    lowest = sorted(
        (fb for fb in rows if fb.score is not None), key=lambda fb: (fb.score, fb.created_at, fb.id or 0)
    )[:DIGEST_LOWEST]
    if lowest:
        lines.append("评分最低：")
        lines.extend(f"· {fb.reference} {fb.score}分 {fb.comment[:40]}" for fb in lowest)
    overdue = _overdue(session, today=day + timedelta(days=1))
    if overdue:
        lines.append(f"整改逾期 {len(overdue)} 条：")
        lines.extend(f"· {ref} 期限{deadline} 责任人{owner}" for ref, deadline, owner in overdue[:10])
        if len(overdue) > 10:
            lines.append(f"……另有 {len(overdue) - 10} 条，请在控制台查看")
    else:
        lines.append("整改逾期：无")
    return "\n".join(lines)


def digest_recipients(session: Session) -> list[Person]:
    """Everyone whose roles contain on_duty or manager, with a WeChat identity."""
    people = session.execute(
        select(Person)
        .where(or_(col(Person.roles).contains(ON_DUTY), col(Person.roles).contains(MANAGER)))
        .order_by(col(Person.id))
    ).scalars()
    return [p for p in people if p.wecom_userid or p.openid]


def queue_daily_digest(session: Session, *, settings: Settings, day: date) -> int:
    """Queue `day`'s digest to every recipient (once each: deduped per day and person); returns how many."""
    text = daily_digest(session, settings=settings, day=day)
    n = 0
    for person in digest_recipients(session):
        queued = enqueue_to(
            session,
            wecom_userid=person.wecom_userid,
            openid=person.openid,
            text=text,
            dedupe_key=f"digest:{day}:{person.id}",
        )
        n += queued is not None and queued is not False
    return n
