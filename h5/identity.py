"""Who is filling the form: the openid from WeChat's silent OAuth (snsapi_base), the userid from WeCom's
OAuth, or else a signed anonymous device token. All three live in one signed cookie; a forged or
tampered cookie is ignored (that browser starts over as a new device and sees nothing of anyone's)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_decode

from core.settings import Settings
from core.wechat_api import wecom

log = logging.getLogger("houqin.h5")
COOKIE = "houqin_h5"
COOKIE_DAYS = 400


@dataclass(frozen=True)
class Diner:
    """The person behind the form: `kind` mp (openid), wecom (userid) or h5 (anonymous device)."""

    kind: str
    id: str

    @property
    def sender(self) -> str:
        """The Feedback.sender this diner's feedback carries."""
        return self.id if self.kind in ("mp", "wecom") else f"h5:{self.id}"

    @property
    def source(self) -> str:
        """The Feedback.source (replies to mp/wecom diners go through the chat)."""
        return self.kind


class _Seal:
    """One salt's itsdangerous serializer, built once, with a quicker `loads` that accepts exactly what
    `URLSafeSerializer.loads` accepts (the same HMAC-SHA1 over the same derived key): itsdangerous builds a
    signer and derives its key on every call, a third of checking a submission's cookie and form token."""

    __slots__ = ("mac", "serializer")

    def __init__(self, secret: str, salt: str) -> None:
        self.serializer = URLSafeSerializer(secret, salt=salt)
        # itsdangerous' default key derivation ("django-concat" over SHA-1), keyed once and copied per value:
        # not hmac.digest(), which lets go of the GIL and then waits for it behind the writer thread
        self.mac = hmac.new(hashlib.sha1(salt.encode() + b"signer" + secret.encode()).digest(), None, "sha1")

    def loads(self, value: str) -> Any:
        """The signed value's payload; BadSignature when the signature is missing or wrong."""
        payload, sep, sig = value.encode().rpartition(b".")
        if not sep:
            raise BadSignature("no signature")
        try:
            given = base64_decode(sig)
        except Exception:  # noqa: BLE001 — as itsdangerous: undecodable is a wrong signature
            raise BadSignature("bad signature") from None
        mac = self.mac.copy()
        mac.update(payload)
        if not hmac.compare_digest(given, mac.digest()):
            raise BadSignature("bad signature")
        return self.serializer.load_payload(payload)


@lru_cache(maxsize=32)
def _seal(secret: str, salt: str) -> _Seal:
    return _Seal(secret, salt)


def _signer(settings: Settings, salt: str) -> URLSafeSerializer:
    return _seal(settings.link_secret, salt).serializer


def diner_of(request: Request, settings: Settings) -> Diner | None:
    """The diner the request's cookie names, or None (no cookie, or a forged one)."""
    return diner_from(settings, request.cookies.get(COOKIE))


def diner_from(settings: Settings, raw: str | None) -> Diner | None:
    """The diner a raw identity cookie names, or None (no cookie, or a forged one)."""
    if not raw:
        return None
    try:
        data = _seal(settings.link_secret, "houqin-h5-diner").loads(raw)
    except BadSignature:
        return None
    if not (
        isinstance(data, dict) and data.get("k") in ("mp", "wecom", "h5") and isinstance(data.get("i"), str)
    ):
        return None
    return Diner(data["k"], data["i"])


def remember(response: Response, settings: Settings, diner: Diner) -> None:
    """Set the signed identity cookie (HttpOnly, SameSite=Lax: a cross-site POST carries no identity)."""
    value = _signer(settings, "houqin-h5-diner").dumps({"k": diner.kind, "i": diner.id})
    response.set_cookie(
        COOKIE,
        value,
        max_age=COOKIE_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https://"),
        path="/h5",
    )


def new_device() -> Diner:
    """A fresh anonymous device."""
    return Diner("h5", secrets.token_urlsafe(18))


def token_for(settings: Settings, diner: Diner) -> str:
    """A per-diner form token (CSRF): only pages served to this diner carry it."""
    return _signer(settings, "houqin-h5-csrf").dumps(diner.sender)


def token_ok(settings: Settings, diner: Diner, token: str) -> bool:
    """Whether `token` was issued to this diner."""
    try:
        return bool(_seal(settings.link_secret, "houqin-h5-csrf").loads(token) == diner.sender)
    except BadSignature:
        return False


def oauth_app(request: Request, settings: Settings) -> str | None:
    """Which OAuth applies: wecom inside WeCom, mp inside WeChat (with credentials), else None."""
    agent = request.headers.get("user-agent", "")
    if "wxwork" in agent and settings.wecom_corpid and settings.wecom_secret:
        return "wecom"
    if "MicroMessenger" in agent and settings.wechat_appid and settings.wechat_secret:
        return "mp"
    return None


def authorize_url(settings: Settings, *, app: str, next_path: str) -> str:
    """WeChat's (or WeCom's) silent authorize page, which comes back to /h5/oauth with a code."""
    state = _signer(settings, "houqin-h5-oauth").dumps({"a": app, "n": next_path})
    params = {
        "appid": settings.wecom_corpid if app == "wecom" else settings.wechat_appid,
        "redirect_uri": settings.public_url.rstrip("/") + "/h5/oauth",
        "response_type": "code",
        "scope": "snsapi_base",
        "state": state,
    }
    if app == "wecom":
        params["agentid"] = settings.wecom_agentid
    return f"{settings.wechat_oauth_base.rstrip('/')}/connect/oauth2/authorize?{urlencode(params)}#wechat_redirect"


def read_state(settings: Settings, state: str) -> tuple[str, str] | None:
    """(app, next path) from a state we signed, or None."""
    try:
        data = _signer(settings, "houqin-h5-oauth").loads(state)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("a") not in ("mp", "wecom"):
        return None
    next_path = str(data.get("n") or "/h5/feedback")
    return str(data["a"]), next_path if next_path.startswith("/h5/") else "/h5/feedback"


def exchange(settings: Settings, *, app: str, code: str) -> Diner | None:
    """The OAuth code exchanged for the openid (WeChat) or userid (WeCom); None when it fails."""
    try:
        if app == "mp":
            r = httpx.get(
                settings.wechat_api_base.rstrip("/") + "/sns/oauth2/access_token",
                params={
                    "appid": settings.wechat_appid,
                    "secret": settings.wechat_secret,
                    "code": code,
                    "grant_type": "authorization_code",
                },
                timeout=5,
            )
            data = r.json()
            openid = data.get("openid")
            return Diner("mp", openid) if isinstance(openid, str) and openid else None
        client = wecom(settings)
        r = httpx.get(
            settings.wecom_api_base.rstrip("/") + "/cgi-bin/auth/getuserinfo",
            params={"access_token": client.access_token, "code": code},
            timeout=5,
        )
        data = r.json()
        userid = data.get("userid") or data.get("UserId")
        return Diner("wecom", userid) if isinstance(userid, str) and userid else None
    except Exception as exc:  # noqa: BLE001 — the diner goes on as an anonymous device
        log.warning("h5 oauth exchange failed: %s", type(exc).__name__)
        return None
