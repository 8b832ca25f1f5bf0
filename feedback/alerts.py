"""Alerts: a score of 1–2 or a food-safety word (食品安全) alerts the on-duty managers at once through the
outbox. Checked in the message path, so it is a cheap test first and a query only when it fires (an ingest
batch reads the on-duty list once: ingest.store.Store.on_duty). The nightly digest is feedback.digest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import select
from sqlmodel import Session, col

from core.outbox import enqueue_to
from feedback.models import Person
from feedback.vocabulary import food_safety_words

ON_DUTY = "on_duty"  # a Person role: managers who get alerts at once

ALERT_TEXT = "【反馈预警】{ref} {why}\n{comment}\n请尽快在控制台处理。"


def alert_reason(*, score: int | None, comment: str) -> str | None:
    """Why a feedback needs attention now, or None (food-safety and symptom words: feedback.vocabulary)."""
    found = food_safety_words(comment)
    if found:
        return "涉及食品安全：" + "、".join(found)
    if score is not None and score <= 2:
        return f"低分（{score}分）"
    return None


class OnDuty(NamedTuple):
    """An on-duty manager's WeChat identities."""

    person_id: int
    openid: str | None
    wecom_userid: str | None


def on_duty(session: Session) -> list[OnDuty]:
    """Everyone whose roles contain on_duty."""
    query = select(col(Person.id), col(Person.openid), col(Person.wecom_userid)).where(
        col(Person.roles).like(f"%{ON_DUTY}%")
    )
    return [OnDuty(int(r.id), r.openid, r.wecom_userid) for r in session.execute(query)]


def alert_on_duty(
    session: Session, *, recipients: Sequence[OnDuty], reference: str, reason: str, comment: str
) -> int:
    """Queue the alert to each of `recipients` (see `on_duty`) who has a WeChat identity; returns how many."""
    n = 0
    text = ALERT_TEXT.format(ref=reference, why=reason, comment=comment[:200])
    for person in recipients:
        key = f"alert:{reference}:{person.person_id}"
        queued = enqueue_to(
            session, wecom_userid=person.wecom_userid, openid=person.openid, text=text, dedupe_key=key
        )
        if queued is not False:
            n += 1
    return n
