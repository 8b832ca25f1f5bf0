"""The return visit (回访): the diner's answer to 「对处理结果：1 满意 2 基本满意 3 不满意」 on a closed feedback.

Asking: when a feedback with a score ≤ 3, or any alert, is closed (feedback.review.close), the diner gets
the rectification in one sentence and the question through the outbox: a customer-service message inside
WeChat's 48-hour window, a template message past it when one is configured (not to WeCom users), otherwise
the ask is recorded as undeliverable; demo feedback is never asked. An anonymous form diner (source h5, a
device token: no openid to send to) gets the question in 「我的反馈」 only, recorded as such (VIA_MINE),
never queued as a message nobody can receive. Answering: this module records the
answer, from the chat (handlers/revisit.py) or from 「我的反馈」 (h5/routes.py), the same way.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from core.outbox import enqueue, enqueue_template
from feedback.alerts import alert_reason
from feedback.models import Action, Feedback, FeedbackEvent, InboundMessage, Revisit, Status

REVISIT_MAX_SCORE = 3  # a closed feedback scored this or lower (or any alert) gets a return visit
CS_WINDOW = timedelta(hours=48)
QUESTION = "对处理结果：1 满意 2 基本满意 3 不满意"
ASK_TEXT = "【回访】您的反馈 {ref} {done}\n" + QUESTION + "\n请直接回复数字 1、2 或 3。"
DONE_MEASURE = "已整改：{measure}。"
DONE_REPLY = "已处理：{reply}"
DONE_CLOSED = "已办结。"
ASK_TEMPLATE_FIRST = "【回访】您的反馈已处理完毕"
VIA_CS = "客服消息"
VIA_TEMPLATE = "模板消息"
VIA_NONE = "无法送达：已超过48小时客服窗口且未配置模板消息"
VIA_MINE = "在「我的反馈」中提问（匿名表单用户，无法接收消息）"
ANONYMOUS = "h5"  # Feedback.source of an anonymous form diner (h5.identity: a signed device token)
THANKS = {
    Revisit.satisfied: "感谢您的评价（满意），欢迎继续提出意见。",
    Revisit.mostly: "感谢您的评价（基本满意），我们会继续改进。",
    Revisit.unsatisfied: "感谢您的评价（不满意）。已重新交给管理员处理，我们会尽快与您联系。",
}


class RevisitError(Exception):
    """A return-visit answer that cannot be taken; the message is for the diner."""


def record_answer(
    session: Session, *, feedback: Feedback, answer: Revisit, actor: str, now: datetime
) -> Feedback:
    """Store the diner's answer; 不满意 reopens the feedback for the manager (back to 整改中)."""
    if feedback.revisit_asked_at is None:
        raise RevisitError("这条反馈没有待回答的回访")
    if feedback.volume_id is not None:
        raise RevisitError("这条反馈已归档，回访已结束")
    assert feedback.id is not None
    feedback.revisit_answer = int(answer.value)
    feedback.revisit_answered_at = now
    feedback.updated_at = now
    session.add(
        FeedbackEvent(
            feedback_id=feedback.id, at=now, actor=actor, action=Action.revisit_answered, detail=answer.value
        )
    )
    if answer is Revisit.unsatisfied:
        feedback.status = Status.rectifying
        session.add(
            FeedbackEvent(feedback_id=feedback.id, at=now, actor=actor, action=Action.reopened, detail="")
        )
    session.add(feedback)
    session.flush()
    return feedback


def wants_revisit(feedback: Feedback) -> bool:
    """A score ≤ 3 or an alert (food safety or a low score) earns a return visit when closed."""
    low = feedback.score is not None and feedback.score <= REVISIT_MAX_SCORE
    return low or alert_reason(score=feedback.score, comment=feedback.comment) is not None


def _one_sentence(session: Session, feedback: Feedback) -> str:
    """The handling in one sentence: the latest rectification's 措施, else the latest reply, else 已办结."""
    events = session.execute(
        select(FeedbackEvent)
        .where(
            col(FeedbackEvent.feedback_id) == feedback.id,
            col(FeedbackEvent.action).in_([Action.rectification, Action.replied]),
        )
        .order_by(col(FeedbackEvent.id).desc())
    ).scalars()
    reply = ""
    for ev in events:
        if ev.action == Action.rectification:
            try:
                measure = str(json.loads(ev.detail).get("措施", "")).strip()
            except (ValueError, AttributeError):
                measure = ""
            if measure:
                return DONE_MEASURE.format(measure=measure.rstrip("。")[:80])
        elif not reply:
            reply = ev.detail.strip()
    return DONE_REPLY.format(reply=reply[:80]) if reply else DONE_CLOSED


def ask(
    session: Session, *, feedback: Feedback, actor: str, now: datetime, template_id: str = ""
) -> str | None:
    """Queue the return-visit question to the diner (once per closing); returns how it went, or None when
    this feedback gets no return visit."""
    if not wants_revisit(feedback) or feedback.source == "demo":
        return None
    if feedback.revisit_asked_at is not None and feedback.revisit_answered_at is None:
        return None  # asked already and not answered yet
    assert feedback.id is not None
    text = ASK_TEXT.format(ref=feedback.reference, done=_one_sentence(session, feedback))
    last = (
        None  # a device token has no chat window: the question waits in 「我的反馈」
        if feedback.source == ANONYMOUS
        else session.execute(
            select(func.max(InboundMessage.received_at)).where(col(InboundMessage.sender) == feedback.sender)
        ).scalar_one_or_none()
    )
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=now.tzinfo)
    if feedback.source == ANONYMOUS:
        via = VIA_MINE
    elif last is not None and last + CS_WINDOW > now:
        app = "wecom" if feedback.source == "wecom" else "mp"
        enqueue(
            session, to_user=feedback.sender, text=text, app=app, dedupe_key=f"revisit:{feedback.id}:{now}"
        )
        via = VIA_CS
    elif template_id and feedback.source != "wecom":
        enqueue_template(
            session,
            to_user=feedback.sender,
            template_id=template_id,
            data={
                "first": ASK_TEMPLATE_FIRST,
                "keyword1": feedback.reference,
                "keyword2": text,
                "remark": QUESTION,
            },
            dedupe_key=f"revisit:{feedback.id}:{now}",
        )
        via = VIA_TEMPLATE
    else:
        via = VIA_NONE
    if via != VIA_NONE:
        feedback.revisit_asked_at = now
        feedback.revisit_answer = None
        feedback.revisit_answered_at = None
    session.add(
        FeedbackEvent(feedback_id=feedback.id, at=now, actor=actor, action=Action.revisit_asked, detail=via)
    )
    session.add(feedback)
    session.flush()
    return via


def pending_for(session: Session, *, sender: str) -> Feedback | None:
    """The sender's latest feedback with a return visit asked and not answered (and not archived)."""
    return session.execute(
        select(Feedback)
        .where(
            col(Feedback.sender) == sender,
            col(Feedback.revisit_asked_at).is_not(None),
            col(Feedback.revisit_answered_at).is_(None),
            col(Feedback.volume_id).is_(None),
        )
        .order_by(col(Feedback.revisit_asked_at).desc())
        .limit(1)
    ).scalar_one_or_none()
