"""What became of the messages sent to a diner about one feedback: the outbox rows (queued, sent, failed
and retrying, undeliverable) matched by recipient and the feedback's reference number in the text, and
the replies that never entered the outbox (outside WeChat's 48-hour window, no template)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from core.models import Outbox
from feedback.models import Action, Feedback, FeedbackEvent


@dataclass
class Delivery:
    """One outbound message to the diner and its state (a key of console.texts.DELIVERY)."""

    at: datetime
    text: str
    state: str
    sent_at: datetime | None = None
    error: str = ""


def _text(row: Outbox) -> str:
    if row.kind == "template":
        try:
            data = json.loads(row.payload).get("data", {})
        except ValueError:
            return row.payload
        return "；".join(str(v.get("value", "")) for v in data.values() if isinstance(v, dict))
    return row.payload


def _state(row: Outbox) -> str:
    if row.status == "sent":
        return "sent"
    if row.status == "undeliverable":
        return "undeliverable"
    return "retrying" if row.last_error else "queued"


def deliveries(session: Session, fb: Feedback) -> list[Delivery]:
    """The outbox rows addressed to this feedback's diner that name its reference, oldest first; and each
    reply that was recorded without being queued."""
    exact = re.compile(re.escape(fb.reference) + r"(?!\d)")
    rows = [
        r
        for r in session.execute(
            select(Outbox)
            .where(col(Outbox.to_user) == fb.sender, col(Outbox.payload).contains(fb.reference))
            .order_by(col(Outbox.id))
        ).scalars()
        if exact.search(r.payload)
    ]
    out = [Delivery(r.created_at, _text(r), _state(r), r.sent_at, r.last_error or "") for r in rows]
    queued_texts = [d.text for d in out]
    replies = session.execute(
        select(FeedbackEvent).where(
            col(FeedbackEvent.feedback_id) == fb.id, col(FeedbackEvent.action) == Action.replied
        )
    ).scalars()
    for e in replies:
        if not any(e.detail in t for t in queued_texts):
            out.append(Delivery(e.at, e.detail, "not_queued"))
    out.sort(key=lambda d: d.at.replace(tzinfo=None))
    return out
