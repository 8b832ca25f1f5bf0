"""The return visit (回访): the diner's answer to 「对处理结果：1 满意 2 基本满意 3 不满意」 on a closed feedback.

Asking (queueing the question through the outbox when a feedback is closed) lives beside the managers'
actions; this module records the answer, from the chat or from the feedback page, the same way.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from feedback.models import Action, Feedback, FeedbackEvent, Revisit, Status


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
