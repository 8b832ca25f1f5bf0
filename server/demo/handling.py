"""The demo's handling history: each planned feedback walked along new → acknowledged → … → closed up to a
cutoff, as managers do, and written as FeedbackEvent rows and one bulk UPDATE of the feedback rows by
primary key (status, 三率 columns). Nothing here commits."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import update
from sqlmodel import Session

from feedback import service
from feedback.models import Action, Channel, Feedback, FeedbackEvent, Status
from server.demo.data import (
    CANTEEN_ACTORS,
    CANTEEN_DETAILS,
    MEETING_ACTORS,
    MEETING_DETAILS,
    OPEN_ENDED_SHARE,
    OWNERS,
    REVISIT_ANSWER_SHARE,
    REVISIT_WEIGHTS,
    UNHANDLED_SHARE,
)

# the handling columns a bulk UPDATE sets; every row of one UPDATE needs the same keys
LOOP_KEYS = ("acknowledged_at", "acknowledged_by", "rectified_at", "revisit_asked_at", "revisit_answer",
             "revisit_answered_at")  # fmt: skip


class Planned(Protocol):
    """What the walk needs of a planned feedback (server/demo/fill.py's plan)."""

    channel: Channel
    created_at: datetime
    mood: str
    score: int | None


def walk_handling(
    session: Session,
    rng: random.Random,
    rows: Sequence[tuple[Planned, service.FeedbackRow]],
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


def _ev(feedback_id: int, at: datetime, actor: str, action: str, detail: str) -> FeedbackEvent:
    return FeedbackEvent(feedback_id=feedback_id, at=at, actor=actor, action=str(action), detail=detail)


def _all_keys(values: dict[str, Any]) -> dict[str, Any]:
    # a bulk UPDATE by primary key needs the same keys in every row
    return {k: values.get(k) for k in LOOP_KEYS}
