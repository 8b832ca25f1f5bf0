"""The console's FastAPI dependencies, shared by the pages and the API: the request's database session,
the app's settings, and the caller each role admits (`Manager`, `Reception`, `Archivist`, `AnyRole`).
A page without a signed-in caller redirects to the login page; the API answers 401, the wrong role 403."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlmodel import Session

from console.auth import Principal, principal
from console.models import ROLES
from core.db import read_bind
from core.settings import Settings

ROLES_ALL = ROLES
MANAGERS = ("canteen_manager", "reception_manager")
RECEPTION = ("reception_manager",)
ARCHIVISTS = ("archivist",)


def get_db(request: Request) -> Iterator[Session]:
    """One session per request; the route's service calls commit through it. GET and HEAD requests read
    only: their transactions begin deferred and never take SQLite's write lock (issue 11)."""
    engine = request.app.state.engine
    bind = read_bind(engine) if request.method in ("GET", "HEAD") else engine
    with Session(bind, expire_on_commit=False) as session:
        yield session


DbSession = Annotated[Session, Depends(get_db)]


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


class NotSignedIn(Exception):
    """Raised for pages: the app turns it into a redirect to the login page."""


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting the given roles (admin always); pages redirect to login, the API says 401."""

    def dependency(request: Request, db: DbSession) -> Principal:
        who = principal(db, request)
        if who is None:
            if request.url.path.startswith("/console"):
                raise NotSignedIn
            raise HTTPException(401, "not signed in")
        if who.user.role != "admin" and who.user.role not in roles:
            raise HTTPException(403, "此页面不属于您的角色 / not for your role")
        request.state.principal = who
        return who

    return dependency


AnyRole = Annotated[Principal, Depends(require(*ROLES_ALL))]
Manager = Annotated[Principal, Depends(require(*MANAGERS))]  # sees its own channel's feedback
Reception = Annotated[Principal, Depends(require(*RECEPTION))]
Archivist = Annotated[Principal, Depends(require(*ARCHIVISTS))]

# the API's writes: a cookie session sends its CSRF token in this header (bearer tokens need none)
CsrfHeader = Annotated[
    str | None, Header(alias="X-CSRF-Token", description="the session's CSRF token (cookie sessions only)")
]
