"""The ASGI fast path: `POST /wechat` and `POST /wecom` served without FastAPI's routing and middleware.

Why: at thousands of messages per second FastAPI's per-request machinery cost more CPU than decrypting
and storing the message (docs/benchmarks.md). The FastAPI endpoints (bot/webhook.py) stay, calling the
same `handle_post`, for the OpenAPI docs and for any path this wrapper does not take. Every request, fast
path or not, is counted in the Prometheus metrics (core/metrics.py) and gets one JSON access line
(core/logs.py).
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from bot.intake import Answer, Intake, handle_post, refusal
from core import metrics
from core.logs import access_log
from core.settings import Settings

log = logging.getLogger("houqin.webhook")


class WebhookFastPath:
    """ASGI wrapper around the FastAPI app: takes the webhook POSTs itself, hands everything else on."""

    PATHS: ClassVar[dict[str, str]] = {"/wechat": "mp", "/wecom": "wecom"}

    def __init__(self, app: Any, *, settings: Settings, intake: Intake) -> None:
        self.app = app
        self.settings = settings
        self.intake = intake

    def __getattr__(self, name: str) -> Any:  # state, routes, … of the wrapped FastAPI app
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan, websockets
            await self.app(scope, receive, send)
            return
        which = self.PATHS.get(scope["path"])
        if (
            which is None
            or scope["method"] != "POST"
            or (which == "wecom" and not self.settings.wecom_enabled)
        ):
            await self._observed(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            answer = await self._answer(scope, receive, which)
        except Exception:
            log.exception("unhandled error in the webhook")
            answer = Answer(500, b"internal error")
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    (b"content-type", answer.media_type.encode()),
                    (b"content-length", str(len(answer.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})
        elapsed = time.perf_counter() - started
        path = scope["path"]
        metrics.observe_request(path, answer.status, elapsed)
        if access_log.enabled():
            access_log.record("POST", path, answer.status, elapsed, answer.msg_type, answer.duplicate)

    async def _observed(self, scope: Any, receive: Any, send: Any) -> None:
        """Any other request, through FastAPI, counted under its route template (never the raw URL)."""
        started = time.perf_counter()
        status = 500

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            # unmatched paths share one label: a scan of random URLs must not create a series each
            path = getattr(route, "path", None) or "unmatched"
            metrics.observe_request(path, status, elapsed)
            if access_log.enabled():
                access_log.record(scope["method"], path, status, elapsed)

    async def _answer(self, scope: Any, receive: Any, which: str) -> Answer:
        limit = self.settings.max_body_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                return refusal(413, "request body too large")
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return Answer(400, b"client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return refusal(413, "request body too large")
            chunks.append(chunk)
            more = message.get("more_body", False)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        return await handle_post(
            settings=self.settings, intake=self.intake, app=which, query=query, body=b"".join(chunks)
        )
