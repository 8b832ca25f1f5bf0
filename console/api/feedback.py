"""`/api/v1/feedback`: the inbox a page at a time (the page's filters and quick tabs), one feedback with its
history, media, reply window and deliveries, the handling actions, and bulk acknowledge or close."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select
from sqlmodel import Session, col

from console import inputs, texts
from console.auth import check_csrf
from console.delivery import deliveries
from console.deps import CsrfHeader, DbSession, Manager, SettingsDep
from console.queries import feedback as shared
from console.queries.inbox import InboxFilters
from console.schemas import (
    ActionIn,
    ActionOut,
    BulkIn,
    BulkOut,
    DeliveryOut,
    EventOut,
    FeedbackDetail,
    FeedbackOut,
    FeedbackPage,
    MediaOut,
    ReplyWindowOut,
)
from core.clock import utcnow
from feedback import review, worklist
from feedback.alerts import alert_reason
from feedback.models import Feedback, FeedbackMedia, Meal, Meeting, Status
from feedback.service import ArchivedError, pseudonym
from feedback.vocabulary import MEAL_LABELS, STATUS_LABELS

router = APIRouter()


def feedback_fields(
    fb: Feedback, sites: dict[int | None, str], mtgs: dict[int | None, Meeting]
) -> dict[str, Any]:
    """A feedback as FeedbackOut's fields, its canteen and meeting named from the given maps."""
    m = mtgs.get(fb.meeting_id) if fb.meeting_id else None
    return {
        "id": fb.id,
        "reference": fb.reference,
        "channel": fb.channel,
        "source": fb.source,
        "site": sites.get(fb.site_id) if fb.site_id else None,
        "table_no": fb.table_no,
        "meeting": m.title if m else None,
        "meeting_code": m.code if m else None,
        "meal": fb.meal,
        "meal_label": MEAL_LABELS.get(Meal(fb.meal)) if fb.meal else None,
        "service_date": fb.service_date,
        "score": fb.score,
        "comment": fb.comment,
        "topics": [t for t in fb.topics.split(",") if t],
        "status": fb.status,
        "status_label": STATUS_LABELS.get(Status(fb.status), fb.status),
        "alert": alert_reason(score=fb.score, comment=fb.comment) if fb.status == Status.new else None,
        "archived": fb.volume_id is not None,
        "created_at": fb.created_at,
        "updated_at": fb.updated_at,
        # the deadlines, whether it is past them (shown red), and the return-visit answer
        **worklist.loop_fields(fb, now=utcnow()),
    }


def feedback_out(db: Session, fb: Feedback) -> FeedbackOut:
    """One feedback as the inbox lists it."""
    return FeedbackOut(**feedback_fields(fb, shared.site_names(db), shared.meetings_by_id(db)))


@router.get("/feedback", response_model=FeedbackPage, tags=["feedback"])
def list_feedback(
    db: DbSession,
    who: Manager,
    settings: SettingsDep,
    start: date | None = None,
    end: date | None = None,
    site: Annotated[int | None, Query(ge=1, le=inputs.MAX_ID)] = None,
    meeting: Annotated[int | None, Query(ge=1, le=inputs.MAX_ID)] = None,
    meal: Meal | None = None,
    score: Annotated[
        str | None, Query(pattern=r"^([1-5]|none)$", description="1–5, or `none` (unscored)")
    ] = None,
    status: Status | None = None,
    topic: str | None = None,
    q: Annotated[str | None, Query(description="full-text search of comments")] = None,
    sort: Literal["new", "low"] = "new",
    tab: Annotated[
        str | None,
        Query(
            description="a quick tab (`pending` 待处理, `alerts_unacked` 预警未受理, `rectify_overdue` 整改逾期, `today` 今天) "
            "or a 今日待办 line (`ack_overdue`, `rectify_due_today`, `lowest_yesterday`)"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="`next_cursor` or `prev_cursor` of a page")] = None,
) -> FeedbackPage:
    """The inbox with the same filters and tabs as the console (canteen managers see the canteen, reception
    managers meetings), a page at a time: each page's `next_cursor` fetches the next."""
    filters = InboxFilters(
        start=start,
        end=end,
        site=site,
        meeting=meeting,
        meal=meal.value if meal else None,
        score=score or None,
        status=status.value if status else None,
        topic=topic or None,
        q=q or None,
        tab=tab or None,
        sort=sort,
    )
    page = shared.inbox(db, who, filters, settings=settings, limit=limit, cursor=cursor)
    sites, mtgs = shared.site_names(db), shared.meetings_by_id(db)
    return FeedbackPage(
        total=page.total,
        items=[FeedbackOut(**feedback_fields(fb, sites, mtgs)) for fb in page.rows],
        next_cursor=page.next_cursor,
        prev_cursor=page.prev_cursor,
    )


@router.get("/feedback/{feedback_id}", response_model=FeedbackDetail, tags=["feedback"])
def get_feedback(
    feedback_id: inputs.IdPath, db: DbSession, who: Manager, settings: SettingsDep
) -> FeedbackDetail:
    """One feedback with its event trail, media and reply window."""
    fb = shared.visible(db, who, feedback_id)
    sites, mtgs = shared.site_names(db), shared.meetings_by_id(db)
    window = review.reply_window(db, fb=fb)
    events = [
        EventOut(
            at=e.at,
            actor=e.actor if e.action != "diner_added" else texts.DINER,
            action=e.action,
            action_label=texts.ACTION_NAMES.get(e.action, e.action),
            detail=e.detail,
        )
        for e in review.history(db, feedback_id=feedback_id)
    ]
    media = [
        MediaOut(
            id=m.id or 0,
            kind=m.kind,
            recognition=m.recognition,
            url=f"/console/media/{m.id}" if m.local_path else None,
        )
        for m in db.execute(select(FeedbackMedia).where(col(FeedbackMedia.feedback_id) == fb.id)).scalars()
    ]
    return FeedbackDetail(
        **feedback_fields(fb, sites, mtgs),
        pseudonym=pseudonym(fb.sender, secret=settings.pseudonym_secret),
        events=events,
        media=media,
        reply_window=ReplyWindowOut(deliverable=window.deliverable, closes_at=window.window_closes),
        allowed_actions=sorted(review.allowed_actions(fb)),
        deliveries=[
            DeliveryOut(
                at=d.at,
                text=d.text,
                state=cast(Any, d.state),
                state_label=texts.DELIVERY[d.state],
                sent_at=d.sent_at,
            )
            for d in deliveries(db, fb)
        ],
    )


@router.post("/feedback/bulk", response_model=BulkOut, tags=["feedback"])
def bulk_feedback(body: BulkIn, db: DbSession, who: Manager, x_csrf_token: CsrfHeader = None) -> BulkOut:
    """Acknowledge or close the given feedbacks; archived ones and other roles' are skipped."""
    check_csrf(who, x_csrf_token)
    mine = shared.visible_ids(db, who, body.ids)
    n = review.bulk(db, feedback_ids=mine, actor=who.user.display_name, action=body.action)
    db.commit()
    return BulkOut(changed=n)


@router.post(
    "/feedback/{feedback_id}/actions/{action}",
    response_model=ActionOut,
    tags=["feedback"],
    responses={
        404: {"description": "no such feedback (for this role)"},
        409: {"description": "archived: read-only"},
        422: {"description": "the action cannot be taken (message says why)"},
    },
)
def feedback_action(
    feedback_id: inputs.IdPath,
    action: Literal["acknowledge", "reply", "rectification", "resolve", "close"],
    db: DbSession,
    who: Manager,
    settings: SettingsDep,
    body: ActionIn | None = None,
    x_csrf_token: CsrfHeader = None,
) -> ActionOut:
    """受理, 回复 (to the diner through the outbox, within WeChat's 48 h window), 整改, 已整改, 办结."""
    check_csrf(who, x_csrf_token)
    shared.visible(db, who, feedback_id)
    values = (body or ActionIn()).model_dump()
    try:
        msg = shared.run_action(
            db,
            feedback_id=feedback_id,
            action=action,
            actor=who.user.display_name,
            values=values,
            template_id=settings.wechat_reply_template_id,
        )
    except ArchivedError as exc:
        db.rollback()
        raise HTTPException(409, texts.ARCHIVED) from exc
    except review.ReviewError as exc:
        db.rollback()
        raise HTTPException(422, str(exc)) from exc
    db.commit()
    fb = db.get(Feedback, feedback_id)
    assert fb is not None
    return ActionOut(message=msg, feedback=feedback_out(db, fb))
