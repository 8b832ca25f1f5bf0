"""Managers' actions on feedback: acknowledge, reply to the diner, record the rectification (整改), resolve,
close, and acknowledge or close in bulk — each recorded as a FeedbackEvent with actor and time; archived
feedback refuses them all. Also what a feedback's state allows (`allowed_actions`, `check_allowed`) and its
event trail.

A reply goes to the diner through the outbox as a customer-service message, which WeChat accepts only
within 48 hours of the diner's last message: past that the reply is recorded but marked undeliverable,
unless a reply template (HOUQIN_WECHAT_REPLY_TEMPLATE_ID) is configured and the diner is an Official Account
user (not WeCom, not an anonymous form): then it goes as a template message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from core.clock import utcnow
from core.outbox import enqueue, enqueue_template
from feedback import revisit
from feedback.models import Action, Feedback, FeedbackEvent, InboundMessage, Status
from feedback.service import ArchivedError

CS_WINDOW = timedelta(hours=48)
ORDER = [Status.new, Status.acknowledged, Status.rectifying, Status.resolved, Status.closed]
REPLY_PREFIX = "【后勤服务回复】您的反馈 {ref}：\n"
TEMPLATE_FIRST = "【后勤服务回复】您的反馈有了回复"
TEMPLATE_REMARK = "感谢您对后勤服务的关心和支持。"


class ReviewError(Exception):
    """An action that cannot be taken; the message is for the manager."""


@dataclass
class ReplyResult:
    """Whether a reply can reach the diner, and until when it could have."""

    deliverable: bool
    window_closes: datetime | None
    via_template: bool = False  # past the window, queued as a template message instead


def _editable(session: Session, feedback_id: int) -> Feedback:
    fb = session.get(Feedback, feedback_id)
    if fb is None:
        raise ReviewError("没有这条反馈")
    if fb.volume_id is not None:
        raise ArchivedError(fb.reference)
    return fb


def _event(session: Session, fb: Feedback, *, actor: str, action: str, detail: str = "") -> None:
    session.add(FeedbackEvent(feedback_id=fb.id, actor=actor, action=action, detail=detail))  # type: ignore[arg-type]
    fb.updated_at = utcnow()
    session.add(fb)


def _advance(fb: Feedback, to: Status) -> None:
    if ORDER.index(Status(fb.status)) < ORDER.index(to):
        fb.status = to


def acknowledge(session: Session, *, feedback_id: int, actor: str) -> Feedback:
    """Mark a feedback as seen (已受理)."""
    fb = _editable(session, feedback_id)
    if fb.status == Status.new:
        fb.status = Status.acknowledged
        _event(session, fb, actor=actor, action=Action.acknowledged)
    _first_receipt(fb, actor)
    return fb


# --- the 三率 clock (issue 13): first acknowledgement (首接负责) and rectification, kept on the row --------


def _first_receipt(fb: Feedback, actor: str, now: datetime | None = None) -> None:
    """The first acknowledgement owns the case: remember when and who (响应率, per manager)."""
    if fb.acknowledged_at is None:
        fb.acknowledged_at = now or utcnow()
        fb.acknowledged_by = actor[:128]


def _rectified(fb: Feedback, now: datetime | None = None) -> None:
    """When the problem was first marked rectified (解决率)."""
    if fb.rectified_at is None:
        fb.rectified_at = now or utcnow()


def last_message_at(session: Session, *, sender: str) -> datetime | None:
    """When the diner last wrote to us (the start of WeChat's 48-hour customer-service window)."""
    return session.execute(
        select(func.max(InboundMessage.received_at)).where(col(InboundMessage.sender) == sender)
    ).scalar_one_or_none()


def reply_window(session: Session, *, fb: Feedback, now: datetime | None = None) -> ReplyResult:
    """Whether a customer-service message can still reach this diner."""
    last = last_message_at(session, sender=fb.sender)
    if last is None:
        return ReplyResult(False, None)
    closes = last + CS_WINDOW
    return ReplyResult(closes > (now or utcnow()), closes)


def reply(
    session: Session,
    *,
    feedback_id: int,
    actor: str,
    text: str,
    now: datetime | None = None,
    template_id: str = "",
) -> ReplyResult:
    """Reply to the diner: recorded always, queued to WeChat when inside the 48-hour window, and past it
    as a template message when `template_id` is given (Official Account diners only)."""
    text = text.strip()
    if not text:
        raise ReviewError("回复内容不能为空")
    if len(text) > 600:
        raise ReviewError("回复内容请控制在600字以内")
    fb = _editable(session, feedback_id)
    window = reply_window(session, fb=fb, now=now)
    _advance(fb, Status.acknowledged)
    _first_receipt(fb, actor, now)
    _event(session, fb, actor=actor, action=Action.replied, detail=text)
    if window.deliverable:
        app = "wecom" if fb.source == "wecom" else "mp"
        enqueue(session, to_user=fb.sender, text=REPLY_PREFIX.format(ref=fb.reference) + text, app=app)
    elif template_id and fb.source not in ("wecom", "h5"):  # h5: an anonymous device has no openid
        enqueue_template(
            session,
            to_user=fb.sender,
            template_id=template_id,
            data={
                "first": TEMPLATE_FIRST,
                "keyword1": fb.reference,
                "keyword2": text,
                "remark": TEMPLATE_REMARK,
            },
        )
        return ReplyResult(False, window.window_closes, via_template=True)
    return window


def record_rectification(
    session: Session,
    *,
    feedback_id: int,
    actor: str,
    measure: str,
    owner: str,
    deadline: str,
    progress: str = "",
) -> Feedback:
    """Record the rectification (整改): 措施, 责任人, 期限, 完成情况."""
    if not measure.strip() or not owner.strip():
        raise ReviewError("整改措施和责任人不能为空")
    fb = _editable(session, feedback_id)
    _advance(fb, Status.rectifying)
    detail = json.dumps(
        {"措施": measure.strip(), "责任人": owner.strip(), "期限": deadline, "完成情况": progress.strip()},
        ensure_ascii=False,
    )
    _event(session, fb, actor=actor, action=Action.rectification, detail=detail)
    return fb


def resolve(session: Session, *, feedback_id: int, actor: str, note: str = "") -> Feedback:
    """Mark the problem as rectified (已整改)."""
    fb = _editable(session, feedback_id)
    _advance(fb, Status.resolved)
    _rectified(fb)
    _event(session, fb, actor=actor, action=Action.resolved, detail=note)
    return fb


def close(
    session: Session,
    *,
    feedback_id: int,
    actor: str,
    note: str = "",
    template_id: str = "",
    now: datetime | None = None,
) -> Feedback:
    """Close the loop (已办结): from then on the feedback waits to be bound into a volume; a score ≤ 3 or
    an alert gets its return visit (回访) queued (feedback.revisit.ask)."""
    fb = _editable(session, feedback_id)
    now = now or utcnow()
    fb.status = Status.closed
    _first_receipt(fb, actor, now)
    _rectified(fb, now)
    _event(session, fb, actor=actor, action=Action.closed, detail=note)
    session.flush()
    revisit.ask(session, feedback=fb, actor=actor, now=now, template_id=template_id)
    return fb


BULK_ACTIONS = ("acknowledge", "close")


def bulk(session: Session, *, feedback_ids: list[int], actor: str, action: str) -> int:
    """Acknowledge or close many at once; archived, closed (and, to acknowledge, already acknowledged)
    ones are skipped. Returns how many changed."""
    fn = {"acknowledge": acknowledge, "close": close}.get(action)
    if fn is None:
        raise ReviewError("批量操作只支持受理和办结")
    done = 0
    for fid in feedback_ids:
        fb = session.get(Feedback, fid)
        if fb is None or action not in allowed_actions(fb):
            continue  # closed or archived already: nothing to do
        try:
            fn(session, feedback_id=fid, actor=actor)
            done += 1
        except (ArchivedError, ReviewError):
            continue
    return done


def history(session: Session, *, feedback_id: int) -> list[FeedbackEvent]:
    """The feedback's event trail, oldest first."""
    return list(
        session.execute(
            select(FeedbackEvent)
            .where(col(FeedbackEvent.feedback_id) == feedback_id)
            .order_by(col(FeedbackEvent.id))
        ).scalars()
    )


# --- what the state allows (issue 13: the detail page offers only these; check_allowed refuses the rest) ---

ACTION_VERBS = {
    "acknowledge": "受理",
    "reply": "回复",
    "rectification": "记录整改",
    "resolve": "标记已整改",
    "close": "办结",
}


def allowed_actions(fb: Feedback) -> frozenset[str]:
    """The handling actions the feedback's state allows: none once closed (办结) or archived."""
    if fb.volume_id is not None or fb.status == Status.closed:
        return frozenset()
    allowed = {"reply", "close"}
    if fb.status == Status.new:
        allowed.add("acknowledge")
    if fb.status in (Status.new, Status.acknowledged, Status.rectifying):
        allowed |= {"rectification", "resolve"}
    return frozenset(allowed)


def check_allowed(fb: Feedback, action: str, status_label: str) -> None:
    """Refuse an action the state does not allow (a stale page, a script), saying why."""
    if action in ACTION_VERBS and action not in allowed_actions(fb):
        if fb.volume_id is not None:
            raise ArchivedError(fb.reference)
        raise ReviewError(f"该反馈当前为「{status_label}」，不能再{ACTION_VERBS[action]}")


def has_event(session: Session, *, feedback_id: int, action: str) -> bool:
    """Whether the feedback's history holds an event of this kind (a reply, a rectification)."""
    return (
        session.execute(
            select(col(FeedbackEvent.id)).where(
                col(FeedbackEvent.feedback_id) == feedback_id, col(FeedbackEvent.action) == action
            )
        ).first()
        is not None
    )
