"""Handlers without HTTP: Incoming → router → Outcome, one commit per message, checked in the database."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from core.settings import Settings
from feedback.meetings import add_meeting
from feedback.models import Feedback, FeedbackEvent, FeedbackMedia, Meeting, Site
from handlers import texts
from handlers.models import Dialog
from handlers.router import Context, Incoming, Outcome
from handlers.routes import build_router
from ingest.store import Store

# 2026-11-24 04:30 UTC is 12:30 in Asia/Shanghai: lunch time on the 24th
NOW = datetime(2026, 11, 24, 4, 30, tzinfo=UTC)
REF = re.compile(r"FK\d{8}-\d{4}")


class Chat:
    """One diner (or several) talking to the bot; every message is its own unit of work."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.router = build_router()

    def send(self, msg_type: str, *, sender: str = "o_diner", at: datetime = NOW, **fields: Any) -> Outcome:
        assert at.tzinfo is not None
        msg = Incoming(
            app="mp", sender=sender, msg_type=msg_type, created_at=at.replace(tzinfo=None), **fields
        )
        ctx = Context(session=self.session, settings=self.settings, now=at, store=Store(self.session))
        out = self.router.dispatch(msg, ctx)
        self.session.commit()
        self.session.expire_all()  # later reads come from the database, as the next unit of work's would
        assert len(out.text.encode()) <= self.settings.reply_max_bytes
        return out

    def text(self, content: str, **kw: Any) -> Outcome:
        return self.send("text", content=content, **kw)

    def event(self, event: str, key: str = "", **kw: Any) -> Outcome:
        return self.send("event", event=event, event_key=key, **kw)

    def feedbacks(self) -> list[Feedback]:
        return list(self.session.execute(select(Feedback).order_by(Feedback.id)).scalars())

    def media(self, fb: Feedback) -> list[FeedbackMedia]:
        q = select(FeedbackMedia).where(FeedbackMedia.feedback_id == fb.id).order_by(FeedbackMedia.id)
        return list(self.session.execute(q).scalars())

    def dialog(self, sender: str = "o_diner") -> Dialog | None:
        return self.session.execute(select(Dialog).where(Dialog.sender == sender)).scalar_one_or_none()

    def count(self, model: Any) -> int:
        return int(self.session.execute(select(func.count()).select_from(model)).scalar_one())


@pytest.fixture
def chat(session: Session, settings: Settings) -> Chat:
    return Chat(session, settings)


def ref_in(out: Outcome) -> str:
    m = REF.search(out.text)
    assert m, out.text
    return m.group(0)


def add_site(session: Session, code: str = "yst", name: str = "机关一食堂", *, active: bool = True) -> Site:
    site = Site(code=code, name=name, active=active)
    session.add(site)
    session.commit()
    return site


def add_hy(session: Session) -> Meeting:
    meeting = add_meeting(
        session,
        code="hy2026a",
        title="年度工作会议",
        starts_on=date(2026, 11, 24),
        ends_on=date(2026, 11, 25),
        venue="三楼会议室",
    )
    session.commit()
    return meeting


# --- one-shot feedback and reference numbers ------------------------------------------------------


def test_one_shot_feedback_is_recorded_with_a_reference(chat: Chat) -> None:
    out = chat.text("反馈 午餐 4 红烧肉偏咸")
    assert ref_in(out) == "FK20261124-0001"
    assert "已记录：午餐（11月24日）4分" in out.text
    [fb] = chat.feedbacks()
    assert out.feedback_id == fb.id
    assert fb.reference == "FK20261124-0001"
    assert (fb.score, fb.meal, fb.comment) == (4, "lunch", "红烧肉偏咸")
    assert (fb.channel, fb.source, fb.sender, fb.status) == ("canteen", "mp", "o_diner", "new")
    assert fb.service_date == date(2026, 11, 24)
    assert fb.site_id is None and fb.meeting_id is None and fb.volume_id is None
    assert fb.created_at == NOW


def test_score_then_comment_form(chat: Chat) -> None:
    out = chat.text("4分 红烧肉偏咸")
    [fb] = chat.feedbacks()
    assert (fb.score, fb.comment, fb.meal) == (4, "红烧肉偏咸", "lunch")  # meal inferred: 12:30 local
    assert fb.reference in out.text


def test_reference_numbers_increase_per_day_and_restart_the_next_local_day(chat: Chat) -> None:
    first = chat.text("5 很好", sender="o_a")
    second = chat.text("3 一般", sender="o_b", at=NOW + timedelta(minutes=1))
    # 15:59 UTC is 23:59 local: still the 24th
    third = chat.text("4 还行", sender="o_c", at=datetime(2026, 11, 24, 15, 59, tzinfo=UTC))
    # 16:00 UTC is 00:00 on the 25th locally: a new day, numbering restarts
    fourth = chat.text("2 菜凉了", sender="o_d", at=datetime(2026, 11, 24, 16, 0, tzinfo=UTC))
    fifth = chat.text("5", sender="o_e", at=datetime(2026, 11, 25, 4, 0, tzinfo=UTC))
    assert [ref_in(o) for o in (first, second, third, fourth, fifth)] == [
        "FK20261124-0001",
        "FK20261124-0002",
        "FK20261124-0003",
        "FK20261125-0001",
        "FK20261125-0002",
    ]
    refs = [fb.reference for fb in chat.feedbacks()]
    assert refs == [ref_in(o) for o in (first, second, third, fourth, fifth)]
    midnight = chat.feedbacks()[3]
    # just after local midnight a diner still means last night's dinner
    assert (midnight.meal, midnight.service_date) == ("dinner", date(2026, 11, 24))


# --- windows --------------------------------------------------------------------------------------


def test_window_collects_score_text_and_photo_into_one_feedback(chat: Chat) -> None:
    out = chat.text("反馈")
    assert "打分" in out.text and out.feedback_id is None
    assert chat.count(Feedback) == 0
    dialog = chat.dialog()
    assert dialog is not None and dialog.feedback_id is None
    assert dialog.expires_at == NOW + timedelta(minutes=chat.settings.dialog_minutes)

    scored = chat.text("4", at=NOW + timedelta(minutes=1))
    [fb] = chat.feedbacks()
    assert fb.reference in scored.text and "4分" in scored.text
    assert (fb.score, fb.comment, fb.meal) == (4, "", "lunch")
    assert chat.dialog().feedback_id == fb.id  # type: ignore[union-attr]

    added = chat.text("红烧肉偏咸", at=NOW + timedelta(minutes=2))
    assert added.text == texts.ADDED.format(what="午餐（11月24日）", ref=fb.reference)
    assert added.feedback_id == fb.id

    photo = chat.send(
        "image", media_id="MEDIA_1", pic_url="http://mmbiz.example/p.jpg", at=NOW + timedelta(minutes=3)
    )
    assert photo.text == texts.PHOTO_ADDED.format(what="午餐（11月24日）", ref=fb.reference)

    [fb] = chat.feedbacks()
    assert (fb.score, fb.comment) == (4, "红烧肉偏咸")
    [media] = chat.media(fb)
    assert (media.kind, media.media_id, media.url) == ("image", "MEDIA_1", "http://mmbiz.example/p.jpg")
    events = (
        chat.session.execute(select(FeedbackEvent).where(FeedbackEvent.feedback_id == fb.id)).scalars().all()
    )
    assert [(e.action, e.actor) for e in events] == [("diner_added", "o_diner")]
    # every message kept the window open for another ten minutes from its own time
    assert chat.dialog().expires_at == NOW + timedelta(minutes=3 + chat.settings.dialog_minutes)  # type: ignore[union-attr]


def test_free_text_is_kept_unscored_and_the_next_score_fills_it(chat: Chat) -> None:
    out = chat.text("今天的汤太咸了")
    [fb] = chat.feedbacks()
    assert (fb.score, fb.comment) == (None, "今天的汤太咸了")
    assert out.text == texts.UNSCORED.format(
        ref=fb.reference, what="午餐（11月24日）的意见", minutes=chat.settings.dialog_minutes
    )
    assert "1–5" in out.text

    scored = chat.text("4", at=NOW + timedelta(minutes=2))
    assert scored.feedback_id == fb.id
    assert scored.text == texts.GOOD.format(ref=fb.reference, what="午餐（11月24日）4分")
    [fb] = chat.feedbacks()
    assert (fb.score, fb.comment) == (4, "今天的汤太咸了")


def test_a_second_score_with_its_own_comment_starts_a_new_feedback(chat: Chat) -> None:
    chat.text("4 红烧肉好吃")
    chat.text("2 汤凉了", at=NOW + timedelta(minutes=1))
    first, second = chat.feedbacks()
    assert (first.score, first.comment) == (4, "红烧肉好吃")
    assert (second.score, second.comment) == (2, "汤凉了")


def test_a_second_score_for_another_meal_starts_a_new_feedback(chat: Chat) -> None:
    chat.text("4 红烧肉好吃")
    chat.text("晚餐 2 汤凉了", at=NOW + timedelta(minutes=1))
    first, second = chat.feedbacks()
    assert (first.score, first.comment, first.meal) == (4, "红烧肉好吃", "lunch")
    assert (second.score, second.comment, second.meal) == (2, "汤凉了", "dinner")
    assert second.reference == "FK20261124-0002"


def test_window_still_open_at_nine_minutes(chat: Chat) -> None:
    chat.text("米饭偏硬")
    chat.text("3", at=NOW + timedelta(minutes=9))
    [fb] = chat.feedbacks()
    assert fb.score == 3


def test_expired_window_gets_a_new_feedback(chat: Chat) -> None:
    chat.text("米饭偏硬")
    out = chat.text("3", at=NOW + timedelta(minutes=11))
    first, second = chat.feedbacks()
    assert (first.score, first.comment) == (None, "米饭偏硬")
    assert (second.score, second.comment) == (3, "")
    assert second.reference in out.text and first.reference not in out.text
    assert chat.dialog().feedback_id == second.id  # type: ignore[union-attr]


def test_expired_open_window_forgets_its_site(chat: Chat) -> None:
    site = add_site(chat.session)
    add_site(chat.session, "est", "机关二食堂")  # two canteens: none is assumed
    chat.event("scan", "canteen:yst:12")
    chat.text("4", at=NOW + timedelta(minutes=11))
    [fb] = chat.feedbacks()
    assert fb.site_id is None and fb.table_no is None
    assert site.id is not None


def test_windows_belong_to_one_sender(chat: Chat) -> None:
    chat.text("汤太咸", sender="o_a")
    chat.text("5", sender="o_b", at=NOW + timedelta(minutes=1))
    a, b = chat.feedbacks()
    assert (a.sender, a.score) == ("o_a", None)
    assert (b.sender, b.score) == ("o_b", 5)


# --- QR scenes and the menu -----------------------------------------------------------------------


@pytest.mark.parametrize("event", ["subscribe_scan", "scan"])
def test_canteen_scene_puts_site_and_table_on_the_feedback(chat: Chat, event: str) -> None:
    site = add_site(chat.session)
    out = chat.event(event, "canteen:yst:12")
    assert "机关一食堂" in out.text and "打分" in out.text
    dialog = chat.dialog()
    assert dialog is not None and (dialog.site_id, dialog.table_no, dialog.channel) == (
        site.id,
        "12",
        "canteen",
    )
    assert chat.count(Feedback) == 0

    chat.text("5 很好", at=NOW + timedelta(minutes=1))
    [fb] = chat.feedbacks()
    assert (fb.site_id, fb.table_no, fb.channel, fb.score, fb.comment) == (
        site.id,
        "12",
        "canteen",
        5,
        "很好",
    )


def test_canteen_scene_without_table(chat: Chat) -> None:
    site = add_site(chat.session)
    chat.event("scan", "canteen:yst")
    chat.text("4")
    [fb] = chat.feedbacks()
    assert (fb.site_id, fb.table_no) == (site.id, None)


def test_feedback_word_keeps_the_scanned_site(chat: Chat) -> None:
    site = add_site(chat.session)
    chat.event("scan", "canteen:yst:7")
    chat.text("反馈 晚餐", at=NOW + timedelta(minutes=1))
    chat.text("2 菜凉了", at=NOW + timedelta(minutes=2))
    [fb] = chat.feedbacks()
    assert (fb.site_id, fb.table_no, fb.meal, fb.score) == (site.id, "7", "dinner", 2)


@pytest.mark.parametrize("event", ["subscribe_scan", "scan"])
def test_meeting_scene_records_meeting_feedback_without_meal(chat: Chat, event: str) -> None:
    meeting = add_hy(chat.session)
    out = chat.event(event, "meeting:HY2026A")
    assert "年度工作会议" in out.text
    chat.text("4 服务周到", at=NOW + timedelta(minutes=1))
    [fb] = chat.feedbacks()
    assert (fb.channel, fb.meeting_id, fb.meal, fb.score, fb.comment) == (
        "meeting",
        meeting.id,
        None,
        4,
        "服务周到",
    )
    assert fb.service_date == date(2026, 11, 24)
    assert fb.site_id is None


def test_meeting_by_text_command_is_case_insensitive(chat: Chat) -> None:
    meeting = add_hy(chat.session)
    assert meeting.code == "HY2026A"
    out = chat.text("会议 hy2026a")
    assert "年度工作会议" in out.text
    reply = chat.text("满意", at=NOW + timedelta(minutes=1))
    assert "已记录：「年度工作会议」会务服务5分" in reply.text
    [fb] = chat.feedbacks()
    assert (fb.channel, fb.meeting_id, fb.meal, fb.score) == ("meeting", meeting.id, None, 5)


def test_feedback_word_in_a_meeting_window_stays_on_the_meeting(chat: Chat) -> None:
    meeting = add_hy(chat.session)
    chat.event("scan", "meeting:HY2026A")
    out = chat.text("反馈", at=NOW + timedelta(minutes=1))
    assert "年度工作会议" in out.text
    chat.text("3", at=NOW + timedelta(minutes=2))
    [fb] = chat.feedbacks()
    assert (fb.channel, fb.meeting_id) == ("meeting", meeting.id)


def test_unknown_site_gets_a_polite_reply_and_no_window(chat: Chat) -> None:
    out = chat.event("scan", "canteen:nosuch:3")
    assert out.text == texts.UNKNOWN_SITE.format(code="nosuch")
    assert chat.dialog() is None and chat.count(Feedback) == 0


def test_inactive_site_is_unknown(chat: Chat) -> None:
    add_site(chat.session, "old", "旧食堂", active=False)
    out = chat.event("subscribe_scan", "canteen:old:1")
    assert out.text.startswith("感谢关注") and out.text.endswith(texts.UNKNOWN_SITE.format(code="old"))
    assert chat.dialog() is None


@pytest.mark.parametrize(
    "send",
    [lambda c: c.event("scan", "meeting:NOPE"), lambda c: c.text("会议 NOPE")],
    ids=["scene", "text"],
)
def test_unknown_meeting_gets_a_polite_reply(chat: Chat, send: Any) -> None:
    out = send(chat)
    assert out.text == texts.UNKNOWN_MEETING.format(code="NOPE")
    assert chat.dialog() is None and chat.count(Feedback) == 0


def test_unparsable_scene_gets_welcome_or_help(chat: Chat) -> None:
    welcome = chat.event("subscribe_scan", "lottery:1")
    assert welcome.text == texts.WELCOME.format(
        fonds=chat.settings.fonds_name, minutes=chat.settings.dialog_minutes
    )
    help_ = chat.event("scan", "lottery:1")
    assert help_.text == texts.HELP.format(
        fonds=chat.settings.fonds_name, minutes=chat.settings.dialog_minutes
    )
    assert chat.dialog() is None


def test_menu_click_opens_a_window(chat: Chat) -> None:
    out = chat.event("click", "FEEDBACK")
    assert out.text == texts.ASK_SCORE_CANTEEN.format(
        where="", meal="本次用餐", minutes=chat.settings.dialog_minutes
    )
    assert chat.dialog() is not None and chat.count(Feedback) == 0
    chat.text("3", at=NOW + timedelta(minutes=1))
    [fb] = chat.feedbacks()
    assert fb.score == 3


def test_other_menu_click_does_not_open_a_window(chat: Chat) -> None:
    out = chat.event("click", "SOMETHING_ELSE")
    assert out.text == texts.HELP.format(fonds=chat.settings.fonds_name, minutes=chat.settings.dialog_minutes)
    assert chat.dialog() is None


def test_subscribe_and_unsubscribe(chat: Chat) -> None:
    assert chat.event("subscribe").text == texts.WELCOME.format(
        fonds=chat.settings.fonds_name, minutes=chat.settings.dialog_minutes
    )
    assert chat.event("unsubscribe").text == ""
    assert chat.count(Feedback) == 0 and chat.dialog() is None


# --- voice ----------------------------------------------------------------------------------------


def test_voice_with_a_recognised_score_is_scored_feedback(chat: Chat) -> None:
    out = chat.send("voice", media_id="VOICE_1", recognition="4分 鱼很新鲜")
    [fb] = chat.feedbacks()
    assert fb.reference in out.text and "4分" in out.text
    assert (fb.score, fb.comment) == (4, "鱼很新鲜")
    [media] = chat.media(fb)
    assert (media.kind, media.media_id, media.recognition) == ("voice", "VOICE_1", "4分 鱼很新鲜")


def test_voice_without_recognition_is_kept_as_unscored_feedback(chat: Chat) -> None:
    out = chat.send("voice", media_id="VOICE_2")
    [fb] = chat.feedbacks()
    assert out.text == texts.VOICE_NEW.format(what="午餐（11月24日）的意见", ref=fb.reference)
    assert (fb.score, fb.comment) == (None, "")
    [media] = chat.media(fb)
    assert (media.kind, media.media_id, media.recognition) == ("voice", "VOICE_2", "")
    chat.text("5", at=NOW + timedelta(minutes=1))
    [fb] = chat.feedbacks()
    assert fb.score == 5


def test_voice_with_plain_words_is_kept_as_comment_with_media(chat: Chat) -> None:
    out = chat.send("voice", media_id="VOICE_3", recognition="鱼很新鲜")
    [fb] = chat.feedbacks()
    assert out.text == texts.VOICE_NEW.format(what="午餐（11月24日）的意见", ref=fb.reference)
    assert (fb.score, fb.comment) == (None, "鱼很新鲜")
    [media] = chat.media(fb)
    assert media.recognition == "鱼很新鲜"


def test_voice_inside_a_window_is_added_to_its_feedback(chat: Chat) -> None:
    chat.text("4")
    out = chat.send("voice", media_id="VOICE_4", recognition="鱼很新鲜", at=NOW + timedelta(minutes=1))
    [fb] = chat.feedbacks()
    assert out.text == texts.VOICE_ADDED.format(what="午餐（11月24日）", ref=fb.reference)
    assert (fb.score, fb.comment) == (4, "鱼很新鲜")
    assert [m.kind for m in chat.media(fb)] == ["voice"]


def test_photo_outside_a_window_is_a_new_unscored_feedback(chat: Chat) -> None:
    out = chat.send("image", media_id="MEDIA_9", pic_url="http://mmbiz.example/9.jpg")
    [fb] = chat.feedbacks()
    assert out.text == texts.PHOTO_NEW.format(what="午餐（11月24日）的意见", ref=fb.reference)
    assert fb.score is None
    assert [(m.kind, m.media_id) for m in chat.media(fb)] == [("image", "MEDIA_9")]


# --- meals from local time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "meal", "service_date", "ref_day"),
    [
        (datetime(2026, 11, 24, 4, 30, tzinfo=UTC), "lunch", date(2026, 11, 24), "20261124"),  # 12:30 local
        (
            datetime(2026, 11, 23, 23, 0, tzinfo=UTC),
            "breakfast",
            date(2026, 11, 24),
            "20261124",
        ),  # 07:00 local
        (datetime(2026, 11, 24, 10, 0, tzinfo=UTC), "dinner", date(2026, 11, 24), "20261124"),  # 18:00 local
        (
            datetime(2026, 11, 24, 19, 30, tzinfo=UTC),
            "dinner",
            date(2026, 11, 24),
            "20261125",
        ),  # 03:30 on the 25th
    ],
)
def test_meal_is_inferred_from_local_time(
    chat: Chat, at: datetime, meal: str, service_date: date, ref_day: str
) -> None:
    out = chat.text("4 还可以", at=at)
    [fb] = chat.feedbacks()
    assert (fb.meal, fb.service_date) == (meal, service_date)
    assert ref_in(out) == f"FK{ref_day}-0001"


def test_said_meal_wins_over_the_clock(chat: Chat) -> None:
    chat.text("早餐 2 包子凉了")  # said at 12:30 local
    [fb] = chat.feedbacks()
    assert (fb.meal, fb.score, fb.comment) == ("breakfast", 2, "包子凉了")


# --- help, staff, unsupported ---------------------------------------------------------------------


@pytest.mark.parametrize("word", ["帮助", "help", "？"])
def test_help_reply(chat: Chat, word: str) -> None:
    out = chat.text(word)
    assert out.text == texts.HELP.format(fonds=chat.settings.fonds_name, minutes=chat.settings.dialog_minutes)
    assert chat.settings.fonds_name in out.text and "反馈 午餐 4" in out.text
    assert out.feedback_id is None
    assert chat.count(Feedback) == 0 and chat.dialog() is None


def test_staff_command_from_a_stranger_is_refused_not_feedback(chat: Chat) -> None:
    from lookups import texts as lookup_texts

    out = chat.text("查档 红烧肉")
    assert out.text == lookup_texts.NOT_STAFF
    assert chat.count(Feedback) == 0


@pytest.mark.parametrize("msg_type", ["video", "shortvideo", "location", "link", "unknown"])
def test_unsupported_types_get_a_polite_reply(chat: Chat, msg_type: str) -> None:
    out = chat.send(msg_type, media_id="M")
    assert out.text == texts.UNSUPPORTED
    assert chat.count(Feedback) == 0 and chat.count(FeedbackMedia) == 0


def test_unknown_event_is_not_a_person_talking(chat: Chat) -> None:
    assert chat.event("user_teleported").text == ""


# --- archived feedback is read-only ---------------------------------------------------------------


def _archive(chat: Chat, fb: Feedback) -> None:
    fb.volume_id = 1
    chat.session.add(fb)
    chat.session.commit()
    chat.session.expire_all()


@pytest.mark.parametrize(
    "send",
    [
        lambda c, at: c.text("4", at=at),
        lambda c, at: c.text("还有米饭太硬", at=at),
        lambda c, at: c.send("image", media_id="MEDIA_A", at=at),
        lambda c, at: c.send("voice", media_id="VOICE_A", recognition="5分 鱼好", at=at),
        lambda c, at: c.send("voice", media_id="VOICE_B", at=at),
    ],
    ids=["score", "text", "image", "voice-scored", "voice-plain"],
)
def test_archived_feedback_is_never_modified(chat: Chat, send: Any) -> None:
    chat.text("汤太咸")
    [archived] = chat.feedbacks()
    before = (archived.score, archived.comment, archived.updated_at)
    assert chat.dialog().feedback_id == archived.id  # type: ignore[union-attr]
    _archive(chat, archived)

    out = send(chat, NOW + timedelta(minutes=1))
    old, new = chat.feedbacks()
    assert old.id == archived.id
    assert (old.score, old.comment, old.updated_at) == before
    assert chat.media(old) == []
    events = (
        chat.session.execute(select(FeedbackEvent).where(FeedbackEvent.feedback_id == old.id)).scalars().all()
    )
    assert events == []
    assert out.feedback_id == new.id and new.volume_id is None
    assert new.reference in out.text and old.reference not in out.text
    assert chat.dialog().feedback_id == new.id  # type: ignore[union-attr]
