"""Diner and attendee handlers: the welcome and the menu, QR scenes and the 反馈 button (open a feedback
window), text and recognised voice (record or add to feedback), photos and voice notes (attach), and the
answers to events and message types that are not feedback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.clock import to_local
from feedback import service
from feedback.grammar import Parsed, infer_meal, parse_scene, parse_text
from feedback.models import Channel, Meal, Meeting, Site
from feedback.service import FeedbackRow
from feedback.situations import Chatter, Situation, chatter, situation
from feedback.tokens import place_names
from feedback.vocabulary import MEAL_LABELS
from handlers import conversation, staff, texts
from handlers.router import Context, Incoming, Outcome

if TYPE_CHECKING:
    from ingest.batch import DialogRow

# words of the staff menu that a diner may type too: never feedback (更多 pages a 查档)
STAFF_WORDS = frozenset({"更多", "下一页"})


def help_reply(msg: Incoming, ctx: Context) -> Outcome:
    """The menu of commands: the diners' menu, and the staff menu too for bound staff and WeCom members."""
    text = texts.HELP.format(fonds=ctx.settings.fonds_name, minutes=ctx.settings.dialog_minutes)
    if staff.is_staff(msg, ctx):
        text += "\n\n" + texts.STAFF_HELP
    return Outcome(text)


def welcome(_msg: Incoming, ctx: Context) -> Outcome:
    """A plain follow: what the account does, and the menu."""
    return Outcome(texts.WELCOME.format(fonds=ctx.settings.fonds_name, minutes=ctx.settings.dialog_minutes))


def no_reply(_msg: Incoming, _ctx: Context) -> Outcome:
    """Events that are not a person talking (unfollow, menu links, enter_agent, …): reply `success`."""
    return Outcome()


def unsupported(_msg: Incoming, _ctx: Context) -> Outcome:
    """Message types houqin does not take: a polite pointer to what it does take."""
    return Outcome(texts.UNSUPPORTED)


def _open_canteen(
    ctx: Context, msg: Incoming, *, site: Site | None, table_no: str | None, meal: str | None
) -> Outcome:
    site_id = site.id if site else conversation.known_place(ctx, sender=msg.sender)
    window = ctx.store.open_window(
        sender=msg.sender,
        now=ctx.now,
        minutes=ctx.settings.dialog_minutes,
        channel=Channel.canteen,
        site_id=site_id,
        table_no=table_no,
        meal=meal,
    )
    if question := conversation.place_question(ctx, window):
        return Outcome(question)
    meal_word = MEAL_LABELS[Meal(meal)] if meal else "本次用餐"
    where = (
        site.name
        if site
        else (place_names(ctx.session, site_id=site_id, meeting_id=None)[0] if site_id else "")
    )
    return Outcome(
        texts.ASK_SCORE_CANTEEN.format(where=where, meal=meal_word, minutes=ctx.settings.dialog_minutes)
    )


def _open_meeting(ctx: Context, msg: Incoming, meeting: Meeting) -> Outcome:
    ctx.store.open_window(
        sender=msg.sender,
        now=ctx.now,
        minutes=ctx.settings.dialog_minutes,
        channel=Channel.meeting,
        meeting_id=meeting.id,
    )
    return Outcome(texts.ASK_SCORE_MEETING.format(title=meeting.title, minutes=ctx.settings.dialog_minutes))


def scene(msg: Incoming, ctx: Context) -> Outcome:
    """A QR scan (subscribe with `qrscene_`, or SCAN): open the canteen or meeting window the code names;
    a follow by scan is welcomed first."""
    outcome = _scene(msg, ctx)
    if msg.event == "subscribe_scan" and outcome.text and not outcome.text.startswith("感谢关注"):
        outcome.text = texts.WELCOME_LINE.format(fonds=ctx.settings.fonds_name) + "\n" + outcome.text
    return outcome


def _scene(msg: Incoming, ctx: Context) -> Outcome:
    parsed = parse_scene(msg.event_key)
    if parsed is None:
        return welcome(msg, ctx) if msg.event == "subscribe_scan" else help_reply(msg, ctx)
    kind, code, table_no = parsed
    if kind == "meeting":
        meeting = service.meeting_by_code(ctx.session, code=code)
        if meeting is None:
            return Outcome(texts.UNKNOWN_MEETING.format(code=code))
        return _open_meeting(ctx, msg, meeting)
    site = service.site_by_code(ctx.session, code=code)
    if site is None:
        return Outcome(texts.UNKNOWN_SITE.format(code=code))
    return _open_canteen(ctx, msg, site=site, table_no=table_no, meal=None)


def menu_feedback(msg: Incoming, ctx: Context) -> Outcome:
    """The FEEDBACK menu button: open a canteen window."""
    return _open_canteen(ctx, msg, site=None, table_no=None, meal=None)


def text(msg: Incoming, ctx: Context) -> Outcome:
    """A text message: a command, a score, or a comment (never dropped)."""
    return handle_text(msg, ctx, parse_text(msg.content), said=msg.content)


def handle_text(msg: Incoming, ctx: Context, parsed: Parsed, *, said: str) -> Outcome:
    """Act on parsed text (shared by text messages and recognised voice).

    In order: the window's open question (which canteen, replace the score?) takes the answer; then
    commands; then chatter (answered, never recorded); then feedback."""
    window = ctx.store.current_window(sender=msg.sender, now=ctx.now)
    if window is not None and window.awaiting:
        answered = conversation.answer_question(ctx, msg, window, said)
        if answered is not None:
            return answered
    if chatter(said) == Chatter.decimal:  # 3.5分 is no score (the grammar would read its 5分)
        return conversation.chatter_reply(Chatter.decimal, in_window=window is not None)
    if parsed.kind == "help":
        # an emoji alone is chatter, not a call for the menu
        if chatter(said) == Chatter.emoji:
            return conversation.chatter_reply(Chatter.emoji, in_window=window is not None)
        return help_reply(msg, ctx)
    if parsed.kind == "meeting":
        meeting = service.meeting_by_code(ctx.session, code=parsed.args[0])
        if meeting is None:
            return Outcome(texts.UNKNOWN_MEETING.format(code=parsed.args[0]))
        return _open_meeting(ctx, msg, meeting)
    if parsed.kind == "staff":
        return staff.dispatch(msg, ctx, parsed.command or "", parsed.args)
    if parsed.kind == "feedback" and parsed.score is None and parsed.comment in STAFF_WORDS:
        # 更多 pages a staff member's 查档; from anyone else it is not feedback: the menu
        return staff.more(msg, ctx) if staff.is_staff(msg, ctx) else help_reply(msg, ctx)
    if parsed.kind == "open":
        if window is not None and window.channel == Channel.meeting and window.meeting_id:
            meeting = ctx.session.get(Meeting, window.meeting_id)
            if meeting is not None:
                return _open_meeting(ctx, msg, meeting)
        site = ctx.session.get(Site, window.site_id) if window and window.site_id else None
        return _open_canteen(
            ctx, msg, site=site, table_no=window.table_no if window else None, meal=parsed.meal
        )
    if parsed.score is None and (kind := chatter(said)) is not None:
        return conversation.chatter_reply(kind, in_window=window is not None)
    return record(msg, ctx, score=parsed.score, meal=parsed.meal, comment=parsed.comment)


def _keep_window(ctx: Context, msg: Incoming, window: DialogRow | None, fb: FeedbackRow) -> DialogRow:
    """Point the sender's window at `fb` for another few minutes, opening one in fb's context if none."""
    minutes = ctx.settings.dialog_minutes
    if window is not None:
        if window.site_id is None and fb.site_id is not None:
            window.site_id = fb.site_id
        ctx.store.extend_window(dialog=window, now=ctx.now, minutes=minutes, feedback_id=fb.id)
        return window
    return ctx.store.open_window(
        sender=msg.sender,
        now=ctx.now,
        minutes=minutes,
        channel=fb.channel,
        site_id=fb.site_id,
        table_no=fb.table_no,
        meeting_id=fb.meeting_id,
        meal=fb.meal,
        feedback_id=fb.id,
    )


def _with_question(ctx: Context, window: DialogRow, reply: str) -> str:
    question = conversation.place_question(ctx, window)
    return f"{reply}\n{question}" if question else reply


def _new_meal(fb: FeedbackRow, meal: Meal | None) -> str | None:
    """The meal a message names, when it changes the feedback's (canteen feedback only)."""
    if meal is None or fb.channel != Channel.canteen or meal == fb.meal:
        return None
    return str(meal)


def record(msg: Incoming, ctx: Context, *, score: int | None, meal: Meal | None, comment: str) -> Outcome:
    """Record feedback: add to the open window's feedback, or create a new one in the window's context.

    A bare second score asks whether to replace the first; a meal word changes the meal."""
    window = ctx.store.current_window(sender=msg.sender, now=ctx.now)
    current = conversation.window_feedback(ctx, window)
    if window is not None and current is not None:
        # a score with its own comment (「2分 汤凉了」) or for another meal is a feedback of its own; a bare
        # second score asks whether to replace the first
        separate = (
            score is not None
            and current.score is not None
            and (bool(comment) or _new_meal(current, meal) is not None)
        )
        if not separate:
            return _add(ctx, msg, window, current, score=score, meal=meal, comment=comment)

    site_id = window.site_id if window is not None else None
    if site_id is None and (window is None or window.channel == Channel.canteen):
        site_id = conversation.known_place(ctx, sender=msg.sender)
    fb = _create(ctx, msg, window=window, score=score, meal=meal, comment=comment, site_id=site_id)
    alerted = conversation.alert(ctx, fb, score=score, comment=comment)
    kept = _keep_window(ctx, msg, window, fb)
    reply = conversation.situation_reply(ctx, fb, alerted=alerted)
    return Outcome(_with_question(ctx, kept, reply), feedback_id=fb.id)


def _add(
    ctx: Context,
    msg: Incoming,
    window: DialogRow,
    current: FeedbackRow,
    *,
    score: int | None,
    meal: Meal | None,
    comment: str,
) -> Outcome:
    """Add a message to the window's feedback (a second, different score: ask before replacing)."""
    second = score is not None and current.score is not None and score != current.score
    new_score = score if current.score is None else None
    if new_score is not None or comment:
        service.add_to_feedback(
            ctx.store,
            feedback=current,
            score=new_score,
            comment=comment,
            actor=msg.sender,
            settings=ctx.settings,
        )
    if (new_meal := _new_meal(current, meal)) is not None:
        service.amend_feedback(ctx.store, feedback=current, actor=msg.sender, meal=new_meal)
    alerted = conversation.alert(ctx, current, score=new_score, comment=comment)
    _keep_window(ctx, msg, window, current)
    if second:
        assert score is not None
        return Outcome(conversation.ask_replace(ctx, window, current, score=score), feedback_id=current.id)
    if new_score is not None or situation(score=None, comment=comment) == Situation.food_safety:
        reply = conversation.situation_reply(ctx, current, alerted=alerted, comment=comment or None)
    else:
        reply = texts.ADDED.format(
            what=conversation.what_of(ctx, current, with_score=False), ref=current.reference
        )
    return Outcome(_with_question(ctx, window, reply), feedback_id=current.id)


def _create(
    ctx: Context,
    msg: Incoming,
    *,
    window: DialogRow | None,
    score: int | None,
    meal: Meal | None,
    comment: str,
    site_id: int | None = None,
) -> FeedbackRow:
    local_now = to_local(ctx.now, ctx.settings.tz)
    inferred_meal, service_date = infer_meal(local_now)
    channel = window.channel if window is not None else Channel.canteen
    if channel == Channel.meeting:
        service_date = local_now.date()
    chosen_meal = meal or (Meal(window.meal) if window is not None and window.meal else None) or inferred_meal
    return service.create_feedback(
        ctx.store,
        sender=msg.sender,
        local_day=local_now.date(),
        service_date=service_date,
        channel=channel,
        source=msg.app,
        site_id=site_id if site_id is not None else (window.site_id if window is not None else None),
        table_no=window.table_no if window is not None else None,
        meeting_id=window.meeting_id if window is not None else None,
        meal=chosen_meal,
        score=score,
        comment=comment,
        created_at=ctx.now,
        settings=ctx.settings,
    )


def _attach(
    msg: Incoming, ctx: Context, *, kind: str, recognition: str = "", meal: Meal | None = None
) -> Outcome:
    window = ctx.store.current_window(sender=msg.sender, now=ctx.now)
    current = conversation.window_feedback(ctx, window)
    created = current is None
    if current is None:
        site_id = window.site_id if window is not None else None
        if site_id is None and (window is None or window.channel == Channel.canteen):
            site_id = conversation.known_place(ctx, sender=msg.sender)
        fb = _create(ctx, msg, window=window, score=None, meal=meal, comment=recognition, site_id=site_id)
    else:
        fb = current
        if recognition:
            service.add_to_feedback(
                ctx.store, feedback=fb, comment=recognition, actor=msg.sender, settings=ctx.settings
            )
        if (new_meal := _new_meal(fb, meal)) is not None:
            service.amend_feedback(ctx.store, feedback=fb, actor=msg.sender, meal=new_meal)
    service.attach_media(
        ctx.store, feedback=fb, kind=kind, media_id=msg.media_id, url=msg.pic_url, recognition=recognition
    )
    alerted = conversation.alert(ctx, fb, score=None, comment=recognition) if recognition else False
    kept = _keep_window(ctx, msg, window, fb)
    if recognition and situation(score=None, comment=recognition) == Situation.food_safety:
        reply = conversation.situation_reply(ctx, fb, alerted=alerted, comment=recognition)
    elif created:
        template = texts.PHOTO_NEW if kind == "image" else texts.VOICE_NEW
        reply = template.format(what=conversation.what_of(ctx, fb), ref=fb.reference)
    else:
        template = texts.PHOTO_ADDED if kind == "image" else texts.VOICE_ADDED
        reply = template.format(what=conversation.what_of(ctx, fb, with_score=False), ref=fb.reference)
    return Outcome(_with_question(ctx, kept, reply) if created else reply, feedback_id=fb.id)


def image(msg: Incoming, ctx: Context) -> Outcome:
    """A photo: attached to the window's feedback, or kept as a new unscored one."""
    return _attach(msg, ctx, kind="image")


def voice(msg: Incoming, ctx: Context) -> Outcome:
    """A voice note: its speech recognition text is read like typed text when it carries a score, a command
    or a reply to the window's question; chatter is answered; anything else is attached as feedback."""
    said = msg.recognition.strip()
    if said:
        parsed = parse_text(said)
        window = ctx.store.current_window(sender=msg.sender, now=ctx.now)
        if parsed.kind != "feedback" or parsed.score is not None or (window is not None and window.awaiting):
            outcome = handle_text(msg, ctx, parsed, said=said)
            if outcome.feedback_id is not None:
                fb = ctx.store.get_feedback(outcome.feedback_id)
                if fb is not None:
                    service.attach_media(
                        ctx.store, feedback=fb, kind="voice", media_id=msg.media_id, recognition=said
                    )
            return outcome
        if (kind := chatter(said)) is not None:
            return conversation.chatter_reply(kind, in_window=window is not None)
        return _attach(msg, ctx, kind="voice", recognition=said, meal=parsed.meal)
    return _attach(msg, ctx, kind="voice", recognition=said)
