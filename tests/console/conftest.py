"""Fixtures shared by the console's tests: `api_settings` (outbound WeChat calls go to the fake) and
`demo_clock` (a fixed, ticking clock for tests that pick from the demo's last week)."""

from __future__ import annotations

from tests.support.console_helpers import api_settings, demo_clock

__all__ = ["api_settings", "demo_clock"]  # fixtures
