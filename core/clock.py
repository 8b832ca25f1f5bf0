"""Time: the database stores aware UTC (SQLModel's UTCDateTime); people see local time (HOUQIN_TIMEZONE)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(UTC)


def to_local(dt: datetime, tz: ZoneInfo) -> datetime:
    """A UTC timestamp as local time (naive input is taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(tz)


def from_epoch(seconds: int) -> datetime:
    """A Unix timestamp (WeChat's CreateTime) as aware UTC."""
    return datetime.fromtimestamp(seconds, UTC)
