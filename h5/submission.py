"""One form submission from its fields to its answer, shared by the FastAPI route (h5/routes.py: every
submission, photos included) and the ASGI fast path (h5/fastpath.py: the plain urlencoded one): the field
checks, the ingest writer's call, and what each outcome answers — so both paths give the same answers.

The checks need no database (the writer resolves the place, feedback.forms.submit); the answer is a 303 to
the thanks page with the reference's key, or the error page with a Chinese sentence (h5/texts.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.datastructures import FormData, UploadFile

from core.clock import utcnow
from core.settings import Settings
from feedback import forms
from feedback.forms import FormError, FormInput, FormProblem, Limits
from feedback.grammar import parse_scene
from feedback.models import Channel
from feedback.photos import MAX_PHOTO_BYTES, MAX_PHOTOS
from h5 import identity, texts
from h5.identity import Diner
from ingest.delivery import database_unavailable
from ingest.store import Store
from ingest.writer import Ingestor

MAX_BODY = MAX_PHOTOS * MAX_PHOTO_BYTES + 512 * 1024  # three full photos and the fields
MAX_FIELDS = 60  # fields of one submission (request.form's max_fields)
MAX_FILES = MAX_PHOTOS + 1
MAX_PART = 1024 * 1024  # bytes of one field's name and value (starlette's max_part_size)
MAX_COMMENT = 500
FORM_WAIT_S = 20.0  # how long a submission waits for the writer before the diner is asked to send again
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_RATE = (FormProblem.diner_rate, FormProblem.place_rate)


@dataclass(frozen=True)
class Answer:
    """What a submission is answered: a 303 to `location` (the thanks page), or the error page with
    `message` and `status`."""

    status: int
    location: str = ""
    message: str = ""


def refused(message: str, status: int = 400) -> Answer:
    """The error page with this sentence."""
    return Answer(status, message=message)


def thanks(key: str, outcome: str) -> Answer:
    """The 303 to the thanks page of the submission with this key (`again`: a resubmit)."""
    query = "again=1" if outcome == "again" else f"outcome={outcome}"
    return Answer(303, location=f"/h5/thanks?key={key}&{query}")


def aspects_for(settings: Settings, channel: str) -> list[str]:
    """The aspects the form asks about for a canteen or a meeting."""
    return settings.h5_meeting_aspects if channel == Channel.meeting else settings.h5_canteen_aspects


def tags_for(settings: Settings, channel: str) -> list[str]:
    """The quick tags the form offers for a canteen or a meeting."""
    return settings.h5_meeting_tags if channel == Channel.meeting else settings.h5_canteen_tags


def _score(value: Any) -> int | None:
    if not isinstance(value, str) or value not in ("1", "2", "3", "4", "5"):
        return None
    return int(value)


def check(
    settings: Settings, diner: Diner | None, data: FormData
) -> tuple[FormInput, list[UploadFile]] | Answer:
    """The submission checked field by field (no database), with its photo uploads; or the error answer.
    `diner`: whom the identity cookie names (None: none, or a forged one); the form's token must be theirs."""
    if diner is None or not identity.token_ok(settings, diner, str(data.get("csrf", ""))):
        return refused(texts.NO_IDENTITY)
    key = str(data.get("key", ""))
    if not _KEY.match(key):
        return refused(texts.BAD_FORM)
    parsed = parse_scene(str(data.get("scene", "")))
    if parsed is None:
        return refused(texts.UNKNOWN_PLACE)
    kind, code, table = parsed
    channel = Channel.meeting if kind == "meeting" else Channel.canteen
    score = _score(data.get("overall"))
    if score is None:
        return refused(texts.NO_SCORE if not data.get("overall") else texts.BAD_SCORE)
    aspects: dict[str, int] = {}
    for n, name in enumerate(aspects_for(settings, channel)):
        raw = data.get(f"aspect{n}")
        if raw:
            value = _score(raw)
            if value is None:
                return refused(texts.BAD_SCORE)
            aspects[name] = value
    chosen = {str(v) for v in data.getlist("tag")}
    tags = [t for t in tags_for(settings, channel) if t in chosen]
    comment = str(data.get("comment", "")).strip()
    if len(comment) > MAX_COMMENT:
        return refused(texts.COMMENT_TOO_LONG)
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


def _work(session: Session, *, form: FormInput, now: datetime, settings: Settings, limits: Limits) -> Any:
    """The writer's part (ingest.work): store the checked submission in the batch's transaction."""
    return forms.submit(session, store=Store(session), form=form, now=now, settings=settings, limits=limits)


async def store(ingestor: Ingestor, settings: Settings, form: FormInput) -> Answer:
    """Hand the checked submission to the ingest writer and answer what it did once committed (a refusal,
    a resubmit's reference, or «busy» while the database is away); anything else is raised."""
    limits = Limits(settings.h5_edit_minutes, settings.h5_diner_per_hour, settings.h5_place_per_minute)
    work = partial(_work, form=form, now=utcnow(), settings=settings, limits=limits)
    try:
        result = await ingestor.call(work, refusals=(FormError,), timeout=FORM_WAIT_S)
    except FormError as exc:
        return refused(texts.ERRORS_FORM[exc.problem], 429 if exc.problem in _RATE else 400)
    except IntegrityError:  # the same key from a concurrent double tap in another worker won: it is that one
        return thanks(form.key, "again")
    except TimeoutError:
        return refused(texts.BUSY, 503)
    except Exception as exc:
        if database_unavailable(exc):
            return refused(texts.BUSY, 503)
        raise
    return thanks(form.key, result.outcome)
