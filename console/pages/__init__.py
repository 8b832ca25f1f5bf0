"""Console pages (Simplified Chinese, usable on a phone), one module per area — login, feedback (the inbox
and the detail page with every handling action), the dashboard, meetings, volumes, lookups and the
register — gathered here under one router. Roles are enforced on every page; every form carries a CSRF
token."""

from __future__ import annotations

from fastapi import APIRouter

from console.pages import archive, dashboard, feedback, login, lookups, meetings

router = APIRouter()
for area in (login, feedback, dashboard, archive, lookups, meetings):
    router.include_router(area.router)
