"""Fixtures shared by the console's tests: `api_settings` (outbound WeChat calls go to the fake)."""

from __future__ import annotations

from tests.support.console_helpers import api_settings

__all__ = ["api_settings"]  # fixtures
