"""Routes of the feedback page: /h5/feedback (the form), /h5/thanks, /h5/mine (「我的反馈」 and the
return visit), /h5/oauth (WeChat / WeCom silent OAuth), /h5/qr.png (the form's QR code), /h5/static."""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import qrcode
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from core.clock import to_local, utcnow
from core.db import read_unit, unit_of_work
from core.settings import Settings
from feedback import forms
from feedback.forms import FormError, FormInput, Limits, form_url
from feedback.grammar import parse_scene
from feedback.models import Channel, Revisit, Site
from feedback.photos import MAX_PHOTO_BYTES, MAX_PHOTOS, PhotoError, clean_photos
from feedback.revisit import RevisitError, record_answer
from feedback.service import meeting_by_code, site_by_code
from h5 import identity, texts
from h5.identity import Diner
from ingest.delivery import database_unavailable
from ingest.store import Store

router = APIRouter(prefix="/h5", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STATIC = Path(__file__).parent / "static"
MAX_BODY = MAX_PHOTOS * MAX_PHOTO_BYTES + 512 * 1024  # three full photos and the fields
MAX_COMMENT = 500
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
FORM_WAIT_S = 20.0  # how long a submission waits for the writer before the diner is asked to send again


class BodyTooLarge(Exception):
    """The request body passed MAX_BODY while streaming."""


@dataclass
class Place:
    """Where a scene points: a canteen (and table) or a meeting."""

    channel: str
    code: str
    name: str
    site_id: int | None = None
    table_no: str | None = None
    meeting_id: int | None = None

    @property
    def key(self) -> str:
        """canteen:<site> or meeting:<code> (rate limits per place)."""
        return f"{self.channel}:{self.code}"

    @property
    def scene(self) -> str:
        """The scene string that leads back here."""
        return f"{self.key}:{self.table_no}" if self.table_no else self.key


def place_of(session: Session, scene: str) -> Place | None:
    """The place a QR scene names, when it exists."""
    parsed = parse_scene(scene or "")
    if parsed is None:
        return None
    kind, code, table = parsed
    if kind == "canteen":
        site = site_by_code(session, code=code)
        if site is None:
            return None
        name = site.name + (f" · {texts.TABLE.format(n=table)}" if table else "")
        return Place(Channel.canteen, site.code, name, site_id=site.id, table_no=(table or "")[:40] or None)
    meeting = meeting_by_code(session, code=code)
    if meeting is None:
        return None
    return Place(Channel.meeting, meeting.code, meeting.title, meeting_id=meeting.id)


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _engine(request: Request) -> Engine:
    return request.app.state.engine


def _page(
    request: Request, name: str, status: int = 200, *, cache: str = "no-store", **context: Any
) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, {"t": texts, **context}, status_code=status)
    response.headers["cache-control"] = cache
    return response


def _error(request: Request, message: str, status: int) -> HTMLResponse:
    return _page(request, "error.html", status, message=message)


def _identify(request: Request, settings: Settings, next_path: str) -> tuple[Diner | None, Response | None]:
    """The diner, or a redirect to the silent OAuth; a browser with no identity becomes a new device."""
    diner = identity.diner_of(request, settings)
    if diner is not None:
        return diner, None
    app = identity.oauth_app(request, settings)
    if app is not None:
        return None, RedirectResponse(identity.authorize_url(settings, app=app, next_path=next_path), 302)
    return identity.new_device(), None


def _aspects(settings: Settings, channel: str) -> list[str]:
    return settings.h5_meeting_aspects if channel == Channel.meeting else settings.h5_canteen_aspects


def _tags(settings: Settings, channel: str) -> list[str]:
    return settings.h5_meeting_tags if channel == Channel.meeting else settings.h5_canteen_tags


@router.get("/feedback")
def feedback_page(request: Request, scene: str = "") -> Response:
    """The form (or, without a usable scene, the list of canteens to choose from)."""
    settings = _settings(request)
    next_path = f"/h5/feedback?scene={scene}" if scene else "/h5/feedback"
    diner, redirect = _identify(request, settings, next_path)
    if redirect is not None:
        return redirect
    assert diner is not None
    with Session(_engine(request)) as session:
        place = place_of(session, scene)
        sites = (
            []
            if place
            else list(
                session.execute(
                    select(Site)
                    .where(col(Site.active).is_(True), col(Site.kind) == "canteen")
                    .order_by(col(Site.code))
                ).scalars()
            )
        )
    if place is None:
        response = _page(request, "choose.html", 200 if not scene else 404, sites=sites, unknown=bool(scene))
    else:
        response = _page(
            request,
            "form.html",
            # not no-store: the back button shows this very form again (same key), so sending it again
            # is recognised as a resubmit
            cache="private, max-age=0",
            place=place,
            aspects=_aspects(settings, place.channel),
            tags=_tags(settings, place.channel),
            key=secrets.token_urlsafe(24),
            csrf=identity.token_for(settings, diner),
            max_mb=MAX_PHOTO_BYTES // (1024 * 1024),
        )
    identity.remember(response, settings, diner)
    return response


async def _read_capped(request: Request) -> bytes:
    """The request body, refused as soon as it passes MAX_BODY (never buffered past the cap)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _score(value: Any) -> int | None:
    if not isinstance(value, str) or value not in ("1", "2", "3", "4", "5"):
        return None
    return int(value)


@router.post("/feedback")
async def submit(request: Request) -> Response:
    """Take one filled form: checked whole (photos decoded, in a worker thread) before anything is stored,
    then stored by the ingest writer with the other submissions and messages of its batch (one commit:
    ingest.work); then 303 to the thanks page with the reference. A resubmit of the same form lands on the
    same reference."""
    settings = _settings(request)
    try:
        body = await _read_capped(request)
    except BodyTooLarge:
        return _error(request, texts.BODY_TOO_LARGE, 413)
    request._body = body  # starlette parses the form from the buffered body
    try:
        data = await request.form(max_files=MAX_PHOTOS + 1, max_fields=60)
    except Exception:  # noqa: BLE001 — malformed multipart, too many parts
        return _error(request, texts.BAD_FORM, 400)
    checked = _check(request, settings, data)
    if isinstance(checked, Response):
        return checked
    form, uploads = checked
    if uploads:
        # photo decoding and re-encoding run in a worker thread, never on the event loop (nor in the writer)
        try:
            photos = await run_in_threadpool(_photos, _engine(request), form, uploads)
        except PhotoError as exc:
            return _error(request, texts.photo_error(exc.problem, exc.index) + texts.NOTHING_STORED, 400)
        if photos is None:  # a resubmit: nothing is decoded or stored again
            return RedirectResponse(f"/h5/thanks?key={form.key}&again=1", 303)
        form.photos = photos
    limits = Limits(settings.h5_edit_minutes, settings.h5_diner_per_hour, settings.h5_place_per_minute)
    work = partial(_store, form=form, now=utcnow(), settings=settings, limits=limits)
    try:
        result = await request.app.state.intake.ingestor.call(
            work, refusals=(FormError,), timeout=FORM_WAIT_S
        )
    except FormError as exc:
        status = 429 if exc.problem in (forms.FormProblem.diner_rate, forms.FormProblem.place_rate) else 400
        return _error(request, texts.ERRORS_FORM[exc.problem], status)
    except IntegrityError:  # the same key from a concurrent double tap in another worker won: it is that one
        return RedirectResponse(f"/h5/thanks?key={form.key}&again=1", 303)
    except TimeoutError:
        return _error(request, texts.BUSY, 503)
    except Exception as exc:
        if database_unavailable(exc):
            return _error(request, texts.BUSY, 503)
        raise
    return RedirectResponse(f"/h5/thanks?key={form.key}&outcome={result.outcome}", 303)


def _store(session: Session, *, form: FormInput, now: datetime, settings: Settings, limits: Limits) -> Any:
    """The writer's part (ingest.work): store the checked submission in the batch's transaction."""
    return forms.submit(session, store=Store(session), form=form, now=now, settings=settings, limits=limits)


def _photos(engine: Engine, form: FormInput, uploads: list[UploadFile]) -> list[bytes] | None:
    """The uploads decoded and re-encoded (PhotoError when one is refused); None for a resubmit."""
    with read_unit(engine) as session:
        seen = forms.by_key(session, key=form.key)
        if seen is not None and seen.diner == form.diner:
            return None
    raw = [u.file.read(MAX_PHOTO_BYTES + 1) for u in uploads]
    return clean_photos([p for p in raw if p])


def _check(request: Request, settings: Settings, data: Any) -> tuple[FormInput, list[UploadFile]] | Response:
    """The submission checked field by field (no database: the writer resolves the place), or the error page."""
    diner = identity.diner_of(request, settings)
    if diner is None or not identity.token_ok(settings, diner, str(data.get("csrf", ""))):
        return _error(request, texts.NO_IDENTITY, 400)
    key = str(data.get("key", ""))
    if not _KEY.match(key):
        return _error(request, texts.BAD_FORM, 400)
    parsed = parse_scene(str(data.get("scene", "")))
    if parsed is None:
        return _error(request, texts.UNKNOWN_PLACE, 400)
    kind, code, table = parsed
    channel = Channel.meeting if kind == "meeting" else Channel.canteen
    score = _score(data.get("overall"))
    if score is None:
        return _error(request, texts.NO_SCORE if not data.get("overall") else texts.BAD_SCORE, 400)
    aspects: dict[str, int] = {}
    for n, name in enumerate(_aspects(settings, channel)):
        raw = data.get(f"aspect{n}")
        if raw:
            value = _score(raw)
            if value is None:
                return _error(request, texts.BAD_SCORE, 400)
            aspects[name] = value
    chosen = {str(v) for v in data.getlist("tag")}
    tags = [t for t in _tags(settings, channel) if t in chosen]
    comment = str(data.get("comment", "")).strip()
    if len(comment) > MAX_COMMENT:
        return _error(request, texts.COMMENT_TOO_LONG, 400)
    uploads = [u for u in data.getlist("photos") if isinstance(u, UploadFile) and (u.filename or u.size)]
    form = FormInput(
        key=key,
        diner=diner.sender,
        source=diner.source,
        channel=channel,
        place=f"{channel}:{code.upper() if channel == Channel.meeting else code}",
        score=score,
        table_no=(table or "")[:40] or None if channel == Channel.canteen else None,
        aspects=aspects,
        tags=tags,
        comment=comment,
    )
    return form, uploads


@router.get("/thanks")
def thanks(request: Request, key: str = "", outcome: str = "created", again: str = "") -> Response:
    """The reference number of the diner's submission (only the diner who sent it sees it)."""
    settings = _settings(request)
    diner = identity.diner_of(request, settings)
    with Session(_engine(request)) as session:
        seen = forms.by_key(session, key=key) if key else None
        if diner is None or seen is None or seen.diner != diner.sender:
            return _error(request, texts.NOT_FOUND, 404)
        reference = forms.reference_of(session, feedback_id=seen.feedback_id)
    said = texts.OUTCOME["replayed" if again else outcome if outcome in texts.OUTCOME else "created"]
    return _page(request, "thanks.html", reference=reference, said=said)


@router.get("/mine")
def mine(request: Request, msg: str = "") -> Response:
    """「我的反馈」: the diner's own feedback with status, replies, rectification and the return visit."""
    settings = _settings(request)
    diner, redirect = _identify(request, settings, "/h5/mine")
    if redirect is not None:
        return redirect
    assert diner is not None
    with Session(_engine(request)) as session:
        items = forms.own_feedback(session, diner=diner.sender)
        rows = [
            {
                "item": item,
                "when": to_local(item.feedback.created_at, settings.tz).strftime("%m月%d日 %H:%M"),
                "status": texts.STATUS.get(item.feedback.status, item.feedback.status),
            }
            for item in items
        ]
    response = _page(request, "mine.html", rows=rows, csrf=identity.token_for(settings, diner), msg=msg[:60])
    identity.remember(response, settings, diner)
    return response


@router.post("/mine/{reference}/revisit")
async def revisit(reference: str, request: Request) -> Response:
    """The diner answers the return visit (回访) of one of their own feedback."""
    settings = _settings(request)
    data = await request.form(max_files=0, max_fields=10)
    diner = identity.diner_of(request, settings)
    if diner is None or not identity.token_ok(settings, diner, str(data.get("csrf", ""))):
        return _error(request, texts.NO_IDENTITY, 400)
    raw = str(data.get("answer", ""))
    if raw not in ("1", "2", "3"):
        return _error(request, texts.REVISIT_BAD, 400)
    try:
        with unit_of_work(_engine(request)) as session:
            fb = forms.own_by_reference(session, diner=diner.sender, reference=reference)
            if fb is None:
                raise HTTPException(404)
            record_answer(session, feedback=fb, answer=Revisit(raw), actor=diner.sender, now=utcnow())
    except HTTPException:
        return _error(request, texts.NOT_FOUND, 404)
    except RevisitError as exc:
        return _error(request, str(exc), 400)
    return RedirectResponse(f"/h5/mine?msg={texts.REVISIT_THANKS}", 303)


@router.get("/oauth")
def oauth(request: Request, code: str = "", state: str = "") -> Response:
    """Back from WeChat's (or WeCom's) silent authorize page: the code becomes the openid (userid)."""
    settings = _settings(request)
    parsed = identity.read_state(settings, state)
    next_path = parsed[1] if parsed else "/h5/feedback"
    diner = identity.exchange(settings, app=parsed[0], code=code) if parsed and code else None
    response = RedirectResponse(next_path, 302)
    identity.remember(response, settings, diner or identity.new_device())
    return response


@router.get("/qr.png")
def qr_png(request: Request, scene: str) -> Response:
    """The form's QR code for a scene (meeting posters print it beside the chat QR)."""
    if parse_scene(scene) is None:
        raise HTTPException(404)
    image = qrcode.make(form_url(_settings(request), scene), box_size=8, border=2)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return Response(out.getvalue(), media_type="image/png", headers={"cache-control": "max-age=3600"})


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The page's own CSS and script (nothing from a CDN)."""
    path = (STATIC / name).resolve()
    if path.parent != STATIC.resolve() or not path.is_file():
        raise HTTPException(404)
    return FileResponse(path, headers={"cache-control": "max-age=86400"})
