"""Outbound WeChat API clients (wechatpy), pointed at HOUQIN_WECHAT_API_BASE so tests can use a fake API.

Every call has a connect and a read timeout (HOUQIN_WECHAT_TIMEOUT_S; wechatpy's own token fetch has
none), and a client may be given an overall deadline (`budget_s`: the WeCom member look-up). The access
token comes from core/wechat_tokens.py: cached in this process, shared by every worker through Redis or
the `wechat_token` table, refreshed by one worker at a time. The Official Account's token is fetched from
`/cgi-bin/stable_token` in normal mode (force_refresh false), so a refresh never invalidates the token
another worker holds. A call answered 40001 / 40014 / 42001 (stale token) refreshes once and is retried
once; a second stale answer is raised, never a refresh storm.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.enterprise import WeChatClient as WeComClientBase
from wechatpy.exceptions import WeChatClientException

from core.settings import Settings
from core.wechat_tokens import KeeperSession, TokenKeeper, keeper_for

# errcodes meaning "this access token is not (or no longer) good"
STALE_TOKEN = frozenset({40001, 40014, 42001})
CONNECT_S = 2.0


class NotConfigured(Exception):
    """The app's credentials are not set, so its API cannot be called."""


class OutOfTime(requests.exceptions.Timeout):
    """The client's overall deadline passed before the next HTTP call could start."""


class _SharedToken:
    """What both clients add to wechatpy's: timeouts, a deadline, the shared token, one stale-token retry."""

    keeper: TokenKeeper
    read_timeout: float
    deadline: float | None
    token_key: str
    session: Any
    _http: requests.Session

    def _setup(self, keeper: TokenKeeper, *, kind: str, appid: str, secret: str, timeout: float) -> None:
        self.keeper = keeper
        self.read_timeout = timeout
        self.deadline = None
        digest = hashlib.sha256(secret.encode()).hexdigest()[:10]
        self.token_key = f"{kind}:{appid}:{digest}"  # one WeCom corp has one token per app secret
        self.session = KeeperSession(keeper)  # wechatpy's own code paths see the same tokens

    @property
    def access_token_key(self) -> str:
        """The token's key in the shared store."""
        return self.token_key

    def with_budget(self, seconds: float | None) -> Any:
        """Give every later call of this client `seconds` in all (tokens included); returns the client."""
        self.deadline = None if seconds is None else time.monotonic() + seconds
        return self

    def left(self) -> float:
        """Seconds the next HTTP call may take: the read timeout, cut to what is left of the deadline."""
        budget = self.read_timeout
        if self.deadline is not None:
            budget = min(budget, self.deadline - time.monotonic())
        if budget <= 0.01:
            raise OutOfTime("out of time for WeChat API calls")
        return budget

    def timeouts(self) -> tuple[float, float]:
        """(connect, read) timeouts for the next HTTP call."""
        budget = self.left()
        return (min(CONNECT_S, budget), budget)

    @property
    def access_token(self) -> str:
        """A fresh access token (memory, shared store, or one fetch by one refresher)."""
        return self.keeper.token(self.token_key, self._fetch_token, timeout=self.left())

    def fetch_access_token(self) -> dict[str, Any]:
        """Replace the token this process holds (another worker's newer one, or a fetched one)."""
        held = self.keeper.peek(self.token_key)
        value = self.keeper.refresh(
            self.token_key, self._fetch_token, bad=held.value if held else None, timeout=self.left()
        )
        return {"access_token": value}

    def _fetch_token(self, timeout: float) -> tuple[str, int]:
        raise NotImplementedError

    def _token_result(self, res: requests.Response) -> tuple[str, int]:
        try:
            res.raise_for_status()
        except requests.RequestException as exc:
            raise WeChatClientException(
                errcode=None, errmsg=None, client=self, request=exc.request, response=exc.response
            ) from None
        result = res.json()
        if result.get("errcode"):
            raise WeChatClientException(
                result["errcode"], result.get("errmsg", ""), client=self, request=res.request, response=res
            )
        return str(result["access_token"]), int(result.get("expires_in", 7200))

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeouts())
        params = kwargs.setdefault("params", {})
        try:
            return super()._request(method, url_or_endpoint, **kwargs)  # type: ignore[misc]
        except WeChatClientException as exc:
            if exc.errcode not in STALE_TOKEN or not isinstance(params, dict):
                raise
            bad = params.get("access_token")
            fresh = self.keeper.refresh(self.token_key, self._fetch_token, bad=bad, timeout=self.left())
            if fresh == bad:
                raise
            params["access_token"] = fresh
            kwargs["timeout"] = self.timeouts()
            return super()._request(method, url_or_endpoint, **kwargs)  # type: ignore[misc]


class OfficialAccountClient(_SharedToken, WeChatClient):
    """wechatpy's client with a configurable API base and the stable token (稳定版接口调用凭据)."""

    def __init__(
        self, appid: str, secret: str, *, api_base: str, keeper: TokenKeeper, timeout: float = 5
    ) -> None:
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base.rstrip("/") + "/cgi-bin/"
        self._setup(keeper, kind="mp", appid=appid, secret=secret, timeout=timeout)

    def _fetch_token(self, timeout: float) -> tuple[str, int]:
        res = self._http.post(
            self.API_BASE_URL + "stable_token",
            json={
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret,
                "force_refresh": False,  # normal mode: the token other workers hold stays valid
            },
            timeout=(min(CONNECT_S, timeout), timeout),
        )
        return self._token_result(res)


class WeComClient(_SharedToken, WeComClientBase):
    """wechatpy's WeCom client with a configurable API base."""

    def __init__(
        self, corp_id: str, secret: str, *, api_base: str, keeper: TokenKeeper, timeout: float = 5
    ) -> None:
        super().__init__(corp_id, secret, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base.rstrip("/") + "/cgi-bin/"
        self._setup(keeper, kind="wecom", appid=corp_id, secret=secret, timeout=timeout)

    def _fetch_token(self, timeout: float) -> tuple[str, int]:
        res = self._http.get(
            self.API_BASE_URL + "gettoken",
            params={"corpid": self.corp_id, "corpsecret": self.secret},
            timeout=(min(CONNECT_S, timeout), timeout),
        )
        return self._token_result(res)


def official_account(settings: Settings, *, keeper: TokenKeeper | None = None) -> OfficialAccountClient:
    """A client for the Official Account; raises NotConfigured without appid and secret."""
    if not (settings.wechat_appid and settings.wechat_secret):
        raise NotConfigured("HOUQIN_WECHAT_APPID and HOUQIN_WECHAT_SECRET are not set")
    return OfficialAccountClient(
        settings.wechat_appid,
        settings.wechat_secret,
        api_base=settings.wechat_api_base,
        keeper=keeper or keeper_for(settings),
        timeout=settings.wechat_timeout_s,
    )


def wecom(
    settings: Settings, *, keeper: TokenKeeper | None = None, budget_s: float | None = None
) -> WeComClient:
    """A client for the WeCom app (every call within `budget_s` in all, when given); raises NotConfigured
    without corp id and secret."""
    if not (settings.wecom_corpid and settings.wecom_secret):
        raise NotConfigured("HOUQIN_WECOM_CORPID and HOUQIN_WECOM_SECRET are not set")
    client = WeComClient(
        settings.wecom_corpid,
        settings.wecom_secret,
        api_base=settings.wecom_api_base,
        keeper=keeper or keeper_for(settings),
        timeout=settings.wechat_timeout_s,
    )
    client.with_budget(budget_s)
    return client
