"""The FastAPI application: wires settings, the database, the ingest writer and every edge router."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import Engine, text

from bot import simulator, webhook
from bot.fastpath import WebhookFastPath
from bot.intake import Intake
from console import access, api, errors, inputs, pages
from console.deps import NotSignedIn
from core import metrics
from core.db import cannot_write, make_engine
from core.logs import setup_logging
from core.settings import Settings, get_settings
from feedback import stats
from h5 import routes as h5_routes
from h5.fastpath import FormFastPath
from handlers.routes import build_router
from ingest.spool import Spool
from ingest.spool import status as spool_status
from ingest.writer import Ingestor
from server import docs, exposure

log = logging.getLogger("houqin.app")


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> Any:
    """Build the app. Tests pass their own settings and engine; `houqin serve` passes neither."""
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url)
    setup_logging()  # JSON lines on stderr, unless the process configured logging already
    spool_dir = settings.data_dir / "spool"
    ingestor = Ingestor(engine, router=build_router(), settings=settings)
    intake = Intake(ingestor, spool=Spool(spool_dir))
    state = metrics.state_registry(engine, partial(spool_status, spool_dir))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        intake.start()
        # the dashboard's word counts need jieba's dictionary: load it off the request path, once per process
        threading.Thread(target=stats.warm_words, name="houqin-warm-words", daemon=True).start()
        try:
            yield
        finally:
            intake.stop()

    # the spec and /docs are admin-only (server/exposure.py), not FastAPI's open defaults
    app = FastAPI(
        title="houqin 后勤",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.intake = intake
    app.include_router(webhook.router)
    app.include_router(access.router)
    app.include_router(pages.router)  # console/pages/: one router per area
    app.include_router(api.router)  # console/api/: /api/v1, one router per area
    app.include_router(h5_routes.router)  # the tap-to-rate feedback page (issue 15)

    @app.exception_handler(NotSignedIn)
    async def _sign_in(_request: Request, _exc: NotSignedIn) -> Response:
        return RedirectResponse("/console/login", status_code=303)

    if settings.simulator_enabled:
        app.include_router(simulator.router)

    inputs.install(app)  # what slipped past validation: 400, not 500
    errors.install(app)  # console: Chinese HTML error pages; API: JSON; 500s logged, never shown
    docs.install(app)  # /docs with swagger-ui's assets served by houqin (works offline)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> Response:
        """Liveness, a database round-trip, and the outage spool; 503 while the database is down."""
        spool = spool_status(spool_dir)
        body: dict[str, Any] = {
            "status": "ok",
            "database": "ok",
            "spool": {
                "depth": spool.depth,
                "oldest_age_s": None if spool.oldest_age_s is None else round(spool.oldest_age_s, 1),
                "files": spool.files,
                "dead_letters": spool.dead_letters,
            },
        }
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                # issue 11: answering is not enough, it must take writes (a failover onto a standby)
                why = cannot_write(conn)
        except Exception as exc:
            # still answering: WeChat's deliveries go to the spool until the database is back
            body.update(status="degraded", database=f"unreachable: {type(exc).__name__}")
            return JSONResponse(body, status_code=503)
        if why is not None:
            body.update(status="degraded", database=f"cannot write: {why}")
            return JSONResponse(body, status_code=503)
        if spool.dead_letters:
            # messages were acknowledged and are not stored: a person must look (houqin spool status)
            body.update(status="degraded")
        return JSONResponse(body)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        """Prometheus text format: request counters and latencies, dedupe hits, spool, outbox, jobs."""
        if not exposure.metrics_allowed(request, settings):
            return exposure.refuse_metrics()
        return Response(metrics.exposition(state), media_type=metrics.CONTENT_TYPE)

    exposure.add_docs(app, settings)

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        target = "/simulator" if settings.simulator_enabled else "/console"
        return Response(status_code=307, headers={"location": target})

    # the webhook's and the form's POSTs skip FastAPI (bot/fastpath.py, h5/fastpath.py); the webhook's
    # wrapper is outermost: it counts and logs every request
    form = FormFastPath(app, settings=settings, ingestor=intake.ingestor)
    return WebhookFastPath(form, settings=settings, intake=intake)
