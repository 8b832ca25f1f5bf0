"""Diner and attendee handlers: open feedback windows, record feedback, attach photos and voice, help."""

from __future__ import annotations

from core.clock import to_local
from feedback import service
from feedback.alerts import alert_on_duty, alert_reason
from feedback.grammar import Parsed, infer_meal, parse_scene, parse_text
from feedback.models import Channel, Meal, Meeting, Site
from feedback.service import FeedbackRow
from feedback.vocabulary import MEAL_LABELS
from handlers import dialogs, staff, texts
from handlers.dialogs import DialogRow
from handlers.router import Context, Incoming, Outcome


def help_reply(_msg: Incoming, ctx: Context) -> Outcome:
    """The menu of commands."""
    return Outcome(texts.HELP.format(fonds=ctx.settings.fonds_name))


def welcome(_msg: Incoming, ctx: Context) -> Outcome:
    """A plain follow: welcome and the menu."""
    return Outcome(texts.WELCOME.format(fonds=ctx.settings.fonds_name))


def no_reply(_msg: Incoming, _ctx: Context) -> Outcome:
    """Events that need no answer (unfollow, menu links): reply `success`."""
    return Outcome()


def unsupported(_msg: Incoming, _ctx: Context) -> Outcome:
    """Message or event types houqin does not take: a polite pointer to what it does take."""
    return Outcome(texts.UNSUPPORTED)


def _open_canteen(
    ctx: Context, msg: Incoming, *, site: Site | None, table_no: str | None, meal: str | None
) -> Outcome:
    dialogs.open_window(
        ctx.session,
        sender=msg.sender,
        now=ctx.now,
        minutes=ctx.settings.dialog_minutes,
        channel=Channel.canteen,
        site_id=site.id if site else None,
        table_no=table_no,
        meal=meal,
    )
    meal_word = MEAL_LABELS[Meal(meal)] if meal else "本次用餐"
    where = site.name if site else ""
    return Outcome(texts.ASK_SCORE_CANTEEN.format(where=where, meal=meal_word))


def _open_meeting(ctx: Context, msg: Incoming, meeting: Meeting) -> Outcome:
    dialogs.open_window(
        ctx.session,
        sender=msg.sender,
        now=ctx.now,
        minutes=ctx.settings.dialog_minutes,
        channel=Channel.meeting,
        meeting_id=meeting.id,
    )
    return Outcome(texts.ASK_SCORE_MEETING.format(title=meeting.title))


def scene(msg: Incoming, ctx: Context) -> Outcome:
    """A QR scan (subscribe with `qrscene_`, or SCAN): open the canteen or meeting window the code names."""
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
    return handle_text(msg, ctx, parse_text(msg.content))


def handle_text(msg: Incoming, ctx: Context, parsed: Parsed) -> Outcome:
    """Act on parsed text (shared by text messages and recognised voice)."""
    if parsed.kind == "help":
        return help_reply(msg, ctx)
    if parsed.kind == "meeting":
        meeting = service.meeting_by_code(ctx.session, code=parsed.args[0])
        if meeting is None:
            return Outcome(texts.UNKNOWN_MEETING.format(code=parsed.args[0]))
        return _open_meeting(ctx, msg, meeting)
    if parsed.kind == "staff":
        return staff.dispatch(msg, ctx, parsed.command or "", parsed.args)
    if (
        parsed.kind == "feedback"
        and parsed.score is None
        and parsed.comment == "更多"
        and staff.has_cursor(msg, ctx)
    ):
        return staff.more(msg, ctx)
    if parsed.kind == "open":
        window = dialogs.current_window(ctx.session, sender=msg.sender, now=ctx.now)
        if window is not None and window.channel == Channel.meeting and window.meeting_id:
            meeting = ctx.session.get(Meeting, window.meeting_id)
            if meeting is not None:
                return _open_meeting(ctx, msg, meeting)
        site = ctx.session.get(Site, window.site_id) if window and window.site_id else None
        return _open_canteen(
            ctx, msg, site=site, table_no=window.table_no if window else None, meal=parsed.meal
        )
    return record(msg, ctx, score=parsed.score, meal=parsed.meal, comment=parsed.comment)


def _keep_window(ctx: Context, msg: Incoming, window: DialogRow | None, fb: FeedbackRow) -> None:
    """Point the sender's window at `fb` for another few minutes, opening one in fb's context if none."""
    minutes = ctx.settings.dialog_minutes
    if window is not None:
        dialogs.extend_window(ctx.session, dialog=window, now=ctx.now, minutes=minutes, feedback_id=fb.id)
    else:
        dialogs.open_window(
            ctx.session,
            sender=msg.sender,
            now=ctx.now,
            minutes=minutes,
            channel=fb.channel,
            meal=fb.meal,
            feedback_id=fb.id,
        )


def _maybe_alert(ctx: Context, reference: str, *, score: int | None, comment: str) -> None:
    reason = alert_reason(score=score, comment=comment)
    if reason is not None:
        alert_on_duty(ctx.session, reference=reference, reason=reason, comment=comment)


def _window_feedback(ctx: Context, window: DialogRow | None) -> FeedbackRow | None:
    if window is None or window.feedback_id is None:
        return None
    fb = service.get_feedback(ctx.session, feedback_id=window.feedback_id)
    if fb is None or fb.volume_id is not None:
        return None
    return fb


def _what(channel: str) -> str:
    return texts.WHAT_MEETING if channel == Channel.meeting else texts.WHAT_CANTEEN


def record(msg: Incoming, ctx: Context, *, score: int | None, meal: Meal | None, comment: str) -> Outcome:
    """Record feedback: add to the open window's feedback, or create a new one in the window's context."""
    window = dialogs.current_window(ctx.session, sender=msg.sender, now=ctx.now)
    current = _window_feedback(ctx, window)
    if window is not None and current is not None and (score is None or current.score is None):
        service.add_to_feedback(
            ctx.session,
            feedback=current,
            score=score,
            comment=comment,
            actor=msg.sender,
            settings=ctx.settings,
        )
        _maybe_alert(ctx, current.reference, score=score, comment=comment)
        _keep_window(ctx, msg, window, current)
        if score is not None:
            reply = texts.ADDED_SCORE.format(ref=current.reference, stars=texts.stars(score), score=score)
        else:
            reply = texts.ADDED_COMMENT.format(ref=current.reference)
        return Outcome(reply, feedback_id=current.id)

    fb = _create(ctx, msg, window=window, score=score, meal=meal, comment=comment)
    _maybe_alert(ctx, fb.reference, score=score, comment=comment)
    _keep_window(ctx, msg, window, fb)
    what = _what(fb.channel)
    if score is not None:
        reply = texts.RECORDED_SCORED.format(
            what=what, stars=texts.stars(score), score=score, ref=fb.reference
        )
    else:
        reply = texts.RECORDED_UNSCORED.format(ref=fb.reference, what=what)
    return Outcome(reply, feedback_id=fb.id)


def _create(
    ctx: Context,
    msg: Incoming,
    *,
    window: DialogRow | None,
    score: int | None,
    meal: Meal | None,
    comment: str,
) -> FeedbackRow:
    local_now = to_local(ctx.now, ctx.settings.tz)
    inferred_meal, service_date = infer_meal(local_now)
    channel = window.channel if window is not None else Channel.canteen
    if channel == Channel.meeting:
        service_date = local_now.date()
    chosen_meal = meal or (Meal(window.meal) if window is not None and window.meal else None) or inferred_meal
    return service.create_feedback(
        ctx.session,
        sender=msg.sender,
        local_day=local_now.date(),
        service_date=service_date,
        channel=channel,
        source=msg.app,
        site_id=window.site_id if window is not None else None,
        table_no=window.table_no if window is not None else None,
        meeting_id=window.meeting_id if window is not None else None,
        meal=chosen_meal,
        score=score,
        comment=comment,
        created_at=ctx.now,
        settings=ctx.settings,
    )


def _attach(msg: Incoming, ctx: Context, *, kind: str, recognition: str = "") -> Outcome:
    window = dialogs.current_window(ctx.session, sender=msg.sender, now=ctx.now)
    current = _window_feedback(ctx, window)
    created = current is None
    fb = current or _create(ctx, msg, window=window, score=None, meal=None, comment=recognition)
    if not created and recognition:
        service.add_to_feedback(ctx.session, feedback=fb, comment=recognition, actor=msg.sender)
    service.attach_media(
        ctx.session, feedback=fb, kind=kind, media_id=msg.media_id, url=msg.pic_url, recognition=recognition
    )
    _keep_window(ctx, msg, window, fb)
    if kind == "image":
        template = texts.NEW_PHOTO if created else texts.ADDED_PHOTO
    else:
        template = texts.NEW_VOICE if created else texts.ADDED_VOICE
    return Outcome(template.format(ref=fb.reference), feedback_id=fb.id)


def image(msg: Incoming, ctx: Context) -> Outcome:
    """A photo: attached to the window's feedback, or kept as a new unscored one."""
    return _attach(msg, ctx, kind="image")


def voice(msg: Incoming, ctx: Context) -> Outcome:
    """A voice note: its speech recognition text is read like typed text when it carries a score or command."""
    said = msg.recognition.strip()
    if said:
        parsed = parse_text(said)
        if parsed.kind != "feedback" or parsed.score is not None:
            outcome = handle_text(msg, ctx, parsed)
            if outcome.feedback_id is not None:
                fb = service.get_feedback(ctx.session, feedback_id=outcome.feedback_id)
                if fb is not None:
                    service.attach_media(
                        ctx.session, feedback=fb, kind="voice", media_id=msg.media_id, recognition=said
                    )
            return outcome
    return _attach(msg, ctx, kind="voice", recognition=said)
