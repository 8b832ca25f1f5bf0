"""The feedback tables (Site, Meeting, Person, Feedback, FeedbackMedia, FeedbackEvent, and the form's
FeedbackAspect and FeedbackForm), InboundMessage (every verified delivery from WeChat, the record a feedback
came from), and their vocabularies (Channel, Meal, Status, Action, Revisit)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Integer, Text
from sqlmodel import Field, SQLModel

from core.clock import utcnow


class Channel(StrEnum):
    """What the feedback is about: the canteen (食堂) or a hosted meeting (会务)."""

    canteen = "canteen"
    meeting = "meeting"


class Meal(StrEnum):
    """Meal periods (餐次)."""

    breakfast = "breakfast"
    lunch = "lunch"
    dinner = "dinner"


class Status(StrEnum):
    """Feedback states: new → acknowledged → rectifying → resolved → closed."""

    new = "new"
    acknowledged = "acknowledged"
    rectifying = "rectifying"
    resolved = "resolved"
    closed = "closed"


class Action(StrEnum):
    """What a FeedbackEvent records (its `action`)."""

    diner_added = "diner_added"
    acknowledged = "acknowledged"
    replied = "replied"  # detail: the reply text sent to the diner
    rectification = "rectification"  # detail: JSON of 措施, 责任人, 期限, 完成情况
    resolved = "resolved"
    closed = "closed"
    archived = "archived"
    escalated = "escalated"  # detail: to whom an overdue item went
    revisit_asked = "revisit_asked"  # 回访: the question went to the diner (detail: how it was sent)
    revisit_answered = "revisit_answered"  # detail: 1 满意, 2 基本满意, 3 不满意
    reopened = "reopened"  # a 不满意 return visit sent the feedback back to the manager


class Revisit(StrEnum):
    """The diner's answer to the return visit (回访): how they judge the handling."""

    satisfied = "1"  # 满意
    mostly = "2"  # 基本满意
    unsatisfied = "3"  # 不满意


class Site(SQLModel, table=True):
    """A canteen (食堂) or a venue (会场)."""

    __tablename__ = "site"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=100)
    kind: str = Field(default="canteen", max_length=20)  # canteen or venue
    active: bool = True


class Meeting(SQLModel, table=True):
    """A meeting the bureau hosts (会务接待); attendees reach its feedback window by its code or QR."""

    __tablename__ = "meeting"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    title: str = Field(max_length=200)
    starts_on: date
    ends_on: date
    venue: str = Field(default="", max_length=200)
    organiser: str = Field(default="", max_length=200)
    qr_ticket: str | None = Field(default=None, max_length=200)
    qr_url: str | None = Field(default=None, max_length=500)
    qr_expires_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Person(SQLModel, table=True):
    """Someone who messages the bot or uses the console: WeChat openid and/or WeCom userid, staff details."""

    __tablename__ = "person"
    id: int | None = Field(default=None, primary_key=True)
    openid: str | None = Field(default=None, max_length=128, unique=True)
    wecom_userid: str | None = Field(default=None, max_length=128, unique=True)
    staff_no: str | None = Field(default=None, max_length=40, unique=True)
    name: str = Field(default="", max_length=100)
    department: str = Field(default="", max_length=200)
    roles: str = Field(default="", max_length=200)  # comma-separated: archivist, canteen_manager, …
    created_at: datetime = Field(default_factory=utcnow)


class Feedback(SQLModel, table=True):
    """One diner's or attendee's feedback: score, comment, media, and where it is in the handling loop."""

    __tablename__ = "feedback"
    __table_args__ = (
        Index("ix_feedback_service_date_channel", "service_date", "channel"),
        Index("ix_feedback_sender_created", "sender", "created_at"),
        # the worklist (今日待办) and the escalation job: open items by deadline (migration 0011); misuse
        # and channel too, so that the worklist's counts read the index alone (migration 0018_console)
        Index("ix_feedback_status_ack_due_open", "status", "ack_due_at", "misuse", "channel"),
        Index("ix_feedback_status_rectify_due_open", "status", "rectify_due_at", "misuse", "channel"),
        Index("ix_feedback_created_id", "created_at", "id"),  # the inbox, newest first, by keyset
        # the per-day rollups' dirty days (feedback.rollup, migration 0015): rows changed since the last look
        Index("ix_feedback_updated_service", "updated_at", "service_date"),
        # the console's live days in one pass over the index alone (feedback.live, migration 0019_console_live)
        Index(
            "ix_feedback_live",
            *("service_date", "channel", "site_id", "meeting_id", "meal", "acknowledged_by", "topics"),
            *("misuse", "score", "acknowledged_at", "ack_due_at", "rectified_at", "rectify_due_at"),
            "revisit_answer",
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=40, unique=True)
    channel: str = Field(default=Channel.canteen, max_length=20)
    source: str = Field(default="mp", max_length=20)  # mp (also the simulator), wecom, h5 (the form), demo
    sender: str = Field(max_length=128)
    site_id: int | None = Field(default=None, foreign_key="site.id")
    table_no: str | None = Field(default=None, max_length=40)
    meeting_id: int | None = Field(default=None, foreign_key="meeting.id")
    meal: str | None = Field(default=None, max_length=20)
    service_date: date
    score: int | None = None
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # comment + site name / meeting title as character and pair tokens (feedback.tokens); indexed by
    # migration 0004 (SQLite FTS5 table feedback_fts, PostgreSQL generated column search_vector)
    search_tokens: str = Field(
        default="", sa_column=Column(Text, nullable=False, default="", server_default="")
    )
    topics: str = Field(default="", max_length=400)
    status: str = Field(default=Status.new, max_length=20, index=True)
    misuse: bool = False
    volume_id: int | None = Field(default=None, index=True)
    # the handling loop's clock (HOUQIN_SLA, in working time) and the return visit (回访), migration 0007
    ack_due_at: datetime | None = None
    rectify_due_at: datetime | None = None
    escalated_at: datetime | None = None
    revisit_asked_at: datetime | None = None
    revisit_answer: int | None = None  # Revisit: 1 满意, 2 基本满意, 3 不满意
    revisit_answered_at: datetime | None = None
    # --- 三率 (issue 13, migration 0011): when and by whom it was first acknowledged (首接负责), when rectified
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = Field(default=None, max_length=128)
    rectified_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class FeedbackMedia(SQLModel, table=True):
    """A photo or voice note attached to a feedback: fetched from WeChat into HOUQIN_DATA_DIR/media by a job,
    or stored there at once when it came with the form."""

    __tablename__ = "feedback_media"
    id: int | None = Field(default=None, primary_key=True)
    feedback_id: int = Field(foreign_key="feedback.id", index=True)
    kind: str = Field(max_length=20)  # image or voice
    media_id: str = Field(default="", max_length=200)
    url: str = Field(default="", max_length=1000)
    recognition: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    local_path: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    # --- issue 11: a failing download backs off and stops (feedback/media.py) ---
    fetch_attempts: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, default=0, server_default="0")
    )
    next_fetch_at: datetime | None = Field(default=None)
    fetch_error: str = Field(default="", max_length=300, sa_column_kwargs={"server_default": ""})


class FeedbackEvent(SQLModel, table=True):
    """Append-only history of a feedback: who did what, when."""

    __tablename__ = "feedback_event"
    id: int | None = Field(default=None, primary_key=True)
    feedback_id: int = Field(foreign_key="feedback.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=40)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


# --- the tap-to-rate page (h5/, issue 15; migration 0013) -------------------------------------------


class FeedbackAspect(SQLModel, table=True):
    """One aspect's 1–5 stars on a feedback from the form (canteens: 口味, 卫生, …; meetings: 会场, 会务, …)."""

    __tablename__ = "feedback_aspect"
    __table_args__ = (Index("ux_feedback_aspect_feedback_aspect", "feedback_id", "aspect", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    feedback_id: int = Field(foreign_key="feedback.id")
    aspect: str = Field(max_length=20)
    score: int


class FeedbackForm(SQLModel, table=True):
    """One accepted form submission: its idempotency key (a resubmit finds it), who sent it, where, and a
    fingerprint of its content (repeated identical submissions are flagged as misuse)."""

    __tablename__ = "feedback_form"
    __table_args__ = (
        Index("ix_feedback_form_diner_created", "diner", "created_at"),
        Index("ix_feedback_form_place_created", "place", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    diner: str = Field(max_length=128)
    place: str = Field(max_length=100)  # canteen:<site> or meeting:<code>
    feedback_id: int = Field(foreign_key="feedback.id", index=True)
    fingerprint: str = Field(max_length=64)
    edited: bool = False  # this submission changed an earlier feedback (within the edit window)
    created_at: datetime = Field(default_factory=utcnow)


class InboundMessage(SQLModel, table=True):
    """A verified inbound message or event; `dedupe_key` is unique so WeChat's retries store nothing twice."""

    __tablename__ = "inbound_message"
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=300, unique=True)
    app: str = Field(default="mp", max_length=10)
    sender: str = Field(max_length=128)
    msg_type: str = Field(max_length=40)
    event: str | None = Field(default=None, max_length=60)
    created_at: datetime  # WeChat's CreateTime
    received_at: datetime = Field(default_factory=utcnow)
    raw_xml: str = Field(sa_column=Column(Text, nullable=False))
    reply: str | None = Field(default=None, sa_column=Column(Text))
    feedback_id: int | None = Field(default=None, foreign_key="feedback.id")
    outcome: str = Field(default="handled", max_length=20)  # handled, failed


# --- per-day rollups for the dashboard and the 三率 at a million feedbacks (feedback.rollup, migration 0015) --


class FeedbackDaily(SQLModel, table=True):
    """The counts, scores and 三率 of one service day × channel × canteen/meeting × meal × first acknowledger
    (misuse left out), with the earliest deadline still ahead when it was computed (then it is due again)."""

    __tablename__ = "feedback_daily"
    id: int | None = Field(default=None, primary_key=True)
    service_date: date = Field(index=True)
    channel: str = Field(max_length=20)
    site_id: int | None = None
    meeting_id: int | None = None
    meal: str | None = Field(default=None, max_length=20)
    manager: str | None = Field(default=None, max_length=128)
    n: int = 0
    scored: int = 0
    total: int = 0
    satisfied: int = 0
    response_hits: int = 0
    response_n: int = 0
    resolution_hits: int = 0
    resolution_n: int = 0
    satisfaction_hits: int = 0
    satisfaction_n: int = 0
    ack_pending: datetime | None = Field(default=None, index=True)
    rectify_pending: datetime | None = Field(default=None, index=True)


class FeedbackDailyPart(SQLModel, table=True):
    """One service day's counts and scores per topic (kind `topic`) or per form aspect (kind `aspect`: 口味, …)
    of one channel × canteen/meeting (misuse left out)."""

    __tablename__ = "feedback_daily_part"
    id: int | None = Field(default=None, primary_key=True)
    service_date: date = Field(index=True)
    channel: str = Field(max_length=20)
    site_id: int | None = None
    meeting_id: int | None = None
    kind: str = Field(max_length=10)
    name: str = Field(max_length=40)
    n: int = 0
    scored: int = 0
    total: int = 0
    satisfied: int = 0


class RollupState(SQLModel, table=True):
    """The one row saying what the rollups hold: service days before `covered_until`, computed with the clock
    at `judged_at`, and every feedback changed before `marked_at` taken in."""

    __tablename__ = "feedback_rollup_state"
    id: int | None = Field(default=None, primary_key=True)
    covered_until: date | None = None
    judged_at: datetime | None = None
    marked_at: datetime | None = None
    # one more at every rebuild: what the process caches of the console's figures are keyed by (migration
    # 0018_console, feedback.live)
    generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
