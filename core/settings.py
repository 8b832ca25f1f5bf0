"""Settings (pydantic-settings): every knob is an environment variable `HOUQIN_*`; `.env` is read when present."""

from __future__ import annotations

import base64
import binascii
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_TOKEN = "houqin-dev-token"
WECHAT_API_BASE = "https://api.weixin.qq.com"
WECOM_API_BASE = "https://qyapi.weixin.qq.com"


class ConfigError(ValueError):
    """A setting is wrong; the message is one line a person can act on."""


def _check_aes_key(name: str, value: str) -> str:
    if not value:
        return value
    if len(value) != 43:
        raise ConfigError(f"{name} must be 43 characters (WeChat's EncodingAESKey), got {len(value)}")
    try:
        raw = base64.b64decode(value + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{name} is not valid base64: {exc}") from None
    if len(raw) != 32:
        raise ConfigError(f"{name} does not decode to a 32-byte AES key")
    return value


# --- the manager's day (issue 13): HOUQIN_SLA's shape (feedback/sla.py does the counting) --------------


class SlaRule(BaseModel):
    """One deadline rule: acknowledge within hours or working days; rectify within working days (or never)."""

    ack_hours: float | None = Field(default=None, gt=0)
    ack_days: int | None = Field(default=None, ge=1)
    rectify_days: int | None = Field(default=None, ge=1)


class SlaRules(BaseModel):
    """HOUQIN_SLA: food safety first, then a low score (≤ max_score), then everything else."""

    food_safety: SlaRule = SlaRule(ack_hours=2, rectify_days=1)
    low_score: SlaRule = SlaRule(ack_days=1, rectify_days=5)
    max_score: int = Field(default=2, ge=1, le=5)
    other: SlaRule = SlaRule(ack_days=3)
    # working hours, local time: spans of HH:MM-HH:MM
    work_hours: list[str] = ["08:30-12:00", "13:30-17:30"]

    @field_validator("work_hours")
    @classmethod
    def _hours(cls, v: list[str]) -> list[str]:
        if not v:
            raise ConfigError("HOUQIN_SLA work_hours needs at least one span such as 08:30-17:30")
        for span in v:
            try:
                a, b = (time.fromisoformat(x.strip()) for x in span.split("-"))
            except ValueError:
                raise ConfigError(f"HOUQIN_SLA work_hours: {span!r} is not HH:MM-HH:MM") from None
            if a >= b:
                raise ConfigError(f"HOUQIN_SLA work_hours: {span!r} ends before it starts")
        return v


class Settings(BaseSettings):
    """All of houqin's configuration: HOUQIN_* environment variables or `.env` (docs/deployment.md §2)."""

    model_config = SettingsConfigDict(env_prefix="HOUQIN_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./var/houqin.db"
    data_dir: Path = Path("./var")
    timezone: str = "Asia/Shanghai"

    wechat_token: str = DEV_TOKEN
    wechat_appid: str = ""
    wechat_secret: str = ""
    wechat_aes_key: str = ""
    wechat_api_base: str = WECHAT_API_BASE
    # a template message (模板消息) carries replies past the 48-hour customer-service window; empty: none
    wechat_reply_template_id: str = ""

    wecom_corpid: str = ""
    wecom_agentid: str = ""
    wecom_secret: str = ""
    wecom_token: str = ""
    wecom_aes_key: str = ""
    wecom_api_base: str = WECOM_API_BASE

    redis_url: str = ""
    # outbound WeChat / WeCom HTTP (tokens included): the read timeout of each call, seconds (connect: at
    # most 2 s); an unknown WeCom member's look-up (token + user/get) gets wecom_lookup_timeout_s in all,
    # and a failed look-up is not tried again for wecom_lookup_retry_s (issue 11)
    wechat_timeout_s: float = Field(default=5.0, gt=0, le=60)
    wecom_lookup_timeout_s: float = Field(default=1.5, gt=0, le=2)
    wecom_lookup_retry_s: int = Field(default=600, ge=0)

    fonds_code: str = "J001"
    fonds_name: str = "示例市机关事务管理局"
    compile_cron: str = "0 2 1 * *"
    fixity_cron: str = "0 3 * * 0"
    # the daily digest to on-duty managers and managers, local time
    digest_cron: str = "0 8 * * *"
    retention_code: str = "D10"
    # 保管期限 per volume type (channel), from the agency's approved retention table; Y, D30 or D10
    retention_by_channel: dict[str, str] = Field(default_factory=lambda: {"canteen": "D10", "meeting": "D10"})
    volume_max_items: int = 2000
    channel_codes: dict[str, str] = Field(default_factory=lambda: {"canteen": "CYF", "meeting": "HWF"})
    # --- issue 14: the people on a volume (立卷人 / 立卷单位, the scheduled audits' agent) and its PDF font ---
    # empty: the fonds name's office (「{fonds_name}办公室」)
    volume_compiler: str = ""
    volume_compiler_unit: str = ""
    fixity_by: str = ""
    # a TrueType/OpenType (or .ttc) CJK font for the volumes' PDF/A copy; empty: the first one found on the
    # machine (fonts-wqy-microhei, fonts-noto-cjk)
    pdf_font: str = ""

    # edge limits: what the webhook accepts and answers
    max_body_bytes: int = 64 * 1024
    timestamp_window_s: int = 300
    reply_max_bytes: int = 2048
    dialog_minutes: int = 10

    # group commit of inbound messages: how many a batch may hold
    ingest_batch_max: int = 256
    # reference numbers (FK…-0042) each worker reserves at a time: 1 makes them gap-free, but then every
    # batch of every worker queues on the day's counter row (see core/counters.py)
    reference_block: int = Field(default=32, ge=1, le=10_000)
    # pseudonyms in volumes are keyed with this secret so openids never leave the database
    pseudonym_secret: str = "houqin-dev-pseudonym"
    # signs the expiring links that approved lookups get; and the public address those links start with
    link_secret: str = "houqin-dev-link-secret"
    public_url: str = "http://localhost:8000"
    access_days: int = 7
    # issue 11: /metrics needs this bearer token (empty: direct loopback callers only); /docs in production
    metrics_token: str = ""
    docs_in_production: bool = False

    # --- the manager's day (issue 13): deadlines in working time, escalation, the return visit ----------
    # HOUQIN_SLA, JSON: {"food_safety": {"ack_hours": 2, "rectify_days": 1}, "low_score": {"ack_days": 1,
    # "rectify_days": 5}, "max_score": 2, "other": {"ack_days": 3}, "work_hours": ["08:30-12:00", ...]}
    sla: SlaRules = Field(default_factory=SlaRules)
    # who gets overdue items (comma-separated WeCom userids or openids); empty: every admin with a WeChat id
    escalate_to: str = ""
    # how often the escalation job looks for overdue items, cron
    escalate_cron: str = "*/15 * * * *"

    # --- the conversation (issue 12) ---
    # the phone number a diner reporting food safety (食品安全) is given: the duty manager's (值班电话)
    duty_phone: str = ""
    # how long the bot remembers the canteen a diner last gave feedback on (then it asks again)
    place_memory_days: int = Field(default=30, ge=0, le=3650)

    # --- the tap-to-rate page (h5/, issue 15) ---
    # aspects rated 1–5 besides the overall score: canteens, and meetings after DB32/T 3833-2020 appendix H
    h5_canteen_aspects: list[str] = Field(default_factory=lambda: ["口味", "卫生", "服务", "环境"])
    h5_meeting_aspects: list[str] = Field(default_factory=lambda: ["会场", "会务", "餐饮", "住宿"])
    h5_canteen_tags: list[str] = Field(
        default_factory=lambda: ["好吃", "偏咸", "偏油", "菜凉了", "分量少", "排队久", "餐具不洁", "态度好"]
    )
    h5_meeting_tags: list[str] = Field(
        default_factory=lambda: ["安排周到", "会场太冷", "会场太热", "音响不清", "用餐满意", "住宿满意"]
    )
    # sending again within this many minutes edits one's feedback for that meal and place instead of adding one
    h5_edit_minutes: int = 30
    # rate limits: accepted submissions per diner (or device) per hour, and per place per minute
    h5_diner_per_hour: int = 12
    h5_place_per_minute: int = 120
    # the authorize page of WeChat's (and WeCom's) web OAuth; tests point it at the fake API
    wechat_oauth_base: str = "https://open.weixin.qq.com"

    @field_validator("wechat_aes_key")
    @classmethod
    def _wechat_key(cls, v: str) -> str:
        return _check_aes_key("HOUQIN_WECHAT_AES_KEY", v)

    @field_validator("wecom_aes_key")
    @classmethod
    def _wecom_key(cls, v: str) -> str:
        return _check_aes_key("HOUQIN_WECOM_AES_KEY", v)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"HOUQIN_TIMEZONE {v!r} is not a known time zone") from None
        return v

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        if self.env == "production":
            if self.wechat_token == DEV_TOKEN:
                raise ConfigError("HOUQIN_WECHAT_TOKEN must be set to the real token in production")
            if not self.wechat_aes_key:
                raise ConfigError(
                    "HOUQIN_WECHAT_AES_KEY is required in production (plaintext mode is refused)"
                )
            if self.pseudonym_secret == "houqin-dev-pseudonym":
                raise ConfigError("HOUQIN_PSEUDONYM_SECRET must be set in production")
            if self.link_secret == "houqin-dev-link-secret":
                raise ConfigError("HOUQIN_LINK_SECRET must be set in production")
        return self

    @property
    def tz(self) -> ZoneInfo:
        """The local time zone: meals, periods and volume dates are local."""
        return ZoneInfo(self.timezone)

    # --- issue 14: who compiles and audits volumes ---------------------------------------------------
    @property
    def compiler_unit(self) -> str:
        """立卷单位: HOUQIN_VOLUME_COMPILER_UNIT, or the fonds name's office."""
        return self.volume_compiler_unit.strip() or f"{self.fonds_name}办公室"

    @property
    def compiler_name(self) -> str:
        """立卷人: HOUQIN_VOLUME_COMPILER, or the 立卷单位."""
        return self.volume_compiler.strip() or self.compiler_unit

    @property
    def fixity_agent(self) -> str:
        """Who the scheduled fixity audits are done by: HOUQIN_FIXITY_BY, or the 立卷单位."""
        return self.fixity_by.strip() or self.compiler_unit

    @property
    def simulator_enabled(self) -> bool:
        """The simulator plays WeChat; it is never on in production."""
        return self.env != "production"

    @property
    def wecom_enabled(self) -> bool:
        """WeCom's callback is served only when its crypto settings are complete."""
        return bool(self.wecom_corpid and self.wecom_token and self.wecom_aes_key)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
