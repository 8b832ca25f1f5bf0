"""Console pages (Simplified Chinese, usable on a phone): login, the feedback inbox and its detail with
every handling action, the dashboard. Roles are enforced on every page; every form carries a CSRF token."""

from __future__ import annotations

import hmac
import json
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlmodel import Session, col

from console import auth, inbox, inputs, texts
from console.auth import DbSession, Principal, check_csrf, require
from console.delivery import deliveries
from core.clock import to_local, utcnow
from core.settings import Settings
from feedback import forms, rates, review, stats, worklist
from feedback.alerts import alert_reason
from feedback.media import MAX_ATTEMPTS as MEDIA_MAX_ATTEMPTS
from feedback.models import Feedback, FeedbackMedia, InboundMessage, Meal, Meeting, Site, Status
from feedback.service import ArchivedError, pseudonym
from feedback.vocabulary import MEAL_LABELS, STATUS_LABELS

router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STATIC = Path(__file__).parent / "static"
ROLE_NAMES = {
    "admin": "管理员",
    "canteen_manager": "食堂管理员",
    "reception_manager": "会务管理员",
    "archivist": "档案员",
}
MANAGERS = ("canteen_manager", "reception_manager")
ACTION_NAMES = {
    "diner_added": "反馈人补充",
    "acknowledged": "受理",
    "replied": "回复",
    "rectification": "整改",
    "resolved": "已整改",
    "closed": "办结",
    "archived": "归档",
}
LOGIN_CSRF = "houqin_login_csrf"


def render(request: Request, name: str, who: Principal | None, **context: Any) -> HTMLResponse:
    """A page with the common context."""
    return templates.TemplateResponse(
        request,
        name,
        {
            "who": who,
            "role_names": ROLE_NAMES,
            "flash": request.query_params.get("msg"),
            "flash_error": request.query_params.get("err") == "1",
            **context,
        },
    )


def back(path: str, msg: str, *, error: bool = False) -> RedirectResponse:
    """Redirect (303) to a console page showing a message; the path and message are URL-encoded."""
    url = quote(path, safe="/") + "?msg=" + quote(msg, safe="") + ("&err=1" if error else "")
    return RedirectResponse(url, status_code=303)


def channel_of(who: Principal) -> str | None:
    """Which feedback a role sees: canteen managers the canteen, reception managers meetings."""
    return {"canteen_manager": "canteen", "reception_manager": "meeting"}.get(who.user.role)


def event_text(action: str, detail: str) -> str:
    """An event's detail as people read it: a rectification's JSON becomes 措施：…；责任人：…；期限：…"""
    if action == "rectification":
        try:
            data = json.loads(detail)
        except ValueError:
            return detail
        if isinstance(data, dict):
            return "；".join(f"{k}：{v}" for k, v in data.items() if v)
    return detail


MESSAGE_KINDS = {"text": "文字", "image": "照片", "voice": "语音", "event": "事件"}


def message_text(raw_xml: str) -> str:
    """What the diner sent, from the stored message (text, or a voice note's recognised words)."""
    from core.xmlsafe import BadXml, parse_xml

    try:
        data = parse_xml(raw_xml)
    except BadXml:
        return ""
    return str(data.get("Content") or data.get("Recognition") or "")[:500]


def _local(dt: Any, settings: Settings) -> str:
    return to_local(dt, settings.tz).strftime("%m-%d %H:%M") if dt else ""


@router.get("/login")
def login_page(request: Request) -> Response:
    """The login form (with a double-submit CSRF token)."""
    token = secrets.token_urlsafe(16)
    resp = render(request, "login.html", None, login_csrf=token)
    secure = request.app.state.settings.env == "production"
    resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", secure=secure)
    return resp


@router.post("/login")
def login(
    request: Request,
    db: DbSession,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Check the password; start a session."""
    cookie = request.cookies.get(LOGIN_CSRF, "")
    if not csrf or not cookie or not hmac.compare_digest(csrf, cookie):
        raise HTTPException(403, "表单已失效，请刷新页面后重试 / CSRF token missing or wrong")
    client = request.client.host if request.client else ""
    try:
        user, token, _ = auth.login(
            db,
            username=username,
            password=password,
            client=client,
            production=request.app.state.settings.env == "production",
        )
    except auth.AuthError as exc:
        db.commit()  # the failed attempt is recorded
        return RedirectResponse(f"/console/login?msg={exc}&err=1", status_code=303)
    db.commit()
    home = "/console/volumes" if user.role == "archivist" else "/console/feedback"
    resp = RedirectResponse(home, status_code=303)
    settings: Settings = request.app.state.settings
    resp.set_cookie(
        auth.COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.env == "production",
        max_age=auth.SESSION_HOURS * 3600,
    )
    resp.delete_cookie(LOGIN_CSRF)
    return resp


@router.post("/logout")
def logout(
    request: Request,
    db: DbSession,
    csrf: Annotated[str, Form()] = "",
    who: Principal = Depends(require(*auth.ROLES_ALL)),
) -> Response:
    """End the session."""
    check_csrf(who, csrf)
    auth.logout(db, token=request.cookies.get(auth.COOKIE, ""))
    db.commit()
    resp = RedirectResponse("/console/login", status_code=303)
    resp.delete_cookie(auth.COOKIE)
    return resp


@router.get("")
@router.get("/")
def home(who: Principal = Depends(require(*auth.ROLES_ALL))) -> Response:
    """Each role's landing page."""
    return RedirectResponse(
        "/console/volumes" if who.user.role == "archivist" else "/console/feedback", status_code=303
    )


@router.get("/static/{name}")
def static(name: str) -> Response:
    """Vendored assets (ECharts)."""
    path = STATIC / name
    if name != path.name or not path.is_file():
        raise HTTPException(404)
    return FileResponse(path, headers={"cache-control": "max-age=86400"})


def filtered_feedback(
    db: Session,
    who: Principal,
    f: dict[str, str],
    *,
    settings: Settings,
    limit: int = inbox.PAGE_SIZE,
    cursor: str | None = None,
) -> inbox.InboxPage:
    """The inbox query (the role's channel, the filters, the quick tab): one keyset page and the total
    (shared with the API)."""
    return inbox.inbox_page(
        db,
        inbox.InboxFilters.parse(f),
        channel=channel_of(who),
        settings=settings,
        limit=limit,
        cursor=cursor,
    )


def inbox_rows(
    db: Session, settings: Settings, who: Principal, f: dict[str, str]
) -> tuple[list[dict[str, Any]], inbox.InboxPage]:
    """The filtered inbox page as display rows, and the page (total, cursors)."""
    page = filtered_feedback(db, who, f, settings=settings, cursor=f.get("cursor") or None)
    sites = {s.id: s.name for s in db.execute(select(Site)).scalars()}
    meetings = {m.id: m.title for m in db.execute(select(Meeting)).scalars()}
    rows = []
    for fb in page.rows:
        reason = alert_reason(score=fb.score, comment=fb.comment) if fb.status == Status.new else None
        rows.append(
            {
                "id": fb.id,
                "reference": fb.reference,
                "when": _local(fb.created_at, settings),
                "score": fb.score or "",
                "comment": fb.comment[:80],
                "where": meetings.get(fb.meeting_id, "") if fb.meeting_id else sites.get(fb.site_id, ""),
                "meal": MEAL_LABELS.get(Meal(fb.meal), "") if fb.meal else "",
                "status": STATUS_LABELS.get(Status(fb.status), fb.status),
                "alert": reason,
                "archived": fb.volume_id is not None,
                "closed": fb.status == Status.closed,
            }
        )
    return rows, page


def _link(f: dict[str, str], **changes: str | None) -> str:
    """The inbox URL with these filters, some changed (None drops one)."""
    merged = {k: v for k, v in {**f, **changes}.items() if v and k not in ("msg", "err")}
    return "/console/feedback" + ("?" + urlencode(merged) if merged else "")


@router.get("/feedback")
def inbox_page(request: Request, db: DbSession, who: Principal = Depends(require(*MANAGERS))) -> Response:
    """The feedback inbox with quick tabs, filters and next/previous pages; alerts stand out until acknowledged."""
    f = dict(request.query_params)
    rows, page = inbox_rows(db, request.app.state.settings, who, f)
    return render(
        request,
        "inbox.html",
        who,
        rows=rows,
        total=page.total,
        next_url=_link(f, cursor=page.next_cursor) if page.next_cursor else None,
        prev_url=_link(f, cursor=page.prev_cursor) if page.prev_cursor else None,
        first_url=_link(f, cursor=None) if f.get("cursor") else None,
        tabs=[(name, label, _link(f, tab=name or None, cursor=None)) for name, label in texts.TABS.items()],
        tab=f.get("tab", ""),
        tab_hint=texts.TAB_HINTS.get(f.get("tab", "")),
        filtered=any(f.get(k) for k in ("start", "end", "site", "meal", "meeting", "score", "status", "q")),
        f=f,
        sites=list(db.execute(select(Site).where(col(Site.kind) == "canteen")).scalars()),
        meetings=list(db.execute(select(Meeting).order_by(col(Meeting.starts_on).desc())).scalars()),
        meals={k.value: v for k, v in MEAL_LABELS.items()},
        statuses={k.value: v for k, v in STATUS_LABELS.items()},
    )


def _visible(db: Session, who: Principal, feedback_id: int) -> Feedback:
    fb = db.get(Feedback, feedback_id)
    if fb is None or (channel_of(who) not in (None, fb.channel)):
        raise HTTPException(404, "没有这条反馈")
    return fb


@router.get("/feedback/{feedback_id}")
def detail(
    feedback_id: inputs.IdPath, request: Request, db: DbSession, who: Principal = Depends(require(*MANAGERS))
) -> Response:
    """One feedback: content, photos, the event trail, and the handling forms."""
    settings: Settings = request.app.state.settings
    fb = _visible(db, who, feedback_id)
    media = [
        {
            "kind": m.kind,
            "recognition": m.recognition,
            "url": f"/console/media/{m.id}" if m.local_path else "",
            # issue 11: a download that keeps failing is shown, not retried forever
            "failed": bool(m.fetch_error) and not m.local_path,
            "gave_up": m.fetch_attempts >= MEDIA_MAX_ATTEMPTS and not m.local_path,
            "attempts": m.fetch_attempts,
        }
        for m in db.execute(select(FeedbackMedia).where(col(FeedbackMedia.feedback_id) == fb.id)).scalars()
    ]
    events = [
        {
            "when": _local(e.at, settings),
            "actor": e.actor if e.action != "diner_added" else "反馈人",
            "action": ACTION_NAMES.get(e.action, e.action),
            "detail": event_text(e.action, e.detail),
        }
        for e in review.history(db, feedback_id=fb.id)  # type: ignore[arg-type]
    ]
    messages = [
        {
            "when": _local(m.received_at, settings),
            "what": MESSAGE_KINDS.get(m.msg_type, m.msg_type),
            "text": message_text(m.raw_xml),
        }
        for m in db.execute(
            select(InboundMessage)
            .where(col(InboundMessage.feedback_id) == fb.id)
            .order_by(col(InboundMessage.id))
        ).scalars()
    ]
    window = review.reply_window(db, fb=fb)
    site = db.get(Site, fb.site_id) if fb.site_id else None
    meeting = db.get(Meeting, fb.meeting_id) if fb.meeting_id else None
    trail = review.history(db, feedback_id=fb.id)  # type: ignore[arg-type]
    rectifications = [e for e in trail if e.action == "rectification"]
    return render(
        request,
        "detail.html",
        who,
        fb=fb,
        allowed=review.allowed_actions(fb),
        has_reply=any(e.action == "replied" for e in trail),
        has_rectification=bool(rectifications),
        rectification=_rectification(rectifications[-1], settings) if rectifications else None,
        service_date=fb.service_date.isoformat(),
        outbound=[
            {
                "when": _local(d.at, settings),
                "text": d.text,
                "state": d.state,
                "label": texts.DELIVERY[d.state],
                "sent": _local(d.sent_at, settings),
                "error": d.error[:200],
            }
            for d in deliveries(db, fb)
        ],
        media=media,
        events=events,
        messages=messages,
        window=window,
        window_closes=_local(window.window_closes, settings),
        template_configured=bool(settings.wechat_reply_template_id),
        status=STATUS_LABELS.get(Status(fb.status), fb.status),
        alert=alert_reason(score=fb.score, comment=fb.comment),
        where=meeting.title if meeting else (site.name if site else "未指明食堂"),
        meal=MEAL_LABELS.get(Meal(fb.meal), "") if fb.meal else "",
        when=_local(fb.created_at, settings),
        pseudonym=pseudonym(fb.sender, secret=settings.pseudonym_secret),
        loop=worklist.loop_fields(fb, now=utcnow()),  # issue 13: deadlines and the return visit
        local=lambda dt: _local(dt, settings) if dt else "",
        aspects=forms.aspects_of(db, feedback_id=fb.id),  # type: ignore[arg-type]  # the form's stars (h5/)
    )


def _rectification(e: Any, settings: Settings) -> dict[str, str]:
    """The latest rectification as the block shows it: 措施, 责任人, 期限, 完成情况, who recorded it, when."""
    try:
        data = json.loads(e.detail)
    except ValueError:
        data = {"措施": e.detail}
    if not isinstance(data, dict):
        data = {"措施": str(data)}
    return {
        "measure": str(data.get("措施", "")),
        "owner": str(data.get("责任人", "")),
        "deadline": str(data.get("期限", "")),
        "progress": str(data.get("完成情况", "")),
        "actor": e.actor,
        "when": _local(e.at, settings),
    }


@router.get("/media/{media_id}")
def media(
    media_id: inputs.IdPath, request: Request, db: DbSession, who: Principal = Depends(require(*MANAGERS))
) -> Response:
    """A photo downloaded into DATA_DIR."""
    m = db.get(FeedbackMedia, media_id)
    if m is None or not m.local_path:
        raise HTTPException(404)
    _visible(db, who, m.feedback_id)
    base = Path(request.app.state.settings.data_dir).resolve()
    path = (base / m.local_path).resolve()
    if base not in path.parents or not path.is_file():
        raise HTTPException(404)
    return FileResponse(path)


@router.post("/feedback/bulk")
async def bulk(request: Request, db: DbSession, who: Principal = Depends(require(*MANAGERS))) -> Response:
    """Acknowledge or close the ticked feedback."""
    form = await request.form()
    check_csrf(who, str(form.get("csrf") or ""))
    if str(form.get("action")) not in review.BULK_ACTIONS:
        return RedirectResponse("/console/feedback?msg=批量操作只支持受理和办结&err=1", status_code=303)
    ids = inputs.ascii_ids(form.getlist("ids"))
    ids = [
        i for i in ids if (fb := db.get(Feedback, i)) is not None and channel_of(who) in (None, fb.channel)
    ]
    n = review.bulk(db, feedback_ids=ids, actor=who.user.display_name, action=str(form.get("action")))
    db.commit()
    # back to the same tab, filters and page the manager was on
    kept = dict(parse_qsl(str(form.get("back") or "")))
    target = _link(kept)
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}msg={quote(f'已处理{n}条', safe='')}", status_code=303)


@router.post("/feedback/{feedback_id}/{action}")
async def act(
    feedback_id: inputs.IdPath,
    action: str,
    request: Request,
    db: DbSession,
    who: Principal = Depends(require(*MANAGERS)),
) -> Response:
    """One handling action from the detail page."""
    form = await request.form()
    check_csrf(who, str(form.get("csrf") or ""))
    fb = _visible(db, who, feedback_id)
    actor = who.user.display_name
    values = {k: str(v) for k, v in form.items()}
    if (ask := _confirmation(db, fb, action, values)) is not None:
        question, yes = ask
        return render(request, "confirm.html", who, fb=fb, action=action, question=question, yes=yes)
    try:
        msg = run_action(
            db,
            feedback_id=feedback_id,
            action=action,
            actor=actor,
            values=values,
            template_id=request.app.state.settings.wechat_reply_template_id,
        )
    except (review.ReviewError, ArchivedError) as exc:
        db.rollback()
        text = "已归档的反馈不能修改" if isinstance(exc, ArchivedError) else str(exc)
        return RedirectResponse(f"/console/feedback/{feedback_id}?msg={text}&err=1", status_code=303)
    db.commit()
    return RedirectResponse(f"/console/feedback/{feedback_id}?msg={msg}", status_code=303)


def _confirmation(db: Session, fb: Feedback, action: str, values: dict[str, str]) -> tuple[str, str] | None:
    """The question to ask before a step that skips one (办结 without a reply, 已整改 without a
    rectification), unless the form says it was asked (confirm=1) or the state refuses the action anyway."""
    if values.get("confirm") == "1" or action not in review.allowed_actions(fb):
        return None
    if action == "close" and not review.has_event(db, feedback_id=fb.id or 0, action="replied"):
        return texts.CONFIRM_CLOSE, texts.CONFIRM_CLOSE_YES
    if action == "resolve" and not review.has_event(db, feedback_id=fb.id or 0, action="rectification"):
        return texts.CONFIRM_RESOLVE, texts.CONFIRM_RESOLVE_YES
    return None


def run_action(
    db: Session,
    *,
    feedback_id: int,
    action: str,
    actor: str,
    values: dict[str, str],
    template_id: str = "",
) -> str:
    """Dispatch an action by name (shared by the pages and the API); returns a message for the person.
    An action the feedback's state does not allow (after 办结, when archived) is refused."""
    fb = db.get(Feedback, feedback_id)
    if fb is not None:
        review.check_allowed(fb, action, STATUS_LABELS.get(Status(fb.status), fb.status))
    if action == "acknowledge":
        review.acknowledge(db, feedback_id=feedback_id, actor=actor)
        return "已受理"
    if action == "reply":
        window = review.reply(
            db, feedback_id=feedback_id, actor=actor, text=values.get("text", ""), template_id=template_id
        )
        if window.deliverable:
            return texts.REPLY_QUEUED
        if window.via_template:
            return texts.REPLY_QUEUED_TEMPLATE
        return texts.REPLY_UNDELIVERABLE
    if action == "rectification":
        review.record_rectification(
            db,
            feedback_id=feedback_id,
            actor=actor,
            measure=values.get("measure", ""),
            owner=values.get("owner", ""),
            deadline=values.get("deadline", ""),
            progress=values.get("progress", ""),
        )
        return "整改已记录"
    if action == "resolve":
        review.resolve(db, feedback_id=feedback_id, actor=actor)
        return "已标记为已整改"
    if action == "close":
        review.close(db, feedback_id=feedback_id, actor=actor, template_id=template_id)
        return "已办结"
    raise HTTPException(404)


@router.get("/dashboard")
def dashboard(request: Request, db: DbSession, who: Principal = Depends(require(*MANAGERS))) -> Response:
    """Counts, CSAT, response and handling times, trends and breakdowns, with ECharts charts."""
    settings: Settings = request.app.state.settings
    today = to_local(utcnow(), settings.tz).date()
    try:
        start, end = inputs.date_range(
            inputs.day(request.query_params.get("start")),
            inputs.day(request.query_params.get("end")),
            today=today,
        )
    except inputs.InputError as exc:
        raise HTTPException(400, str(exc)) from exc
    d = stats.dashboard(db, settings=settings, start=start, end=end, channel=channel_of(who))
    # issue 13: 今日待办 at the top, 三率 with n and 环比; the feedback form's per-aspect stars (h5/, issue 15)
    now = utcnow()
    work = worklist.worklist(
        db, now=now, tz=settings.tz, max_score=settings.sla.max_score, channel=channel_of(who)
    )
    three = rates.rates(db, start=start, end=end, now=now, channel=channel_of(who)).as_dict()
    aspects = forms.aspect_summary(db, start=start, end=end, channel=channel_of(who))
    return render(
        request,
        "dashboard.html",
        who,
        d=d,
        data=d.as_dict(),
        start=start,
        end=end,
        work=work,
        rates=three,
        aspects=aspects,
    )
