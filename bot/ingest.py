"""Exactly-once ingest with group commit.

Every verified message goes to one writer thread per process. The writer takes whatever has queued up
(a batch), and for each message inserts its InboundMessage with `ON CONFLICT DO NOTHING` on the dedupe
key, runs the router, and stores the reply on that row; then it commits the batch once. A retry or a
concurrent copy finds the row and gets the stored reply, so every copy answers the same reference number.
One fsync serves a whole batch, which is what makes durable commits (synchronous=FULL) fast enough.

If a batch fails, each of its messages is retried alone; a message whose handler still fails is stored
with outcome `failed` and a holding reply, so nothing verified is ever lost.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from bot.xmlmsg import truncate_utf8
from core.clock import utcnow
from core.db import unit_of_work
from core.fastsql import Sql
from core.settings import Settings
from handlers import texts
from handlers.router import Context, Incoming, Router

log = logging.getLogger("houqin.ingest")


@dataclass(frozen=True)
class Delivery:
    """One verified delivery from WeChat: its dedupe key, parsed form and raw (decrypted) XML."""

    key: str
    incoming: Incoming
    raw_xml: str


@dataclass(frozen=True)
class Result:
    """What to answer: the reply text (empty → `success`), and whether this delivery was a duplicate."""

    reply: str
    duplicate: bool = False
    feedback_id: int | None = None


_INSERT = Sql(
    "INSERT INTO inbound_message (dedupe_key, app, sender, msg_type, event, created_at, received_at, raw_xml, "
    "reply, feedback_id, outcome) VALUES (:key, :app, :sender, :msg_type, :event, :created_at, :received_at, "
    ":raw_xml, :reply, NULL, :outcome) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
)
_EXISTING = Sql("SELECT reply, feedback_id FROM inbound_message WHERE dedupe_key = :key")
_SET_REPLY = Sql("UPDATE inbound_message SET reply = :reply, feedback_id = :feedback_id WHERE id = :id")


def _insert(session: Session, delivery: Delivery, *, reply: str | None, outcome: str) -> int | None:
    msg = delivery.incoming
    row = _INSERT.one(
        session,
        key=delivery.key,
        app=msg.app,
        sender=msg.sender,
        msg_type=msg.msg_type,
        event=msg.event,
        created_at=msg.created_at,
        received_at=utcnow(),
        raw_xml=delivery.raw_xml,
        reply=reply,
        outcome=outcome,
    )
    return None if row is None else int(row[0])


def handle_one(session: Session, delivery: Delivery, *, router: Router, settings: Settings) -> Result:
    """Store one delivery exactly once and route it; a duplicate gets the reply stored for the first copy."""
    inserted = _insert(session, delivery, reply=None, outcome="handled")
    if inserted is None:
        reply, feedback_id = _EXISTING.one(session, key=delivery.key)
        return Result(reply=reply or "", duplicate=True, feedback_id=feedback_id)
    outcome = router.dispatch(delivery.incoming, Context(session=session, settings=settings, now=utcnow()))
    reply = truncate_utf8(outcome.text, settings.reply_max_bytes) if outcome.text else ""
    _SET_REPLY.run(session, reply=reply, feedback_id=outcome.feedback_id, id=inserted)
    return Result(reply=reply, feedback_id=outcome.feedback_id)


def _store_failed(engine: Engine, delivery: Delivery) -> Result:
    with unit_of_work(engine) as session:
        _insert(session, delivery, reply=texts.FAILED, outcome="failed")
    return Result(reply=texts.FAILED)


def process_batch(
    engine: Engine, deliveries: list[Delivery], *, router: Router, settings: Settings
) -> list[Result]:
    """Handle a batch in one transaction; on failure fall back to one transaction per delivery."""
    try:
        with unit_of_work(engine) as session:
            return [handle_one(session, d, router=router, settings=settings) for d in deliveries]
    except Exception:
        if len(deliveries) > 1:
            log.warning("batch of %d failed; retrying one by one", len(deliveries), exc_info=True)
    results = []
    for d in deliveries:
        try:
            with unit_of_work(engine) as session:
                results.append(handle_one(session, d, router=router, settings=settings))
        except DBAPIError:
            raise  # the database itself is failing: the caller must not answer success
        except Exception:
            log.exception("handler failed for %s; stored as failed", d.key)
            results.append(_store_failed(engine, d))
    return results


_Job = tuple[Delivery, "asyncio.Future[Result]", asyncio.AbstractEventLoop]


def _resolve(fut: asyncio.Future[Result], value: Result | BaseException) -> None:
    if fut.done():
        return
    if isinstance(value, BaseException):
        fut.set_exception(value)
    else:
        fut.set_result(value)


def _resolve_all(pairs: list[tuple[asyncio.Future[Result], Result | BaseException]]) -> None:
    for fut, value in pairs:
        _resolve(fut, value)


class Ingestor:
    """The per-process writer thread that turns concurrent deliveries into batched, durable commits."""

    def __init__(self, engine: Engine, *, router: Router, settings: Settings) -> None:
        self.engine = engine
        self.router = router
        self.settings = settings
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.delivered = 0
        self.duplicates = 0

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="houqin-ingest", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, then stop the writer."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=30)
        self._thread = None

    async def submit(self, delivery: Delivery) -> Result:
        """Queue a delivery and wait for its committed result."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Result] = loop.create_future()
        self._queue.put((delivery, fut, loop))
        return await fut

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch: list[_Job] = [first]
            while len(batch) < self.settings.ingest_batch_max:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            self._run_batch(batch)

    def _run_batch(self, batch: list[_Job]) -> None:
        outcome: list[Result] | BaseException
        try:
            outcome = process_batch(
                self.engine, [job[0] for job in batch], router=self.router, settings=self.settings
            )
        except BaseException as exc:
            log.error("ingest batch failed: %s", exc)
            outcome = exc
        self.batches += 1
        # one wake-up per event loop per batch, not one per request
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Result], Any]]] = {}
        for i, (_, fut, loop) in enumerate(batch):
            value: Any = outcome if isinstance(outcome, BaseException) else outcome[i]
            if not isinstance(value, BaseException):
                self.delivered += 1
                self.duplicates += int(value.duplicate)
            by_loop.setdefault(loop, []).append((fut, value))
        for loop, pairs in by_loop.items():
            loop.call_soon_threadsafe(_resolve_all, pairs)
