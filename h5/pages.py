"""The feedback page's HTML: its templates, and a submission's answer (h5.submission.Answer) as status,
headers and body — built once here for the FastAPI route and the ASGI fast path alike, so both send the
very same bytes."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from h5 import texts
from h5.submission import Answer

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
Headers = list[tuple[bytes, bytes]]


def page(
    request: Request, name: str, status: int = 200, *, cache: str = "no-store", **context: Any
) -> HTMLResponse:
    """A page of templates/ with the texts as `t`."""
    response = templates.TemplateResponse(request, name, {"t": texts, **context}, status_code=status)
    response.headers["cache-control"] = cache
    return response


@lru_cache(maxsize=64)
def _error_body(message: str) -> bytes:
    # a handful of fixed sentences: each page is rendered once per process
    return templates.get_template("error.html").render({"t": texts, "message": message}).encode()


def raw(answer: Answer) -> tuple[int, Headers, bytes]:
    """The answer's status, headers and body, as sent: a 303 with its location (as starlette's
    RedirectResponse quotes it), or the error page, never cached."""
    if answer.location:
        location = quote(answer.location, safe=":/%#?=@[]!$&'()*+,;~").encode("latin-1")
        return answer.status, [(b"content-length", b"0"), (b"location", location)], b""
    body = _error_body(answer.message)
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"cache-control", b"no-store"),
        (b"content-length", str(len(body)).encode()),
    ]
    return answer.status, headers, body


def response(answer: Answer) -> Response:
    """The answer as a FastAPI response."""
    status, headers, body = raw(answer)
    out = Response(body, status)
    out.raw_headers = headers
    return out
