"""The JSON API's request and response shapes (`/api/v1`; they are the OpenAPI spec's components)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from console import inputs

VolumeState = Literal["building", "sealed", "received"]
Outcome = Literal["pass", "fail", "not_checked"]  # not_checked: a 四性 check that could not run (no ClamAV)
Decision = Literal["pending", "approved", "rejected"]


class Me(BaseModel):
    """The caller."""

    username: str
    display_name: str
    role: str
    role_name: str
    csrf_token: str | None = Field(
        description="send as X-CSRF-Token on POST/PUT (cookie sessions; null for bearer)"
    )


class FeedbackOut(BaseModel):
    """One feedback as the inbox lists it."""

    id: int
    reference: str
    channel: str
    source: str
    site: str | None
    table_no: str | None
    meeting: str | None
    meeting_code: str | None
    meal: str | None
    meal_label: str | None
    service_date: date
    score: int | None
    comment: str
    topics: list[str]
    status: str
    status_label: str
    alert: str | None = Field(description="why it needs attention now (low score, food safety), while new")
    archived: bool
    created_at: datetime
    updated_at: datetime
    # the handling loop's clock (HOUQIN_SLA) and the return visit (回访)
    ack_due_at: datetime | None = None
    rectify_due_at: datetime | None = None
    ack_overdue: bool = Field(default=False, description="not acknowledged and past ack_due_at")
    rectify_overdue: bool = Field(default=False, description="not rectified and past rectify_due_at")
    revisit_asked_at: datetime | None = None
    revisit_answer: int | None = Field(default=None, description="1 满意, 2 基本满意, 3 不满意")
    revisit_answer_label: str | None = None
    revisit_answered_at: datetime | None = None


class FeedbackPage(BaseModel):
    """A page of the filtered inbox (keyset pagination: pass `next_cursor` back as `cursor`)."""

    total: int = Field(description="how many feedbacks match the filters, on every page")
    items: list[FeedbackOut]
    next_cursor: str | None = Field(description="the next page's `cursor`; null on the last page")
    prev_cursor: str | None = Field(description="the previous page's `cursor`; null on the first page")


class EventOut(BaseModel):
    """One entry of a feedback's history."""

    at: datetime
    actor: str
    action: str
    action_label: str
    detail: str


class MediaOut(BaseModel):
    """A photo or voice note."""

    id: int
    kind: str
    recognition: str
    url: str | None


class ReplyWindowOut(BaseModel):
    """Whether a reply can still reach the diner (WeChat's 48-hour customer-service window)."""

    deliverable: bool
    closes_at: datetime | None


class DeliveryOut(BaseModel):
    """A message to the diner about this feedback, and what became of it (from the outbox)."""

    at: datetime
    text: str
    state: Literal["queued", "retrying", "sent", "undeliverable", "not_queued"]
    state_label: str
    sent_at: datetime | None


class FeedbackDetail(FeedbackOut):
    """One feedback with its history, media and reply window."""

    pseudonym: str
    events: list[EventOut]
    media: list[MediaOut]
    reply_window: ReplyWindowOut
    allowed_actions: list[str] = Field(
        description="the actions its state allows (none once closed or archived)"
    )
    deliveries: list[DeliveryOut]


class ActionIn(BaseModel):
    """Fields of a handling action: `text` for reply; `measure`, `owner`, `deadline`, `progress` for rectification."""

    text: inputs.Text = Field(default="", max_length=600)
    measure: inputs.Text = Field(default="", max_length=500)
    owner: inputs.Text = Field(default="", max_length=100)
    deadline: inputs.Text = Field(default="", max_length=20)
    progress: inputs.Text = Field(default="", max_length=500)


class ActionOut(BaseModel):
    """What the action did."""

    message: str
    feedback: FeedbackOut


class BulkIn(BaseModel):
    """Acknowledge or close many feedbacks at once."""

    ids: list[inputs.DbId] = Field(max_length=1000)
    action: Literal["acknowledge", "close"]


class BulkOut(BaseModel):
    """How many changed (archived or other roles' feedback is skipped)."""

    changed: int


class GroupOut(BaseModel):
    """Counts and scores of one slice."""

    label: str
    n: int
    scored: int
    mean: float | None
    csat: float | None = Field(description="share of scores 4–5, in %, of `scored`")


class WordOut(BaseModel):
    """A frequent two-character word in comments."""

    word: str
    n: int


class DashboardOut(BaseModel):
    """The dashboard for a date range (service dates, inclusive)."""

    start: date
    end: date
    overall: GroupOut
    replied: int
    response_rate: float | None
    first_reply_hours: float | None
    close_hours: float | None
    by_day: list[GroupOut]
    by_week: list[GroupOut]
    by_site: list[GroupOut]
    by_meal: list[GroupOut]
    by_meeting: list[GroupOut]
    words: list[WordOut]
    rates: dict[str, Any] = Field(
        default_factory=dict,
        description="三率: response, resolution, satisfaction (pct, n, previous, change) overall and by_site, "
        "by_meeting, by_manager",
    )
    aspects: dict[str, Any] = Field(
        default_factory=dict,
        description="the form's per-aspect stars (口味, 卫生, 服务, 环境 / 会场, 会务, 餐饮, 住宿): overall "
        "[{label, n, scored, mean, csat}], by_site and by_meeting [{label, aspects: [...]}]",
    )


class WorkItemOut(BaseModel):
    """One line of 今日待办: a count, a few items, and the inbox tab that lists exactly those."""

    tab: str
    label: str
    count: int
    inbox: str
    items: list[dict[str, Any]]


class MeetingFields(BaseModel):
    """A meeting's editable details."""

    title: inputs.Text = Field(min_length=1, max_length=200)
    starts_on: date
    ends_on: date
    venue: inputs.Text = Field(default="", max_length=200)
    organiser: inputs.Text = Field(default="", max_length=200)


class MeetingIn(MeetingFields):
    """A new meeting: its code (letters, digits, - or _) goes into the QR scene `meeting:<code>`."""

    code: str = Field(min_length=1, max_length=40, pattern=r"^\s*[A-Za-z0-9_-]+\s*$")


class MeetingOut(BaseModel):
    """A meeting."""

    id: int
    code: str
    title: str
    starts_on: date
    ends_on: date
    venue: str
    organiser: str
    qr_url: str | None
    qr_expires_at: datetime | None
    feedback_count: int
    mean_score: float | None
    poster_url: str


class VolumeOut(BaseModel):
    """A bound volume (案卷)."""

    archival_code: str
    title: str
    period: str
    channel: str
    retention: str
    classification: str
    item_count: int
    date_from: date
    date_to: date
    status: VolumeState
    sealed_at: datetime | None
    received_at: datetime | None
    received_by: str | None = Field(description="检查人")
    download_url: str | None
    pdf_url: str | None = Field(default=None, description="版式副本（PDF/A-2b），封卷后")


class FixityEventOut(BaseModel):
    """One fixity check or receipt."""

    at: datetime
    event_type: str
    outcome: Outcome
    agent: str
    detail: str


class VolumeDetail(VolumeOut):
    """A volume with its digests and fixity history."""

    compiler: str
    content_sha256: str | None
    content_sm3: str | None
    file_sha256: str | None
    file_sm3: str | None
    seal: str | None
    prev_archival_code: str | None
    events: list[FixityEventOut]


class ReceiveOut(BaseModel):
    """The outcome of validate-and-receive; refusals (409) list the problems."""

    archival_code: str
    received: bool
    problems: list[str]
    volume: VolumeOut | None


class LookupOut(BaseModel):
    """A row of the access register (查阅登记簿)."""

    register_no: str
    requested_at: datetime
    channel: str
    requester_name: str
    department: str
    purpose: str
    use_mode: str
    archival_code: str
    title: str
    decision: Decision
    decision_label: str
    approver: str | None
    decided_at: datetime | None
    conditions: str
    access_expires_at: datetime | None
    accesses: int
    # 利用效果反馈 (issue 14): 1 解决问题, 2 部分解决, 3 未解决; the label (待反馈 once asked), note and time
    effect: int | None = None
    effect_label: str = ""
    effect_note: str | None = None
    effect_at: datetime | None = None


class DecisionIn(BaseModel):
    """Approve or reject; rejecting needs a reason (sent to the requester)."""

    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=500)
