"""The JSON API behind the console (`/api/v1`, OpenAPI at `/docs`): feedback and its handling, the
dashboard, meetings, volumes and lookups — the same roles and the same domain calls as the pages.

Callers authenticate with the console's session cookie (then every POST/PUT needs the session's CSRF
token in `X-CSRF-Token`; `GET /api/v1/me` returns it) or with `Authorization: Bearer <token>`
(`houqin token create`; no CSRF). No credentials: 401; the wrong role: 403.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import Session, col

from console import archive, inputs, meetings, texts
from console.auth import ROLES_ALL, DbSession, Principal, check_csrf, require
from console.delivery import deliveries
from console.pages import (
    ACTION_NAMES,
    MANAGERS,
    ROLE_NAMES,
    _visible,
    channel_of,
    filtered_feedback,
    run_action,
)
from core.clock import to_local, utcnow
from core.settings import Settings
from exports import fixity
from exports.models import Volume
from feedback import rates, review, stats, worklist
from feedback.alerts import alert_reason
from feedback.models import Feedback, FeedbackMedia, Meal, Meeting, Site, Status
from feedback.service import ArchivedError, pseudonym
from feedback.vocabulary import MEAL_LABELS, STATUS_LABELS
from lookups import texts as lt
from lookups.models import LookupRequest

bearer = HTTPBearer(
    auto_error=False, description="`houqin token create <user>`; or use the console's session cookie"
)
router = APIRouter(prefix="/api/v1", dependencies=[Depends(bearer)])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
VolumeState = Literal["building", "sealed", "received"]
Outcome = Literal["pass", "fail", "not_checked"]  # not_checked: a 四性 check that could not run (no ClamAV)
Decision = Literal["pending", "approved", "rejected"]
CsrfHeader = Annotated[
    str | None, Header(alias="X-CSRF-Token", description="the session's CSRF token (cookie sessions only)")
]


def _writes(who: Principal, token: str | None) -> None:
    check_csrf(who, token)


# --- models -------------------------------------------------------------------------------------------


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


class DecisionIn(BaseModel):
    """Approve or reject; rejecting needs a reason (sent to the requester)."""

    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=500)


# --- conversions --------------------------------------------------------------------------------------


def _names(db: Session) -> tuple[dict[int | None, str], dict[int | None, Meeting]]:
    return (
        {s.id: s.name for s in db.execute(select(Site)).scalars()},
        {m.id: m for m in db.execute(select(Meeting)).scalars()},
    )


def _feedback(fb: Feedback, sites: dict[int | None, str], mtgs: dict[int | None, Meeting]) -> dict[str, Any]:
    m = mtgs.get(fb.meeting_id) if fb.meeting_id else None
    return {
        "id": fb.id,
        "reference": fb.reference,
        "channel": fb.channel,
        "source": fb.source,
        "site": sites.get(fb.site_id) if fb.site_id else None,
        "table_no": fb.table_no,
        "meeting": m.title if m else None,
        "meeting_code": m.code if m else None,
        "meal": fb.meal,
        "meal_label": MEAL_LABELS.get(Meal(fb.meal)) if fb.meal else None,
        "service_date": fb.service_date,
        "score": fb.score,
        "comment": fb.comment,
        "topics": [t for t in fb.topics.split(",") if t],
        "status": fb.status,
        "status_label": STATUS_LABELS.get(Status(fb.status), fb.status),
        "alert": alert_reason(score=fb.score, comment=fb.comment) if fb.status == Status.new else None,
        "archived": fb.volume_id is not None,
        "created_at": fb.created_at,
        "updated_at": fb.updated_at,
        **loop_fields(fb),
    }


def _feedback_out(db: Session, fb: Feedback) -> FeedbackOut:
    sites, mtgs = _names(db)
    return FeedbackOut(**_feedback(fb, sites, mtgs))


def _volume(v: Volume) -> VolumeOut:
    readable = v.status in ("sealed", "received")
    return VolumeOut(
        archival_code=v.archival_code,
        title=v.title,
        period=v.period,
        channel=v.channel,
        retention=v.retention,
        classification=v.classification,
        item_count=v.item_count,
        date_from=v.date_from,
        date_to=v.date_to,
        status=cast(VolumeState, v.status),
        sealed_at=v.sealed_at,
        received_at=v.received_at,
        received_by=v.received_by,
        download_url=f"/api/v1/volumes/{v.archival_code}/file" if readable else None,
    )


def _lookup(r: LookupRequest) -> LookupOut:
    return LookupOut(
        register_no=r.register_no,
        requested_at=r.requested_at,
        channel=r.channel,
        requester_name=r.requester_name,
        department=r.department,
        purpose=r.purpose,
        use_mode=r.use_mode,
        archival_code=r.archival_code,
        title=r.title,
        decision=cast(Decision, r.decision),
        decision_label=lt.STATUS.get(r.decision, r.decision),
        approver=r.approver,
        decided_at=r.decided_at,
        conditions=r.conditions,
        access_expires_at=r.access_expires_at,
        accesses=r.accesses,
    )


def _meeting(m: Meeting, counts: dict[int, tuple[int, float | None]]) -> MeetingOut:
    n, mean = counts.get(m.id or 0, (0, None))
    return MeetingOut(
        id=m.id or 0,
        code=m.code,
        title=m.title,
        starts_on=m.starts_on,
        ends_on=m.ends_on,
        venue=m.venue,
        organiser=m.organiser,
        qr_url=m.qr_url,
        qr_expires_at=m.qr_expires_at,
        feedback_count=n,
        mean_score=mean,
        poster_url=f"/api/v1/meetings/{m.code}/poster.png",
    )


# --- who ----------------------------------------------------------------------------------------------


@router.get("/me", response_model=Me, tags=["account"])
def me(who: Principal = Depends(require(*ROLES_ALL))) -> Me:
    """The caller's account, and the CSRF token a cookie session sends on writes."""
    u = who.user
    return Me(
        username=u.username,
        display_name=u.display_name,
        role=u.role,
        role_name=ROLE_NAMES[u.role],
        csrf_token=who.csrf,
    )


# --- feedback -----------------------------------------------------------------------------------------


@router.get("/feedback", response_model=FeedbackPage, tags=["feedback"])
def list_feedback(
    request: Request,
    db: DbSession,
    who: Principal = Depends(require(*MANAGERS)),
    start: date | None = None,
    end: date | None = None,
    site: Annotated[int | None, Query(ge=1, le=inputs.MAX_ID)] = None,
    meeting: Annotated[int | None, Query(ge=1, le=inputs.MAX_ID)] = None,
    meal: Meal | None = None,
    score: Annotated[
        str | None, Query(pattern=r"^([1-5]|none)$", description="1–5, or `none` (unscored)")
    ] = None,
    status: Status | None = None,
    topic: str | None = None,
    q: Annotated[str | None, Query(description="full-text search of comments")] = None,
    sort: Literal["new", "low"] = "new",
    tab: Annotated[
        str | None,
        Query(
            description="a quick tab (`pending` 待处理, `alerts_unacked` 预警未受理, `rectify_overdue` 整改逾期, `today` 今天) "
            "or a 今日待办 line (`ack_overdue`, `rectify_due_today`, `lowest_yesterday`)"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="`next_cursor` or `prev_cursor` of a page")] = None,
) -> FeedbackPage:
    """The inbox with the same filters and tabs as the console (canteen managers see the canteen, reception
    managers meetings), a page at a time: each page's `next_cursor` fetches the next."""
    f = {
        k: str(v)
        for k, v in {
            "start": start,
            "end": end,
            "site": site,
            "meeting": meeting,
            "meal": meal.value if meal else None,
            "score": score,
            "status": status.value if status else None,
            "topic": topic,
            "q": q,
            "sort": sort,
            "tab": tab,
        }.items()
        if v is not None
    }
    page = filtered_feedback(db, who, f, settings=request.app.state.settings, limit=limit, cursor=cursor)
    sites, mtgs = _names(db)
    return FeedbackPage(
        total=page.total,
        items=[FeedbackOut(**_feedback(fb, sites, mtgs)) for fb in page.rows],
        next_cursor=page.next_cursor,
        prev_cursor=page.prev_cursor,
    )


@router.get("/feedback/{feedback_id}", response_model=FeedbackDetail, tags=["feedback"])
def get_feedback(
    feedback_id: inputs.IdPath, request: Request, db: DbSession, who: Principal = Depends(require(*MANAGERS))
) -> FeedbackDetail:
    """One feedback with its event trail, media and reply window."""
    settings: Settings = request.app.state.settings
    fb = _visible(db, who, feedback_id)
    sites, mtgs = _names(db)
    window = review.reply_window(db, fb=fb)
    events = [
        EventOut(
            at=e.at,
            actor=e.actor if e.action != "diner_added" else "反馈人",
            action=e.action,
            action_label=ACTION_NAMES.get(e.action, e.action),
            detail=e.detail,
        )
        for e in review.history(db, feedback_id=feedback_id)
    ]
    media = [
        MediaOut(
            id=m.id or 0,
            kind=m.kind,
            recognition=m.recognition,
            url=f"/console/media/{m.id}" if m.local_path else None,
        )
        for m in db.execute(select(FeedbackMedia).where(col(FeedbackMedia.feedback_id) == fb.id)).scalars()
    ]
    return FeedbackDetail(
        **_feedback(fb, sites, mtgs),
        pseudonym=pseudonym(fb.sender, secret=settings.pseudonym_secret),
        events=events,
        media=media,
        reply_window=ReplyWindowOut(deliverable=window.deliverable, closes_at=window.window_closes),
        allowed_actions=sorted(review.allowed_actions(fb)),
        deliveries=[
            DeliveryOut(
                at=d.at,
                text=d.text,
                state=cast(Any, d.state),
                state_label=texts.DELIVERY[d.state],
                sent_at=d.sent_at,
            )
            for d in deliveries(db, fb)
        ],
    )


@router.post("/feedback/bulk", response_model=BulkOut, tags=["feedback"])
def bulk_feedback(
    body: BulkIn, db: DbSession, x_csrf_token: CsrfHeader = None, who: Principal = Depends(require(*MANAGERS))
) -> BulkOut:
    """Acknowledge or close the given feedbacks; archived ones and other roles' are skipped."""
    _writes(who, x_csrf_token)
    mine = [
        i
        for i in body.ids
        if (fb := db.get(Feedback, i)) is not None and channel_of(who) in (None, fb.channel)
    ]
    n = review.bulk(db, feedback_ids=mine, actor=who.user.display_name, action=body.action)
    db.commit()
    return BulkOut(changed=n)


@router.post(
    "/feedback/{feedback_id}/actions/{action}",
    response_model=ActionOut,
    tags=["feedback"],
    responses={
        404: {"description": "no such feedback (for this role)"},
        409: {"description": "archived: read-only"},
        422: {"description": "the action cannot be taken (message says why)"},
    },
)
def feedback_action(
    feedback_id: inputs.IdPath,
    action: Literal["acknowledge", "reply", "rectification", "resolve", "close"],
    request: Request,
    db: DbSession,
    body: ActionIn | None = None,
    x_csrf_token: CsrfHeader = None,
    who: Principal = Depends(require(*MANAGERS)),
) -> ActionOut:
    """受理, 回复 (to the diner through the outbox, within WeChat's 48 h window), 整改, 已整改, 办结."""
    _writes(who, x_csrf_token)
    _visible(db, who, feedback_id)
    values = (body or ActionIn()).model_dump()
    try:
        msg = run_action(
            db,
            feedback_id=feedback_id,
            action=action,
            actor=who.user.display_name,
            values=values,
            template_id=request.app.state.settings.wechat_reply_template_id,
        )
    except ArchivedError as exc:
        db.rollback()
        raise HTTPException(409, "已归档的反馈不能修改") from exc
    except review.ReviewError as exc:
        db.rollback()
        raise HTTPException(422, str(exc)) from exc
    db.commit()
    fb = db.get(Feedback, feedback_id)
    assert fb is not None
    return ActionOut(message=msg, feedback=_feedback_out(db, fb))


# --- dashboard ----------------------------------------------------------------------------------------


@router.get("/dashboard", response_model=DashboardOut, tags=["feedback"])
def dashboard(
    request: Request,
    db: DbSession,
    who: Principal = Depends(require(*MANAGERS)),
    start: date | None = None,
    end: date | None = None,
) -> DashboardOut:
    """Counts, CSAT, response and handling times, trends and breakdowns (default: the last 30 days)."""
    settings: Settings = request.app.state.settings
    today = to_local(utcnow(), settings.tz).date()
    try:
        start, end = inputs.date_range(start, end, today=today)
    except inputs.InputError as exc:
        raise HTTPException(422, str(exc)) from exc
    data = stats.dashboard(db, settings=settings, start=start, end=end, channel=channel_of(who)).as_dict()
    data["words"] = [{"word": w, "n": n} for w, n in data["words"]]
    data["rates"] = rates.rates(db, start=start, end=end, now=utcnow(), channel=channel_of(who)).as_dict()
    return DashboardOut(start=start, end=end, **data)


# --- 今日待办 (issue 13) ----------------------------------------------------------------------------------


@router.get("/worklist", response_model=list[WorkItemOut], tags=["feedback"])
def get_worklist(
    request: Request, db: DbSession, who: Principal = Depends(require(*MANAGERS))
) -> list[WorkItemOut]:
    """今日待办: unacknowledged alerts, past the acknowledge deadline, rectifications due today and overdue,
    yesterday's lowest scores; each with the inbox link (`GET /api/v1/feedback?tab=…`) that lists exactly those."""
    settings: Settings = request.app.state.settings
    lines = worklist.worklist(
        db, now=utcnow(), tz=settings.tz, max_score=settings.sla.max_score, channel=channel_of(who)
    )
    return [
        WorkItemOut(
            tab=w.tab, label=w.label, count=w.count, inbox=f"/console/feedback?tab={w.tab}", items=w.items
        )
        for w in lines
    ]


def loop_fields(fb: Feedback) -> dict[str, Any]:
    """The feedback's deadlines, whether it is past them (shown red), and its return-visit answer."""
    return worklist.loop_fields(fb, now=utcnow())


# --- meetings -----------------------------------------------------------------------------------------


@router.get("/meetings", response_model=list[MeetingOut], tags=["meetings"])
def list_meetings(db: DbSession, who: Principal = Depends(require(*meetings.RECEPTION))) -> list[MeetingOut]:
    """Every meeting, latest first, with its feedback count and mean score."""
    counts = meetings.feedback_counts(db)
    return [_meeting(m, counts) for m in meetings.all_meetings(db)]


@router.post("/meetings", response_model=MeetingOut, status_code=201, tags=["meetings"])
def create_meeting(
    body: MeetingIn,
    db: DbSession,
    x_csrf_token: CsrfHeader = None,
    who: Principal = Depends(require(*meetings.RECEPTION)),
) -> MeetingOut:
    """Register a meeting (its QR is issued when the poster is first drawn)."""
    _writes(who, x_csrf_token)
    values = meetings.MeetingValues(
        title=body.title,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        venue=body.venue,
        organiser=body.organiser,
    )
    try:
        m = meetings.create_meeting(db, code=body.code, values=values)
    except meetings.MeetingError as exc:
        db.rollback()
        raise HTTPException(409 if "已被使用" in str(exc) else 422, str(exc)) from exc
    db.commit()
    return _meeting(m, {})


@router.get("/meetings/{code}", response_model=MeetingOut, tags=["meetings"])
def get_meeting(
    code: str, db: DbSession, who: Principal = Depends(require(*meetings.RECEPTION))
) -> MeetingOut:
    """One meeting."""
    return _meeting(meetings.meeting_by_code(db, code), meetings.feedback_counts(db))


@router.put("/meetings/{code}", response_model=MeetingOut, tags=["meetings"])
def update_meeting(
    code: str,
    body: MeetingFields,
    db: DbSession,
    x_csrf_token: CsrfHeader = None,
    who: Principal = Depends(require(*meetings.RECEPTION)),
) -> MeetingOut:
    """Change title, dates, venue and organiser (the code stays: printed posters carry it)."""
    _writes(who, x_csrf_token)
    m = meetings.meeting_by_code(db, code)
    try:
        meetings.update_meeting(db, m, meetings.MeetingValues(**body.model_dump()))
    except meetings.MeetingError as exc:
        db.rollback()
        raise HTTPException(422, str(exc)) from exc
    db.commit()
    return _meeting(m, meetings.feedback_counts(db))


@router.get(
    "/meetings/{code}/poster.png",
    tags=["meetings"],
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}, 502: {"description": "WeChat refused the QR"}},
)
def meeting_poster(
    code: str, request: Request, db: DbSession, who: Principal = Depends(require(*meetings.RECEPTION))
) -> Response:
    """The printable poster with the meeting's QR code."""
    m = meetings.meeting_by_code(db, code)
    try:
        path = meetings.poster(db, request.app.state.settings, m)
    except meetings.MeetingError as exc:
        db.rollback()
        raise HTTPException(502, str(exc)) from exc
    db.commit()
    return FileResponse(path, media_type="image/png", headers={"cache-control": "no-store"})


@router.get(
    "/meetings/{key}/report",
    tags=["meetings"],
    responses={200: {"content": {meetings.XLSX: {}}}, 404: {"description": "no such meeting"}},
)
def meeting_report(
    key: str, request: Request, db: DbSession, who: Principal = Depends(require(*meetings.RECEPTION))
) -> Response:
    """The organiser's report (Excel) of a meeting, by its id or code: summary and the feedback list."""
    return meetings.report_response(db, request.app.state.settings, meetings.meeting_by_key(db, key))


# --- volumes ------------------------------------------------------------------------------------------


@router.get("/volumes", response_model=list[VolumeOut], tags=["archive"])
def list_volumes(db: DbSession, who: Principal = Depends(require(*archive.ARCHIVISTS))) -> list[VolumeOut]:
    """Every volume, newest first: status, item count, sealed and received (检查人)."""
    return [_volume(v) for v in archive.volumes(db)]


@router.get("/volumes/{code}", response_model=VolumeDetail, tags=["archive"])
def get_volume(
    code: str, db: DbSession, who: Principal = Depends(require(*archive.ARCHIVISTS))
) -> VolumeDetail:
    """One volume with its digests and fixity history."""
    v = archive.volume_by_code(db, code)
    events = [
        FixityEventOut(
            at=e.at, event_type=e.event_type, outcome=cast(Outcome, e.outcome), agent=e.agent, detail=e.detail
        )
        for e in archive.fixity_events(db, code)
    ]
    return VolumeDetail(
        **_volume(v).model_dump(),
        compiler=v.compiler,
        content_sha256=v.content_sha256,
        content_sm3=v.content_sm3,
        file_sha256=v.file_sha256,
        file_sm3=v.file_sm3,
        seal=v.seal,
        prev_archival_code=v.prev_archival_code,
        events=events,
    )


@router.get(
    "/volumes/{code}/file",
    tags=["archive"],
    response_class=FileResponse,
    responses={200: {"content": {XLSX: {}}}},
)
def volume_file(
    code: str, request: Request, db: DbSession, who: Principal = Depends(require(*archive.ARCHIVISTS))
) -> Response:
    """The sealed workbook (.xlsx)."""
    v = archive.volume_by_code(db, code)
    return FileResponse(
        archive.sealed_file(request.app.state.settings, v),
        filename=f"{v.archival_code}.xlsx",
        media_type=XLSX,
    )


@router.post(
    "/volumes/{code}/receive",
    response_model=ReceiveOut,
    tags=["archive"],
    responses={409: {"model": ReceiveOut, "description": "refused: already received, or checks failed"}},
)
def receive_volume(
    code: str,
    request: Request,
    db: DbSession,
    x_csrf_token: CsrfHeader = None,
    who: Principal = Depends(require(*archive.ARCHIVISTS)),
) -> Response:
    """Validate (bag, digests, numbering, chain) and, when all pass, record the receipt with you as 检查人."""
    _writes(who, x_csrf_token)
    settings: Settings = request.app.state.settings
    try:
        report = archive.receive_volume(db, request.app.state.engine, settings, who, code)
        problems = [p for _, p in report.problems]
        received = report.received
    except fixity.FixityError as exc:
        problems, received = [str(exc)], False
    db.expire_all()
    out = ReceiveOut(
        archival_code=code,
        received=received,
        problems=problems,
        volume=_volume(archive.volume_by_code(db, code)),
    )
    return JSONResponse(out.model_dump(mode="json"), status_code=200 if received else 409)


# --- lookups and the register ---------------------------------------------------------------------------


@router.get("/lookups", response_model=list[LookupOut], tags=["archive"])
def list_lookups(
    db: DbSession,
    who: Principal = Depends(require(*archive.ARCHIVISTS)),
    status: Literal["pending", "decided", "all"] = "pending",
) -> list[LookupOut]:
    """Lookup requests, newest first (default: those waiting for a decision)."""
    pending = {"pending": True, "decided": False, "all": None}[status]
    return [_lookup(r) for r in archive.lookups(db, pending=pending)]


@router.post(
    "/lookups/{register_no}/decision",
    response_model=LookupOut,
    tags=["archive"],
    responses={
        404: {"description": "no such request"},
        409: {"description": "already decided"},
        422: {"description": "rejecting needs a reason"},
    },
)
def decide_lookup(
    register_no: str,
    body: DecisionIn,
    request: Request,
    db: DbSession,
    x_csrf_token: CsrfHeader = None,
    who: Principal = Depends(require(*archive.ARCHIVISTS)),
) -> LookupOut:
    """同意 or 驳回 a request; the requester is notified through the outbox (as the chat 审批 command does)."""
    _writes(who, x_csrf_token)
    try:
        req = archive.decide_lookup(
            db,
            request.app.state.settings,
            who,
            register_no=register_no,
            approve=body.decision == "approve",
            reason=body.reason,
        )
    except archive.DecisionError as exc:
        db.rollback()
        raise HTTPException(422 if str(exc) == archive.REJECT_NEEDS_REASON else 409, str(exc)) from exc
    db.commit()
    return _lookup(req)


@router.get("/register", response_model=list[LookupOut], tags=["archive"])
def register(
    request: Request,
    db: DbSession,
    who: Principal = Depends(require(*archive.ARCHIVISTS)),
    year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
) -> list[LookupOut]:
    """The access register (查阅登记簿) of a year (default: this year)."""
    return [
        _lookup(r) for r in archive.register_rows(db, year or archive.this_year(request.app.state.settings))
    ]


@router.post(
    "/register/export",
    tags=["archive"],
    response_class=FileResponse,
    responses={200: {"content": {XLSX: {}}}},
)
def register_export(
    request: Request,
    db: DbSession,
    year: Annotated[int, Query(ge=2000, le=2200)],
    x_csrf_token: CsrfHeader = None,
    who: Principal = Depends(require(*archive.ARCHIVISTS)),
) -> Response:
    """The year's register as an Excel workbook (the export is itself entered in the register)."""
    _writes(who, x_csrf_token)
    path = archive.export_file(db, request.app.state.settings, year)
    db.commit()
    return FileResponse(path, filename=path.name, media_type=XLSX)
