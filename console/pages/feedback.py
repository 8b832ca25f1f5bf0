"""Managers' feedback pages: the inbox (quick tabs, filters, next and previous pages, the bulk bar) and one
feedback's detail page with its photos, messages, history, deliveries and every handling action (asking
first before a step that skips one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import Session, col

from console import inputs, texts
from console.auth import Principal, check_csrf
from console.delivery import deliveries
from console.deps import DbSession, Manager, SettingsDep
from console.pages.render import local, render
from console.queries import feedback as shared
from console.queries.inbox import InboxFilters, InboxPage
from core.clock import utcnow
from core.settings import Settings
from core.xmlsafe import BadXml, parse_xml
from feedback import forms, review, worklist
from feedback.alerts import alert_reason
from feedback.media import MAX_ATTEMPTS as MEDIA_MAX_ATTEMPTS
from feedback.models import (
    Feedback,
    FeedbackEvent,
    FeedbackMedia,
    InboundMessage,
    Meal,
    Meeting,
    Site,
    Status,
)
from feedback.service import ArchivedError, pseudonym
from feedback.vocabulary import MEAL_LABELS, STATUS_LABELS

router = APIRouter(prefix="/console", include_in_schema=False)
FILTERS = ("start", "end", "site", "meal", "meeting", "score", "status", "q")  # a filter is set: say so


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


def message_text(raw_xml: str) -> str:
    """What the diner sent, from the stored message (text, or a voice note's recognised words)."""
    try:
        data = parse_xml(raw_xml)
    except BadXml:
        return ""
    return str(data.get("Content") or data.get("Recognition") or "")[:500]


def inbox_rows(
    db: Session, settings: Settings, who: Principal, f: dict[str, str]
) -> tuple[list[dict[str, Any]], InboxPage]:
    """The filtered inbox page as display rows, and the page (total, cursors)."""
    page = shared.inbox(db, who, InboxFilters.parse(f), settings=settings, cursor=f.get("cursor") or None)
    sites = shared.site_names(db)
    titles = {i: m.title for i, m in shared.meetings_by_id(db).items()}
    rows = []
    for fb in page.rows:
        reason = alert_reason(score=fb.score, comment=fb.comment) if fb.status == Status.new else None
        rows.append(
            {
                "id": fb.id,
                "reference": fb.reference,
                "when": local(fb.created_at, settings),
                "score": fb.score or "",
                "comment": fb.comment[:80],
                "where": titles.get(fb.meeting_id, "") if fb.meeting_id else sites.get(fb.site_id, ""),
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
def inbox_page(request: Request, db: DbSession, who: Manager, settings: SettingsDep) -> Response:
    """The feedback inbox with quick tabs, filters and next/previous pages; alerts stand out until acknowledged."""
    f = dict(request.query_params)
    rows, page = inbox_rows(db, settings, who, f)
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
        filtered=any(f.get(k) for k in FILTERS),
        f=f,
        sites=list(db.execute(select(Site).where(col(Site.kind) == "canteen")).scalars()),
        meetings=list(db.execute(select(Meeting).order_by(col(Meeting.starts_on).desc())).scalars()),
        meals={k.value: v for k, v in MEAL_LABELS.items()},
        statuses={k.value: v for k, v in STATUS_LABELS.items()},
    )


@router.get("/feedback/{feedback_id}")
def detail(
    feedback_id: inputs.IdPath, request: Request, db: DbSession, who: Manager, settings: SettingsDep
) -> Response:
    """One feedback: content, photos, the event trail, and the handling forms."""
    fb = shared.visible(db, who, feedback_id)
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
            "when": local(e.at, settings),
            "actor": e.actor if e.action != "diner_added" else texts.DINER,
            "action": texts.ACTION_NAMES.get(e.action, e.action),
            "detail": event_text(e.action, e.detail),
        }
        for e in review.history(db, feedback_id=feedback_id)
    ]
    messages = [
        {
            "when": local(m.received_at, settings),
            "what": texts.MESSAGE_KINDS.get(m.msg_type, m.msg_type),
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
    trail = review.history(db, feedback_id=feedback_id)
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
                "when": local(d.at, settings),
                "text": d.text,
                "state": d.state,
                "label": texts.DELIVERY[d.state],
                "sent": local(d.sent_at, settings),
                "error": d.error[:200],
            }
            for d in deliveries(db, fb)
        ],
        media=media,
        events=events,
        messages=messages,
        window=window,
        window_closes=local(window.window_closes, settings),
        template_configured=bool(settings.wechat_reply_template_id),
        status=STATUS_LABELS.get(Status(fb.status), fb.status),
        alert=alert_reason(score=fb.score, comment=fb.comment),
        where=meeting.title if meeting else (site.name if site else texts.NO_SITE),
        meal=MEAL_LABELS.get(Meal(fb.meal), "") if fb.meal else "",
        when=local(fb.created_at, settings),
        pseudonym=pseudonym(fb.sender, secret=settings.pseudonym_secret),
        loop=worklist.loop_fields(fb, now=utcnow()),  # issue 13: deadlines and the return visit
        local=lambda dt: local(dt, settings),
        aspects=forms.aspects_of(db, feedback_id=feedback_id),  # the form's stars (h5/)
    )


def _rectification(e: FeedbackEvent, settings: Settings) -> dict[str, str]:
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
        "when": local(e.at, settings),
    }


@router.get("/media/{media_id}")
def media(media_id: inputs.IdPath, db: DbSession, who: Manager, settings: SettingsDep) -> Response:
    """A photo downloaded into DATA_DIR."""
    m = db.get(FeedbackMedia, media_id)
    if m is None or not m.local_path:
        raise HTTPException(404)
    shared.visible(db, who, m.feedback_id)
    base = Path(settings.data_dir).resolve()
    path = (base / m.local_path).resolve()
    if base not in path.parents or not path.is_file():
        raise HTTPException(404)
    return FileResponse(path)


@router.post("/feedback/bulk")
async def bulk(request: Request, db: DbSession, who: Manager) -> Response:
    """Acknowledge or close the ticked feedback."""
    form = await request.form()
    check_csrf(who, str(form.get("csrf") or ""))
    if str(form.get("action")) not in review.BULK_ACTIONS:
        return RedirectResponse(f"/console/feedback?msg={texts.BULK_ONLY}&err=1", status_code=303)
    ids = shared.visible_ids(db, who, inputs.ascii_ids(form.getlist("ids")))
    n = review.bulk(db, feedback_ids=ids, actor=who.user.display_name, action=str(form.get("action")))
    db.commit()
    # back to the same tab, filters and page the manager was on
    kept = dict(parse_qsl(str(form.get("back") or "")))
    target = _link(kept)
    sep = "&" if "?" in target else "?"
    return RedirectResponse(
        f"{target}{sep}msg={quote(texts.BULK_DONE.format(n=n), safe='')}", status_code=303
    )


@router.post("/feedback/{feedback_id}/{action}")
async def act(
    feedback_id: inputs.IdPath,
    action: str,
    request: Request,
    db: DbSession,
    who: Manager,
    settings: SettingsDep,
) -> Response:
    """One handling action from the detail page."""
    form = await request.form()
    check_csrf(who, str(form.get("csrf") or ""))
    fb = shared.visible(db, who, feedback_id)
    values = {k: str(v) for k, v in form.items()}
    if (ask := _confirmation(db, fb, action, values)) is not None:
        question, yes = ask
        return render(request, "confirm.html", who, fb=fb, action=action, question=question, yes=yes)
    try:
        msg = shared.run_action(
            db,
            feedback_id=feedback_id,
            action=action,
            actor=who.user.display_name,
            values=values,
            template_id=settings.wechat_reply_template_id,
        )
    except (review.ReviewError, ArchivedError) as exc:
        db.rollback()
        text = texts.ARCHIVED if isinstance(exc, ArchivedError) else str(exc)
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
