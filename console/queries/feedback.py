"""Feedback as the console's pages and API both handle it: which feedback a role sees, the inbox page for
a role, the canteens and meetings named beside each feedback, and the handling actions by name."""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy import select
from sqlmodel import Session

from console import texts
from console.auth import Principal
from console.queries.inbox import PAGE_SIZE, InboxFilters, InboxPage, inbox_page
from core.settings import Settings
from feedback import review
from feedback.models import Feedback, Meeting, Site, Status
from feedback.vocabulary import STATUS_LABELS


def channel_of(who: Principal) -> str | None:
    """Which feedback a role sees: canteen managers the canteen, reception managers meetings."""
    return {"canteen_manager": "canteen", "reception_manager": "meeting"}.get(who.user.role)


def visible(db: Session, who: Principal, feedback_id: int) -> Feedback:
    """The feedback, if the caller's role sees it; else 404 (another channel's feedback does not exist)."""
    fb = db.get(Feedback, feedback_id)
    if fb is None or (channel_of(who) not in (None, fb.channel)):
        raise HTTPException(404, texts.NO_FEEDBACK)
    return fb


def visible_ids(db: Session, who: Principal, ids: list[int]) -> list[int]:
    """The ids among these that exist and the caller's role sees, in the given order."""
    channel = channel_of(who)
    return [i for i in ids if (fb := db.get(Feedback, i)) is not None and channel in (None, fb.channel)]


def inbox(
    db: Session,
    who: Principal,
    filters: InboxFilters,
    *,
    settings: Settings,
    limit: int = PAGE_SIZE,
    cursor: str | None = None,
) -> InboxPage:
    """The inbox query (the role's channel, the filters, the quick tab): one keyset page and the total."""
    return inbox_page(db, filters, channel=channel_of(who), settings=settings, limit=limit, cursor=cursor)


def site_names(db: Session) -> dict[int | None, str]:
    """Every canteen's name by id."""
    return {s.id: s.name for s in db.execute(select(Site)).scalars()}


def meetings_by_id(db: Session) -> dict[int | None, Meeting]:
    """Every meeting by id."""
    return {m.id: m for m in db.execute(select(Meeting)).scalars()}


def run_action(
    db: Session,
    *,
    feedback_id: int,
    action: str,
    actor: str,
    values: dict[str, str],
    template_id: str = "",
) -> str:
    """Dispatch an action by name (shared by the pages and the API); returns a message for the person.
    An action the feedback's state does not allow (after 办结, when archived) is refused."""
    fb = db.get(Feedback, feedback_id)
    if fb is not None:
        review.check_allowed(fb, action, STATUS_LABELS.get(Status(fb.status), fb.status))
    if action == "acknowledge":
        review.acknowledge(db, feedback_id=feedback_id, actor=actor)
        return texts.ACKNOWLEDGED
    if action == "reply":
        window = review.reply(
            db, feedback_id=feedback_id, actor=actor, text=values.get("text", ""), template_id=template_id
        )
        if window.deliverable:
            return texts.REPLY_QUEUED
        if window.via_template:
            return texts.REPLY_QUEUED_TEMPLATE
        return texts.REPLY_UNDELIVERABLE
    if action == "rectification":
        review.record_rectification(
            db,
            feedback_id=feedback_id,
            actor=actor,
            measure=values.get("measure", ""),
            owner=values.get("owner", ""),
            deadline=values.get("deadline", ""),
            progress=values.get("progress", ""),
        )
        return texts.RECTIFICATION_RECORDED
    if action == "resolve":
        review.resolve(db, feedback_id=feedback_id, actor=actor)
        return texts.RESOLVED
    if action == "close":
        review.close(db, feedback_id=feedback_id, actor=actor, template_id=template_id)
        return texts.CLOSED
    raise HTTPException(404)
