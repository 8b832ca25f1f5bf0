"""What every console page uses: the templates with the common context, the redirect that flashes a
message, and stored times as local text."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from console import texts
from console.auth import Principal
from core.clock import to_local
from core.settings import Settings

templates = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))


def render(request: Request, name: str, who: Principal | None, **context: Any) -> HTMLResponse:
    """A page with the common context."""
    return templates.TemplateResponse(
        request,
        name,
        {
            "who": who,
            "role_names": texts.ROLE_NAMES,
            "flash": request.query_params.get("msg"),
            "flash_error": request.query_params.get("err") == "1",
            **context,
        },
    )


def back(path: str, msg: str, *, error: bool = False) -> RedirectResponse:
    """Redirect (303) to a console page showing a message; the path and message are URL-encoded."""
    url = quote(path, safe="/") + "?msg=" + quote(msg, safe="") + ("&err=1" if error else "")
    return RedirectResponse(url, status_code=303)


def local(dt: datetime | None, settings: Settings, fmt: str = "%m-%d %H:%M") -> str:
    """A stored time (aware UTC) as local text, or empty."""
    return to_local(dt, settings.tz).strftime(fmt) if dt else ""


def when(dt: datetime | None, settings: Settings) -> str:
    """A stored time as local text with its year (the archive's pages), or empty."""
    return local(dt, settings, "%Y-%m-%d %H:%M")
