"""Signing in and out (a double-submit CSRF token on the login form), each role's landing page, and the
vendored static assets."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from console import auth
from console.auth import check_csrf
from console.deps import AnyRole, DbSession, SettingsDep
from console.pages.render import render

router = APIRouter(prefix="/console", include_in_schema=False)
STATIC = Path(__file__).parent.parent / "static"
LOGIN_CSRF = "houqin_login_csrf"


def _home(role: str) -> str:
    return "/console/volumes" if role == "archivist" else "/console/feedback"


@router.get("/login")
def login_page(request: Request, settings: SettingsDep) -> Response:
    """The login form (with a double-submit CSRF token)."""
    token = secrets.token_urlsafe(16)
    resp = render(request, "login.html", None, login_csrf=token)
    secure = settings.env == "production"
    resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", secure=secure)
    return resp


@router.post("/login")
def login(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
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
            production=settings.env == "production",
        )
    except auth.AuthError as exc:
        db.commit()  # the failed attempt is recorded
        return RedirectResponse(f"/console/login?msg={exc}&err=1", status_code=303)
    db.commit()
    resp = RedirectResponse(_home(user.role), status_code=303)
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
def logout(request: Request, db: DbSession, who: AnyRole, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session."""
    check_csrf(who, csrf)
    auth.logout(db, token=request.cookies.get(auth.COOKIE, ""))
    db.commit()
    resp = RedirectResponse("/console/login", status_code=303)
    resp.delete_cookie(auth.COOKIE)
    return resp


@router.get("")
@router.get("/")
def home(who: AnyRole) -> Response:
    """Each role's landing page."""
    return RedirectResponse(_home(who.user.role), status_code=303)


@router.get("/static/{name}")
def static(name: str) -> Response:
    """Vendored assets (ECharts)."""
    path = STATIC / name
    if name != path.name or not path.is_file():
        raise HTTPException(404)
    return FileResponse(path, headers={"cache-control": "max-age=86400"})
