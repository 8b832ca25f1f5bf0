"""Alerts: a score of 1–2 or a food-safety word (食品安全) alerts the on-duty managers at once through the
outbox. Checked in the message path, so it is a cheap test first and a query only when it fires."""

from __future__ import annotations

from sqlmodel import Session

from core.fastsql import Sql
from core.outbox import enqueue
from feedback.models import Person

ON_DUTY = "on_duty"  # a Person role: managers who get alerts at once

FOOD_SAFETY_WORDS = (
    "异物",
    "变质",
    "发霉",
    "拉肚子",
    "腹泻",
    "食物中毒",
    "呕吐",
    "头发",
    "虫子",
    "馊",
    "过期",
)
_ON_DUTY = Sql("SELECT id, openid, wecom_userid FROM person WHERE roles LIKE :pattern")
ALERT_TEXT = "【反馈预警】{ref} {why}\n{comment}\n请尽快在控制台处理。"


def alert_reason(
    *, score: int | None, comment: str, words: tuple[str, ...] = FOOD_SAFETY_WORDS
) -> str | None:
    """Why a feedback needs attention now, or None."""
    found = [w for w in words if w in comment]
    if found:
        return "涉及食品安全：" + "、".join(found)
    if score is not None and score <= 2:
        return f"低分（{score}分）"
    return None


def alert_on_duty(session: Session, *, reference: str, reason: str, comment: str) -> int:
    """Queue the alert to every on-duty manager who has a WeChat identity; returns how many."""
    # raw SQL: this runs on the message path for every low score
    rows = _ON_DUTY.run(session, pattern=f"%{ON_DUTY}%").fetchall()
    n = 0
    for person in (Person(id=r[0], openid=r[1], wecom_userid=r[2]) for r in rows):
        text = ALERT_TEXT.format(ref=reference, why=reason, comment=comment[:200])
        if person.wecom_userid:
            enqueue(
                session,
                to_user=person.wecom_userid,
                text=text,
                app="wecom",
                dedupe_key=f"alert:{reference}:{person.id}",
            )
        elif person.openid:
            enqueue(
                session,
                to_user=person.openid,
                text=text,
                app="mp",
                dedupe_key=f"alert:{reference}:{person.id}",
            )
        else:
            continue
        n += 1
    return n
