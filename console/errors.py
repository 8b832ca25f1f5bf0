"""Error answers: the console (`/console/…`) gets a Chinese HTML page (403, 404, 422, 500, …) in the
console's layout; everything else (`/api/v1`, the webhook, ops) keeps FastAPI's JSON `{"detail": …}`.
Unexpected exceptions are logged with their stack trace and never shown to the caller."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from console import inputs, texts

log = logging.getLogger("houqin.app")


def wants_page(request: Request) -> bool:
    """Whether the caller is a console page (HTML) rather than the API or a machine."""
    return request.url.path == "/console" or request.url.path.startswith("/console/")


def _chinese(detail: Any) -> str:
    """The person's part of a detail like 「此页面不属于您的角色 / not for your role」."""
    text = detail if isinstance(detail, str) else ""
    return text.split(" / ")[0].strip()


def error_page(request: Request, status_code: int, message: str = "") -> Response:
    """The console's error page."""
    from console.auth import principal
    from console.pages.render import render

    who = getattr(request.state, "principal", None)
    if who is None:  # a 404 before any route ran: still show the header of a signed-in person
        try:
            from sqlmodel import Session

            with Session(request.app.state.engine) as db:
                who = principal(db, request)
        except Exception:  # the database may be what failed
            who = None
    resp = render(
        request,
        "error.html",
        who,
        status_code=status_code,
        title=texts.ERROR_TITLES.get(status_code, texts.ERROR_TITLES[400]),
        message=message,
        hint=texts.ERROR_HINTS.get(status_code, texts.ERROR_DEFAULT_HINT),
    )
    resp.status_code = status_code
    return resp


def install(app: FastAPI) -> None:
    """Register the handlers on the app."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_page(request):
            message = _chinese(exc.detail)
            if message in ("Not Found", "Method Not Allowed", "Forbidden"):
                message = ""
            resp = error_page(request, exc.status_code, message)
            for k, v in (exc.headers or {}).items():
                resp.headers[k] = v
            return resp
        return await http_exception_handler(request, exc)

    @app.exception_handler(inputs.InputError)
    async def _refused_input(request: Request, exc: inputs.InputError) -> Response:
        if wants_page(request):
            return error_page(request, 400, str(exc))
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if wants_page(request):
            return error_page(request, 422, texts.INVALID_INPUT)
        return await request_validation_exception_handler(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # never leak a stack trace to the caller; the log has it
        log.exception("unhandled error", exc_info=exc)
        if wants_page(request):
            try:
                return error_page(request, 500)
            except Exception:  # the page itself failed: fall back to the JSON answer
                log.exception("error page failed")
        return JSONResponse({"detail": texts.INTERNAL_ERROR}, status_code=500)
