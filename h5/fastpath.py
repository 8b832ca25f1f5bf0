"""The ASGI fast path of the feedback form: a plain urlencoded `POST /h5/feedback` (every submission without
photos, which is most of them) served without FastAPI's routing, middleware and form parser.

Why: on one core, FastAPI's per-request machinery cost more CPU than checking and storing the submission
(docs/benchmarks.md, "The feedback form"), as it did for the webhook (bot/fastpath.py). The fast path
runs the same checks and the same writer call as the FastAPI route (h5/submission.py) and sends the same
bytes (h5/pages.py); a multipart submission (photos) and anything else goes on to FastAPI. What the fast
path does not expect (a bug) is not answered here: the request goes on to FastAPI with its body, whose
own error handlers answer it. The wrapper sits inside bot.fastpath's, which counts and logs every request
under its route (`scope["route"]`, set here as FastAPI's router would).
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData
from starlette.requests import cookie_parser

from core.settings import Settings
from h5 import identity, pages, submission, texts
from h5.submission import MAX_BODY, MAX_FIELDS, MAX_PART, Answer, refused
from ingest.writer import Ingestor

log = logging.getLogger("houqin.h5")
PATH = "/h5/feedback"
_URLENCODED = b"application/x-www-form-urlencoded"


class _Route(NamedTuple):
    path: str


_ROUTE = _Route(PATH)  # what the metrics and the access log name it by, as for FastAPI's route


def parse_urlencoded(body: bytes) -> FormData | None:
    """The fields of an urlencoded body exactly as starlette's form parser reads them; None where it
    refuses (more than MAX_FIELDS fields, or one field over MAX_PART bytes)."""
    items: list[tuple[str, Any]] = []
    for chunk in body.split(b"&"):
        if not chunk:
            continue
        name, _, value = chunk.partition(b"=")
        if len(name) + len(value) > MAX_PART or len(items) == MAX_FIELDS:
            return None
        items.append((unquote_plus(name.decode("latin-1")), unquote_plus(value.decode("latin-1"))))
    return FormData(items)


def _header(headers: Any, name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(headers: Any) -> str | None:
    """The identity cookie, read from every Cookie header as starlette's `request.cookies` does."""
    cookies: dict[str, str] = {}
    for key, value in headers:
        if key == b"cookie":
            cookies.update(cookie_parser(value.decode("latin-1")))
    return cookies.get(identity.COOKIE)


def _takes(scope: Any) -> bool:
    if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
        return False
    content_type, _ = parse_options_header(_header(scope["headers"], b"content-type"))
    return bool(content_type == _URLENCODED)


class FormFastPath:
    """ASGI wrapper around the FastAPI app: takes the urlencoded form submissions itself, hands everything
    else on."""

    def __init__(self, app: Any, *, settings: Settings, ingestor: Ingestor) -> None:
        self.app = app
        self.settings = settings
        self.ingestor = ingestor

    def __getattr__(self, name: str) -> Any:  # state, routes, … of the wrapped FastAPI app
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not _takes(scope):
            await self.app(scope, receive, send)
            return
        body = await _read(scope, receive)
        if body is None:
            return  # the diner went away while sending
        if isinstance(body, Answer):
            answer = body
        else:
            try:
                answer = await self._answer(scope, body)
            except Exception:  # noqa: BLE001 — FastAPI's error handlers answer it
                log.warning("form fast path failed; handing the request to FastAPI", exc_info=True)
                await self.app(scope, _replay(body, receive), send)
                return
        status, headers, out = pages.raw(answer)
        scope["route"] = _ROUTE
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    async def _answer(self, scope: Any, body: bytes) -> Answer:
        data = parse_urlencoded(body)
        if data is None:
            return refused(texts.BAD_FORM)
        diner = identity.diner_from(self.settings, _cookie(scope["headers"]))
        checked = submission.check(self.settings, diner, data)
        if isinstance(checked, Answer):
            return checked
        form, _ = checked  # an urlencoded body carries no uploads
        return await submission.store(self.ingestor, self.settings, form)


async def _read(scope: Any, receive: Any) -> bytes | Answer | None:
    """The body, or the 413 answer as soon as it passes MAX_BODY (never buffered past the cap); None when
    the client disconnected."""
    declared = _header(scope["headers"], b"content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        return refused(texts.BODY_TOO_LARGE, 413)
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return refused(texts.BODY_TOO_LARGE, 413)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    """A `receive` that gives the already read body first, then whatever the client sends next."""
    sent = False

    async def replayed() -> Any:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
