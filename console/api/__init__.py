"""The JSON API behind the console (`/api/v1`, OpenAPI at `/docs`): feedback and its handling, the
dashboard, meetings, volumes and lookups — the same roles and the same shared queries as the pages, one
module per area, gathered here under one router.

Callers authenticate with the console's session cookie (then every POST/PUT needs the session's CSRF
token in `X-CSRF-Token`; `GET /api/v1/me` returns it) or with `Authorization: Bearer <token>`
(`houqin token create`; no CSRF). No credentials: 401; the wrong role: 403.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.security import HTTPBearer

from console.api import account, archive, dashboard, feedback, lookups, meetings

bearer = HTTPBearer(
    auto_error=False, description="`houqin token create <user>`; or use the console's session cookie"
)
router = APIRouter(prefix="/api/v1", dependencies=[Depends(bearer)])
for area in (account, feedback, dashboard, meetings, archive, lookups):
    router.include_router(area.router)
