"""The return visit's answer by chat (回访): a bare 1, 2 or 3 from a diner who has a return visit pending and
no open feedback window records 满意 / 基本满意 / 不满意 (feedback.revisit.record_answer); anything else,
or the same digits inside an open window (a score), goes on to the diner handlers."""

from __future__ import annotations

import unicodedata

from feedback import revisit
from feedback.models import Revisit
from handlers import diner
from handlers.router import Context, Incoming, Outcome


def _digit(content: str) -> str:
    return unicodedata.normalize("NFKC", content).strip().rstrip("。.！!")


def bare_answer(msg: Incoming) -> bool:
    """Match a text message that is just 1, 2 or 3 (half- or full-width)."""
    return msg.msg_type == "text" and _digit(msg.content) in ("1", "2", "3")


def answer(msg: Incoming, ctx: Context) -> Outcome:
    """Record the return-visit answer, or hand the message to the diner handlers when none is pending."""
    if ctx.store.current_window(sender=msg.sender, now=ctx.now) is not None:
        return diner.text(msg, ctx)
    pending = revisit.pending_for(ctx.session, sender=msg.sender)
    if pending is None:
        return diner.text(msg, ctx)
    choice = Revisit(_digit(msg.content))
    try:
        revisit.record_answer(ctx.session, feedback=pending, answer=choice, actor=msg.sender, now=ctx.now)
    except revisit.RevisitError as exc:
        return Outcome(str(exc))
    return Outcome(revisit.THANKS[choice], feedback_id=pending.id)
