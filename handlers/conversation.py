"""The conversation a diner trusts (issue 12): what a recording reply says, whether a feedback alerts the
on-duty managers, where the meal was, the questions a feedback window waits on (which canteen, replace the
first score?), and the polite answers to chatter.

The diner handlers (handlers.diner) call these; every text comes from handlers.texts.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

from core.clock import to_local
from feedback import service
from feedback.alerts import alert_on_duty, alert_reason
from feedback.grammar import infer_meal, normalize
from feedback.models import Channel, Meal, Site
from feedback.service import FeedbackRow
from feedback.situations import Chatter, Situation, situation, yes_no
from feedback.tokens import place_names
from feedback.vocabulary import MEAL_LABELS, names_symptoms
from handlers import texts
from handlers.router import Context, Incoming, Outcome

if TYPE_CHECKING:
    from ingest.batch import DialogRow

PLACE = "place"  # the window asks which canteen (回复序号)
REPLACE = "replace"  # the window asks whether a second score replaces the first
_ORDINAL = re.compile(r"(?:第)?(\d{1,2})\s*(?:号|个|[.。、])?")


# --- what was recorded ----------------------------------------------------------------------------------


def what_of(ctx: Context, fb: FeedbackRow, *, with_score: bool = True) -> str:
    """机关一食堂·午餐（11月26日）4分, 「年度工作会议」会务服务 4分, or …的意见 when unscored."""
    site, title = place_names(ctx.session, site_id=fb.site_id, meeting_id=fb.meeting_id)
    if fb.channel == Channel.meeting:
        what = texts.WHAT_MEETING_NAMED.format(title=title) if title else "会务服务"
    else:
        meal = MEAL_LABELS[Meal(fb.meal)] if fb.meal else "用餐"
        day = fb.service_date
        what = texts.WHAT_MEAL.format(
            place=f"{site}·" if site else "", meal=meal, month=day.month, day=day.day
        )
    if not with_score:
        return what
    if fb.score is None:
        return texts.WHAT_COMMENT.format(what=what)
    return texts.WHAT_SCORE.format(what=what, score=fb.score)


def _owner(fb: FeedbackRow) -> str:
    return texts.OWNER_MEETING if fb.channel == Channel.meeting else texts.OWNER_CANTEEN


def alert(ctx: Context, fb: FeedbackRow, *, score: int | None, comment: str) -> bool:
    """Alert the on-duty managers when this score or comment calls for it; whether anyone was alerted."""
    reason = alert_reason(score=score, comment=comment)
    if reason is None:
        return False
    recipients = ctx.store.on_duty()
    return (
        alert_on_duty(
            ctx.session, recipients=recipients, reference=fb.reference, reason=reason, comment=comment
        )
        > 0
    )


def situation_reply(ctx: Context, fb: FeedbackRow, *, alerted: bool, comment: str | None = None) -> str:
    """The reply to a recorded feedback, by its situation (food safety, complaint, neutral, good, unscored)."""
    said = fb.comment if comment is None else comment
    found = situation(score=fb.score, comment=said)
    what, ref, minutes = what_of(ctx, fb), fb.reference, ctx.settings.dialog_minutes
    if found == Situation.food_safety:
        phone = ctx.settings.duty_phone.strip()
        return texts.FOOD_SAFETY.format(
            alerted=texts.FOOD_SAFETY_ALERTED
            if alerted
            else texts.FOOD_SAFETY_FLAGGED.format(owner=_owner(fb)),
            what=what,
            ref=ref,
            phone=texts.FOOD_SAFETY_PHONE.format(phone=phone) if phone else "",
            doctor=texts.FOOD_SAFETY_DOCTOR if names_symptoms(said) else "",
        )
    if found == Situation.complaint:
        return texts.COMPLAINT.format(what=what, ref=ref, owner=_owner(fb), minutes=minutes)
    if found == Situation.good:
        return texts.GOOD.format(what=what, ref=ref)
    if found == Situation.neutral:
        return texts.NEUTRAL.format(what=what, ref=ref, minutes=minutes)
    return texts.UNSCORED.format(what=what, ref=ref, minutes=minutes)


# --- chatter -------------------------------------------------------------------------------------------


def chatter_reply(kind: Chatter, *, in_window: bool) -> Outcome:
    """The polite answer to a message that is not feedback (nothing is recorded)."""
    if kind == Chatter.thanks:
        return Outcome(texts.CHATTER_THANKS)
    if kind == Chatter.emoji:
        return Outcome(texts.CHATTER_EMOJI)
    if kind == Chatter.time:
        return Outcome(texts.CHATTER_TIME)
    if kind == Chatter.decimal:
        return Outcome(texts.CHATTER_DECIMAL)
    return Outcome(texts.CHATTER_ACK if in_window else texts.CHATTER_ACK_IDLE)


# --- where it was ---------------------------------------------------------------------------------------


def known_place(ctx: Context, *, sender: str) -> int | None:
    """The canteen to assume when no QR gave one: the diner's last within HOUQIN_PLACE_MEMORY_DAYS, or the
    only active canteen; None when the diner must be asked."""
    days = ctx.settings.place_memory_days
    if days > 0:
        found = ctx.store.last_place(sender=sender, since=ctx.now - timedelta(days=days))
        if found is not None:
            return found
    canteens = ctx.store.active_canteens()
    return canteens[0].id if len(canteens) == 1 else None


def place_question(ctx: Context, window: DialogRow) -> str:
    """Ask which canteen (once per window): the numbered list of active canteens, or "" when not to ask."""
    if window.channel != Channel.canteen or window.site_id is not None or window.asked_place:
        return ""
    canteens = ctx.store.active_canteens()
    if len(canteens) < 2:
        return ""
    window.awaiting, window.asked_place = PLACE, True
    ctx.store.save_window(window)
    choices = "\n".join(texts.PLACE_CHOICE.format(n=n, name=s.name) for n, s in enumerate(canteens, 1))
    return texts.PLACE_ASK.format(choices=choices)


def _chosen(text: str, canteens: list[Site]) -> Site | int | None:
    """The canteen a reply names (by 序号, name or code); an int when it is an out-of-range 序号."""
    if m := _ORDINAL.fullmatch(text):
        n = int(m.group(1))
        return canteens[n - 1] if 1 <= n <= len(canteens) else n
    for site in canteens:
        if text in (site.name, site.code) or (len(text) >= 3 and text in site.name):
            return site
    return None


def _answer_place(ctx: Context, msg: Incoming, window: DialogRow, text: str) -> Outcome | None:
    window.awaiting = None  # asked once: whatever the answer, the question is over
    ctx.store.save_window(window)
    canteens = ctx.store.active_canteens()
    chosen = _chosen(text, canteens)
    if chosen is None:
        return None
    if isinstance(chosen, int):
        return Outcome(texts.PLACE_OUT_OF_RANGE.format(n=len(canteens)))
    window.site_id = chosen.id
    ctx.store.save_window(window)
    fb = window_feedback(ctx, window)
    if fb is None:
        local_now = to_local(ctx.now, ctx.settings.tz)
        meal = Meal(window.meal) if window.meal else infer_meal(local_now)[0]
        return Outcome(texts.PLACE_SET_ASK_SCORE.format(name=chosen.name, meal=MEAL_LABELS[meal]))
    service.amend_feedback(ctx.store, feedback=fb, actor=msg.sender, site_id=chosen.id)
    return Outcome(texts.PLACE_SET.format(name=chosen.name, what=what_of(ctx, fb), ref=fb.reference), fb.id)


def ask_replace(ctx: Context, window: DialogRow, fb: FeedbackRow, *, score: int) -> str:
    """Ask whether a second score replaces the first one; the window waits for 是/否."""
    window.awaiting, window.pending_score = REPLACE, score
    ctx.store.save_window(window)
    return texts.REPLACE_ASK.format(what=what_of(ctx, fb, with_score=False), old=fb.score, new=score)


def _answer_replace(ctx: Context, msg: Incoming, window: DialogRow, text: str) -> Outcome | None:
    new, window.awaiting, window.pending_score = window.pending_score, None, None
    ctx.store.save_window(window)
    answer = yes_no(text)
    fb = window_feedback(ctx, window)
    if answer is None or fb is None or new is None:
        return None
    if not answer:
        return Outcome(
            texts.REPLACE_KEPT.format(old=fb.score, what=what_of(ctx, fb), ref=fb.reference), fb.id
        )
    service.amend_feedback(ctx.store, feedback=fb, actor=msg.sender, score=new, settings=ctx.settings)
    alerted = alert(ctx, fb, score=new, comment=fb.comment)
    return Outcome(situation_reply(ctx, fb, alerted=alerted), fb.id)


def answer_question(ctx: Context, msg: Incoming, window: DialogRow, text: str) -> Outcome | None:
    """The reply when `text` answers the window's open question; None when it does not (the question is
    then over, and the message is handled as usual)."""
    said = normalize(text).strip(" \t\r\n。.！!")
    if window.awaiting == PLACE:
        return _answer_place(ctx, msg, window, said)
    if window.awaiting == REPLACE:
        return _answer_replace(ctx, msg, window, said)
    return None


def window_feedback(ctx: Context, window: DialogRow | None) -> FeedbackRow | None:
    """The feedback the window fills, when there is one the diner may still add to."""
    if window is None or window.feedback_id is None:
        return None
    fb = ctx.store.get_feedback(window.feedback_id)
    if fb is None or fb.volume_id is not None:
        return None
    return fb
