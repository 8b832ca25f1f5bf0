"""Routes of the feedback page: /h5/feedback (the form), /h5/thanks, /h5/mine (「我的反馈」 and the
return visit), /h5/oauth (WeChat / WeCom silent OAuth), /h5/qr.png (the form's QR code), /h5/static."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from pathlib import Path

import qrcode
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy import Engine, select
from sqlmodel import Session, col
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from core.clock import to_local, utcnow
from core.db import read_unit, unit_of_work
from core.settings import Settings
from feedback import forms
from feedback.forms import FormInput, form_url
from feedback.grammar import parse_scene
from feedback.models import Channel, Revisit, Site
from feedback.photos import MAX_PHOTO_BYTES, PhotoError, clean_photos
from feedback.revisit import RevisitError, record_answer
from feedback.service import meeting_by_code, site_by_code
from h5 import identity, pages, submission, texts
from h5.identity import Diner
from h5.submission import MAX_BODY, Answer, aspects_for, refused, tags_for

__all__ = ["form_url", "router"]

router = APIRouter(prefix="/h5", include_in_schema=False)
STATIC = Path(__file__).parent / "static"


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


_page = pages.page


def _error(message: str, status: int) -> Response:
    return pages.response(refused(message, status))


def _identify(request: Request, settings: Settings, next_path: str) -> tuple[Diner | None, Response | None]:
    """The diner, or a redirect to the silent OAuth; a browser with no identity becomes a new device."""
    diner = identity.diner_of(request, settings)
    if diner is not None:
        return diner, None
    app = identity.oauth_app(request, settings)
    if app is not None:
        return None, RedirectResponse(identity.authorize_url(settings, app=app, next_path=next_path), 302)
    return identity.new_device(), None


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
            aspects=aspects_for(settings, place.channel),
            tags=tags_for(settings, place.channel),
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


@router.post("/feedback")
async def submit(request: Request) -> Response:
    """Take one filled form: checked whole (photos decoded, in a worker thread) before anything is stored,
    then stored by the ingest writer with the other submissions and messages of its batch (one commit:
    ingest.work); then 303 to the thanks page with the reference. A resubmit of the same form lands on the
    same reference. A plain urlencoded submission (no photos) is taken before it gets here, by the ASGI
    fast path (h5/fastpath.py), with the same checks and answers (h5/submission.py)."""
    return pages.response(await _submitted(request, _settings(request)))


async def _submitted(request: Request, settings: Settings) -> Answer:
    try:
        body = await _read_capped(request)
    except BodyTooLarge:
        return refused(texts.BODY_TOO_LARGE, 413)
    request._body = body  # starlette parses the form from the buffered body
    try:
        data = await request.form(
            max_files=submission.MAX_FILES,
            max_fields=submission.MAX_FIELDS,
            max_part_size=submission.MAX_PART,
        )
    except Exception:  # noqa: BLE001 — malformed multipart, too many parts
        return refused(texts.BAD_FORM)
    checked = submission.check(settings, identity.diner_of(request, settings), data)
    if isinstance(checked, Answer):
        return checked
    form, uploads = checked
    if uploads:
        # photo decoding and re-encoding run in a worker thread, never on the event loop (nor in the writer)
        try:
            photos = await run_in_threadpool(_photos, _engine(request), form, uploads)
        except PhotoError as exc:
            return refused(texts.photo_error(exc.problem, exc.index) + texts.NOTHING_STORED)
        if photos is None:  # a resubmit: nothing is decoded or stored again
            return submission.thanks(form.key, "again")
        form.photos = photos
    return await submission.store(request.app.state.intake.ingestor, settings, form)


def _photos(engine: Engine, form: FormInput, uploads: list[UploadFile]) -> list[bytes] | None:
    """The uploads decoded and re-encoded (PhotoError when one is refused); None for a resubmit."""
    with read_unit(engine) as session:
        seen = forms.by_key(session, key=form.key)
        if seen is not None and seen.diner == form.diner:
            return None
    raw = [u.file.read(MAX_PHOTO_BYTES + 1) for u in uploads]
    return clean_photos([p for p in raw if p])


@router.get("/thanks")
def thanks(request: Request, key: str = "", outcome: str = "created", again: str = "") -> Response:
    """The reference number of the diner's submission (only the diner who sent it sees it)."""
    settings = _settings(request)
    diner = identity.diner_of(request, settings)
    with Session(_engine(request)) as session:
        seen = forms.by_key(session, key=key) if key else None
        if diner is None or seen is None or seen.diner != diner.sender:
            return _error(texts.NOT_FOUND, 404)
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
        return _error(texts.NO_IDENTITY, 400)
    raw = str(data.get("answer", ""))
    if raw not in ("1", "2", "3"):
        return _error(texts.REVISIT_BAD, 400)
    try:
        with unit_of_work(_engine(request)) as session:
            fb = forms.own_by_reference(session, diner=diner.sender, reference=reference)
            if fb is None:
                raise HTTPException(404)
            record_answer(session, feedback=fb, answer=Revisit(raw), actor=diner.sender, now=utcnow())
    except HTTPException:
        return _error(texts.NOT_FOUND, 404)
    except RevisitError as exc:
        return _error(str(exc), 400)
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
