"""What the app port shows beyond the webhook and the console (issue 11, finding 13): `/metrics` only
with `HOUQIN_METRICS_TOKEN` as a bearer token, or, without one, only to a direct loopback caller (a
request that came through a proxy carries X-Forwarded-For and is refused); the OpenAPI spec and `/docs`
only to a signed-in admin (and not at all in production unless `HOUQIN_DOCS_IN_PRODUCTION` is set)."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse

from console.auth import Principal
from console.deps import require
from core.settings import Settings
from server.docs import swagger_page

LOOPBACK = {"127.0.0.1", "::1"}
METRICS_REFUSED = "指标接口仅限本机或持有 HOUQIN_METRICS_TOKEN 的采集程序访问"
DOCS_OFF = "生产环境未开放接口文档"


def metrics_allowed(request: Request, settings: Settings) -> bool:
    """Whether this caller may read /metrics."""
    if settings.metrics_token:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {settings.metrics_token}".encode())
    proxied = "x-forwarded-for" in request.headers or "x-real-ip" in request.headers
    return request.client is not None and request.client.host in LOOPBACK and not proxied


def refuse_metrics() -> JSONResponse:
    """The 403 a caller without access gets."""
    return JSONResponse({"detail": METRICS_REFUSED}, status_code=403)


def add_docs(app: FastAPI, settings: Settings) -> None:
    """`/openapi.json` and `/docs` for signed-in admins (cookie or bearer token)."""
    admin_only = require()  # no roles named: admin alone

    def _on() -> None:
        if settings.env == "production" and not settings.docs_in_production:
            raise HTTPException(404, DOCS_OFF)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_who: Principal = Depends(admin_only)) -> Any:
        _on()
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(_who: Principal = Depends(admin_only)) -> HTMLResponse:
        _on()
        return swagger_page(app)
