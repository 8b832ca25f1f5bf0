"""Outbound WeChat API clients (wechatpy), pointed at HOUQIN_WECHAT_API_BASE so tests can use a fake API.

The access token is cached in Redis when HOUQIN_REDIS_URL is set, so several workers share one token
instead of invalidating each other's.
"""

from __future__ import annotations

from typing import Any

from wechatpy import WeChatClient
from wechatpy.enterprise import WeChatClient as WeComClientBase
from wechatpy.session.memorystorage import MemoryStorage

from core.settings import Settings


class NotConfigured(Exception):
    """The app's credentials are not set, so its API cannot be called."""


class OfficialAccountClient(WeChatClient):
    """wechatpy's client with a configurable API base (its token URL is otherwise hard-coded)."""

    def __init__(
        self, appid: str, secret: str, *, api_base: str, session: Any = None, timeout: float = 5
    ) -> None:
        super().__init__(appid, secret, session=session, timeout=timeout)
        self.API_BASE_URL = api_base.rstrip("/") + "/cgi-bin/"

    def fetch_access_token(self) -> Any:
        """Fetch a token from the configured base."""
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class WeComClient(WeComClientBase):
    """wechatpy's WeCom client with a configurable API base."""

    def __init__(
        self, corp_id: str, secret: str, *, api_base: str, session: Any = None, timeout: float = 5
    ) -> None:
        super().__init__(corp_id, secret, session=session, timeout=timeout)
        self.API_BASE_URL = api_base.rstrip("/") + "/cgi-bin/"

    def fetch_access_token(self) -> Any:
        """Fetch a token from the configured base."""
        return self._fetch_access_token(
            url=self.API_BASE_URL + "gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}
        )


def _storage(settings: Settings) -> Any:
    if settings.redis_url:
        import redis
        from wechatpy.session.redisstorage import RedisStorage

        return RedisStorage(redis.Redis.from_url(settings.redis_url), prefix="houqin")
    return MemoryStorage()


def official_account(settings: Settings) -> OfficialAccountClient:
    """A client for the Official Account; raises NotConfigured without appid and secret."""
    if not (settings.wechat_appid and settings.wechat_secret):
        raise NotConfigured("HOUQIN_WECHAT_APPID and HOUQIN_WECHAT_SECRET are not set")
    return OfficialAccountClient(
        settings.wechat_appid,
        settings.wechat_secret,
        api_base=settings.wechat_api_base,
        session=_storage(settings),
    )


def wecom(settings: Settings) -> WeComClient:
    """A client for the WeCom app; raises NotConfigured without corp id and secret."""
    if not (settings.wecom_corpid and settings.wecom_secret):
        raise NotConfigured("HOUQIN_WECOM_CORPID and HOUQIN_WECOM_SECRET are not set")
    return WeComClient(
        settings.wecom_corpid,
        settings.wecom_secret,
        api_base=settings.wecom_api_base,
        session=_storage(settings),
    )
