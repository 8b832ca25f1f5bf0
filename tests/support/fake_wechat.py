"""A fake WeChat / WeCom API, served on loopback: the outbound side of WeChat that tests can reach.

It issues tokens, QR tickets, accepts customer-service, template and WeCom messages, serves media and WeCom users,
records every call, and can be told to fail (errcode or HTTP 500) for a while.

Issue 11: `/cgi-bin/stable_token` (normal mode hands out the current token until it is invalidated),
`hits` (calls per endpoint: token, gettoken, stable_token, user/get), `hang` (endpoint → seconds to stall
before answering, until `release()`), and `invalid_tokens` (tokens that API calls answer with 40001).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc00000030101009a5b7b2f0000000049454e44ae426082"
)


@dataclass
class FakeWeChat:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_next: int = 0
    fail_errcode: int = -1
    tokens_issued: int = 0
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_media: bool = False  # media/get answers WeChat's JSON error (40007 invalid media_id)
    _ticket: Any = field(default_factory=lambda: itertools.count(1))
    # web OAuth (the feedback page): the openid WeChat's silent authorize gives, and WeCom's userid
    oauth_openid: str = "o_oauth_diner"
    oauth_userid: str = "wecom_oauth_user"
    hits: Counter[str] = field(default_factory=Counter)
    hang: dict[str, float] = field(default_factory=dict)
    invalid_tokens: set[str] = field(default_factory=set)
    stable_issued: int = 0
    _stable_current: str = ""
    _released: bool = False

    async def _hit(self, name: str) -> None:
        """Count a call to `name`, then stall it when `hang[name]` says so (until released)."""
        self.hits[name] += 1
        until = time.monotonic() + self.hang.get(name, 0.0)
        while time.monotonic() < until and not self._released:
            await asyncio.sleep(0.02)

    def release(self) -> None:
        """End every stall now and from now on (so the server stops quickly at the end of a test)."""
        self._released = True

    def _stale(self, request: Request) -> Response | None:
        if request.query_params.get("access_token", "") in self.invalid_tokens:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
        return None

    async def stable_token(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.calls.append(("stable_token", body))
        await self._hit("stable_token")
        if body.get("grant_type") != "client_credential" or not body.get("appid") or not body.get("secret"):
            return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
        if (
            body.get("force_refresh")
            or not self._stable_current
            or self._stable_current in self.invalid_tokens
        ):
            self.stable_issued += 1
            self._stable_current = f"STABLE{self.stable_issued}"
        return JSONResponse({"access_token": self._stable_current, "expires_in": 7200})

    def _failing(self) -> Response | None:
        if self.fail_next > 0:
            self.fail_next -= 1
            if self.fail_errcode == 500:
                return Response("boom", status_code=500)
            return JSONResponse({"errcode": self.fail_errcode, "errmsg": "system busy"})
        return None

    async def token(self, request: Request) -> Response:
        await self._hit(request.url.path.rsplit("/", 1)[-1])  # token or gettoken
        self.tokens_issued += 1
        self.calls.append(("token", dict(request.query_params)))
        return JSONResponse({"access_token": f"TOKEN{self.tokens_issued}", "expires_in": 7200})

    async def qrcode(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.calls.append(("qrcode", body))
        n = next(self._ticket)
        return JSONResponse(
            {
                "ticket": f"TICKET{n}",
                "expire_seconds": body.get("expire_seconds", 0),
                "url": f"http://weixin.qq.com/q/fake{n}",
            }
        )

    async def custom_send(self, request: Request) -> Response:
        if (stale := self._stale(request)) is not None:
            self.calls.append(("custom_send_stale", {}))
            return stale
        if (failure := self._failing()) is not None:
            self.calls.append(("custom_send_failed", {}))
            return failure
        body = json.loads(await request.body())
        self.calls.append(("custom_send", body))
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def template_send(self, request: Request) -> Response:
        if (failure := self._failing()) is not None:
            self.calls.append(("template_send_failed", {}))
            return failure
        body = json.loads(await request.body())
        self.calls.append(("template_send", body))
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": len(self.calls)})

    async def media_get(self, request: Request) -> Response:
        self.calls.append(("media_get", dict(request.query_params)))
        if self.fail_media:
            return JSONResponse({"errcode": 40007, "errmsg": "invalid media_id"})
        return Response(PNG_1PX, media_type="image/png")

    async def wecom_user(self, request: Request) -> Response:
        userid = request.query_params.get("userid", "")
        self.calls.append(("wecom_user", {"userid": userid}))
        await self._hit("user/get")
        if (stale := self._stale(request)) is not None:
            return stale
        user = self.users.get(userid)
        if user is None:
            return JSONResponse({"errcode": 60111, "errmsg": "userid not found"})
        return JSONResponse({"errcode": 0, "errmsg": "ok", "userid": userid, **user})

    async def wecom_send(self, request: Request) -> Response:
        if (failure := self._failing()) is not None:
            return failure
        body = json.loads(await request.body())
        self.calls.append(("wecom_send", body))
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def oauth_authorize(self, request: Request) -> Response:
        # open.weixin.qq.com's silent (snsapi_base) authorize: straight back with a code
        query = dict(request.query_params)
        self.calls.append(("oauth_authorize", query))
        sep = "&" if "?" in query["redirect_uri"] else "?"
        return RedirectResponse(
            f"{query['redirect_uri']}{sep}code=CODE-{len(self.calls)}&state={query['state']}", 302
        )

    async def oauth_token(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.calls.append(("oauth_token", query))
        if not query.get("code", "").startswith("CODE-") or query.get("grant_type") != "authorization_code":
            return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})
        return JSONResponse(
            {
                "access_token": "WEBTOKEN",
                "expires_in": 7200,
                "openid": self.oauth_openid,
                "scope": "snsapi_base",
            }
        )

    async def wecom_oauth_user(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.calls.append(("wecom_getuserinfo", query))
        if not query.get("code", "").startswith("CODE-"):
            return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})
        return JSONResponse({"errcode": 0, "errmsg": "ok", "userid": self.oauth_userid})

    async def menu_create(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.calls.append(("menu_create", body))
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/cgi-bin/token", self.token),
                Route("/cgi-bin/gettoken", self.token),
                Route("/cgi-bin/stable_token", self.stable_token, methods=["POST"]),
                Route("/cgi-bin/qrcode/create", self.qrcode, methods=["POST"]),
                Route("/cgi-bin/message/custom/send", self.custom_send, methods=["POST"]),
                Route("/cgi-bin/message/template/send", self.template_send, methods=["POST"]),
                Route("/cgi-bin/media/get", self.media_get),
                Route("/cgi-bin/user/get", self.wecom_user),
                Route("/cgi-bin/message/send", self.wecom_send, methods=["POST"]),
                Route("/connect/oauth2/authorize", self.oauth_authorize),
                Route("/sns/oauth2/access_token", self.oauth_token),
                Route("/cgi-bin/auth/getuserinfo", self.wecom_oauth_user),
                Route("/cgi-bin/menu/create", self.menu_create, methods=["POST"]),
            ]
        )

    def named(self, name: str) -> list[dict[str, Any]]:
        return [body for call, body in self.calls if call == name]


@contextmanager
def running(users: dict[str, dict[str, Any]] | None = None) -> Iterator[tuple[FakeWeChat, str]]:
    """A fake WeChat API with these WeCom members, served on loopback: (the fake, its base URL); a hung
    endpoint is released before the server stops."""
    from tests.support.servers import serve

    fake = FakeWeChat(users=users or {})
    with serve(fake.app()) as url:
        try:
            yield fake, url
        finally:
            fake.release()
