"""The writer: exactly-once ingest with group commit.

Every verified message goes to one writer thread per process (`Ingestor`). The writer takes whatever has
queued up (a batch), inserts the batch's InboundMessage rows with `ON CONFLICT DO NOTHING` on the dedupe
key, runs the router for each new one, and stores the replies on those rows; then it commits the batch
once. A retry or a concurrent copy finds the row and gets the stored reply, so every copy answers the same
reference number. One fsync serves a whole batch, which is what makes durable commits (synchronous=FULL)
fast enough, and the database is asked a handful of times per batch, not per message (`handle_batch`;
what the batch keeps in memory: ingest.batch; its statements: ingest.store).

If a batch fails, each of its messages is retried alone, with a store that writes at once; a message whose
handler still fails is stored with outcome `failed` and a holding reply, so nothing verified is ever lost.
When the database itself is unreachable (ingest.delivery.database_unavailable) nothing is retried here:
the error goes back to the webhook (bot/intake.py), which spools the delivery (ingest/spool.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import deque
from typing import Any

from sqlalchemy import Connection, Engine
from sqlmodel import Session

from core.clock import utcnow
from core.counters import Blocks
from core.db import HeldConnection, unit_of_work
from core.settings import Settings
from core.xmlsafe import truncate_utf8
from handlers import texts
from handlers.router import Context, Router
from ingest.batch import Batch
from ingest.delivery import Delivery, Result, database_unavailable
from ingest.store import Store
from ingest.work import Work, WorkFn, run_work

log = logging.getLogger("houqin.ingest")


def _rows(deliveries: list[Delivery], *, reply: str | None, outcome: str) -> list[dict[str, Any]]:
    """The inbound_message rows of these deliveries (their replies are written once routed)."""
    received = utcnow()
    return [
        {
            "dedupe_key": d.key,
            "app": d.incoming.app,
            "sender": d.incoming.sender,
            "msg_type": d.incoming.msg_type,
            "event": d.incoming.event,
            "created_at": d.incoming.created_at,
            "received_at": received,
            "raw_xml": d.raw_xml,
            "reply": reply,
            "feedback_id": None,
            "outcome": outcome,
        }
        for d in deliveries
    ]


def handle_one(session: Session, delivery: Delivery, *, router: Router, settings: Settings) -> Result:
    """Store one delivery exactly once and route it, writing at once (no batch); a duplicate gets the reply
    stored for the first copy."""
    store = Store(session)
    inserted = store.insert_deliveries(_rows([delivery], reply=None, outcome="handled")).get(delivery.key)
    if inserted is None:
        reply, feedback_id = store.stored_reply(delivery.key)
        return Result(reply=reply, duplicate=True, feedback_id=feedback_id)
    ctx = Context(session=session, settings=settings, now=utcnow(), store=store)
    outcome = router.dispatch(delivery.incoming, ctx)
    reply = truncate_utf8(outcome.text, settings.reply_max_bytes) if outcome.text else ""
    store.set_replies([{"reply": reply, "feedback_id": outcome.feedback_id, "id": inserted}])
    return Result(reply=reply, feedback_id=outcome.feedback_id)


def handle_batch(
    session: Session,
    deliveries: list[Delivery],
    *,
    router: Router,
    settings: Settings,
    numbers: Blocks | None = None,
) -> list[Result]:
    """Store and route a batch in the session's transaction with a few statements per batch, not per message.

    The InboundMessage rows go in with one multi-row insert (in key order, so two workers inserting
    overlapping keys lock them in the same order), the duplicates' stored replies come back with one
    query, the senders' windows are read at once and new feedback and windows are kept in the batch (ingest.batch)
    and written just before the replies, each new delivery is routed in arrival order with a deferring
    store (ingest.store), and the replies are written with one executemany. A copy of a delivery earlier
    in the same batch is answered from memory. `numbers`: the writer's blocks of reference numbers.
    """
    unique = list({d.key: d for d in deliveries}.values())
    store = Store(session, batch=Batch(numbers))
    new = store.insert_deliveries(_rows(sorted(unique, key=lambda d: d.key), reply=None, outcome="handled"))
    existing = store.stored_replies([d.key for d in unique if d.key not in new])
    store.prepare(senders=[d.incoming.sender for d in unique if d.key in new], now=utcnow())
    seen: dict[str, Result] = {}
    replies: list[dict[str, Any]] = []
    results: list[Result] = []
    for d in deliveries:
        result = seen.get(d.key)
        if result is not None:
            results.append(Result(reply=result.reply, duplicate=True, feedback_id=result.feedback_id))
            continue
        row_id = new.get(d.key)
        if row_id is None:
            reply, feedback_id = existing.get(d.key, ("", None))
            result = Result(reply=reply, duplicate=True, feedback_id=feedback_id)
        else:
            ctx = Context(session=session, settings=settings, now=utcnow(), store=store)
            outcome = router.dispatch(d.incoming, ctx)
            reply = truncate_utf8(outcome.text, settings.reply_max_bytes) if outcome.text else ""
            replies.append({"reply": reply, "feedback_id": outcome.feedback_id, "id": row_id})
            result = Result(reply=reply, feedback_id=outcome.feedback_id)
        seen[d.key] = result
        results.append(result)
    db = store.db
    # the batch's writes need no answers: on PostgreSQL they go out in one pipeline (one round trip)
    with db.conn.pipeline() if db.is_pg else contextlib.nullcontext():
        store.flush()  # the feedback and windows the replies refer to, first
        store.set_replies(replies)
    return results


def _store_failed(engine: Engine | Connection, delivery: Delivery) -> Result:
    with unit_of_work(engine) as session:
        Store(session).insert_deliveries(_rows([delivery], reply=texts.FAILED, outcome="failed"))
    return Result(reply=texts.FAILED)


def process_batch(
    engine: Engine | Connection,
    deliveries: list[Delivery],
    *,
    router: Router,
    settings: Settings,
    numbers: Blocks | None = None,
) -> list[Result]:
    """Handle a batch in one transaction; on failure fall back to one transaction per delivery.

    `engine`: an engine, or the writer's held connection. `numbers`: the writer's blocks of reference
    numbers (core.counters), drawn from by the batch transaction only (the one-by-one retry takes them one
    at a time).
    Raises only when the database is unavailable: a retry one by one would fail the same way.
    """
    try:
        try:
            with unit_of_work(engine) as session:
                results = handle_batch(session, deliveries, router=router, settings=settings, numbers=numbers)
        except BaseException:
            if numbers is not None:
                numbers.rolled_back()
            raise
        if numbers is not None:
            numbers.committed()
        return results
    except Exception as exc:
        if database_unavailable(exc):
            raise
        if len(deliveries) > 1:
            log.warning("batch of %d failed; retrying one by one", len(deliveries), exc_info=True)
    results = []
    for d in deliveries:
        try:
            with unit_of_work(engine) as session:
                results.append(handle_one(session, d, router=router, settings=settings))
            continue
        except Exception as exc:
            if database_unavailable(exc):
                raise  # the caller must not answer success: it spools instead
            log.exception("handler failed for %s; stored as failed", d.key)
        try:
            results.append(_store_failed(engine, d))
        except Exception as exc:
            if database_unavailable(exc):
                raise
            log.exception("could not store %s even as failed", d.key)
            results.append(Result(reply="", stored=False))
    return results


_WATCH_EVERY_S = 0.1
_Job = tuple[Delivery | Work, "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _resolve(fut: asyncio.Future[Any], value: Any) -> None:
    if fut.done():
        return
    if isinstance(value, BaseException):
        fut.set_exception(value)
    else:
        fut.set_result(value)


def _resolve_all(pairs: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for fut, value in pairs:
        _resolve(fut, value)


def _wake(jobs: list[_Job], outcome: list[Any] | BaseException) -> None:
    """Give each job its value (or the whole batch's exception): one wake-up per event loop, not one per
    request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for i, (_, fut, loop) in enumerate(jobs):
        value = outcome if isinstance(outcome, BaseException) else outcome[i]
        by_loop.setdefault(loop, []).append((fut, value))
    for loop, pairs in by_loop.items():
        loop.call_soon_threadsafe(_resolve_all, pairs)


class Ingestor:
    """The per-process writer thread that turns concurrent deliveries into batched, durable commits."""

    def __init__(self, engine: Engine, *, router: Router, settings: Settings) -> None:
        self.engine = engine
        self.router = router
        self.settings = settings
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._deadlines: dict[asyncio.AbstractEventLoop, deque[tuple[float, asyncio.Future[Any]]]] = {}
        self._watchdogs: set[asyncio.Task[None]] = set()
        self._last_outage_log = -1e9
        # reference numbers in blocks: this worker's batches never wait on another worker's counter lock
        self.numbers = Blocks(settings.reference_block)
        self.connection = HeldConnection(engine)  # the writer thread's own: no pool checkout per batch
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

    async def submit(self, delivery: Delivery, *, timeout: float | None = None) -> Result:
        """Queue a delivery and wait for its committed result (TimeoutError after about `timeout` seconds)."""
        return await self._queued(delivery, timeout)

    async def call(
        self, fn: WorkFn, *, refusals: tuple[type[Exception], ...] = (), timeout: float | None = None
    ) -> Any:
        """Run `fn(session)` in the writer's next batch (ingest.work) and wait for what it returned once
        committed; what it raised is raised here (TimeoutError after about `timeout` seconds). `refusals`:
        the exceptions `fn` raises only before it writes anything."""
        return await self._queued(Work(fn, refusals), timeout)

    async def _queued(self, item: Delivery | Work, timeout: float | None) -> Any:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if timeout is not None:
            # one watchdog per event loop instead of a timer per request (docs/benchmarks.md); a result
            # that comes after the timeout is dropped: the row is stored, and the spooled copy dedupes
            deadlines = self._deadlines.get(loop)
            if deadlines is None:
                deadlines = self._watch(loop)
            deadlines.append((loop.time() + timeout, fut))
        self._queue.put((item, fut, loop))
        return await fut

    def _watch(self, loop: asyncio.AbstractEventLoop) -> deque[tuple[float, asyncio.Future[Any]]]:
        deadlines: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self._deadlines[loop] = deadlines
        task = loop.create_task(self._watchdog(loop, deadlines))
        self._watchdogs.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._watchdogs.discard)
        return deadlines

    async def _watchdog(
        self, loop: asyncio.AbstractEventLoop, deadlines: deque[tuple[float, asyncio.Future[Any]]]
    ) -> None:
        try:
            while True:
                await asyncio.sleep(_WATCH_EVERY_S)
                now = loop.time()
                # submissions are in deadline order: stop at the first one still running and not late
                while deadlines:
                    deadline, fut = deadlines[0]
                    if not fut.done() and deadline > now:
                        break
                    deadlines.popleft()
                    if not fut.done():
                        fut.set_exception(TimeoutError("the ingest writer did not answer in time"))
        finally:
            self._deadlines.pop(loop, None)

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self.connection.close()

    def _loop(self) -> None:
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
        if any(isinstance(job[0], Work) for job in batch):
            works = [job for job in batch if isinstance(job[0], Work)]
            batch = [job for job in batch if not isinstance(job[0], Work)]
            self._run_works(works)
            if not batch:
                return
        outcome: list[Result] | BaseException
        try:
            outcome = process_batch(
                self.connection.get(),
                [job[0] for job in batch],  # type: ignore[misc]  # deliveries only, from here
                router=self.router,
                settings=self.settings,
                numbers=self.numbers,
            )
        except BaseException as exc:
            outcome = exc
            if database_unavailable(exc):
                self.connection.drop()
            now = time.monotonic()
            # during an outage every batch fails the same way: say so every 10 s, not per batch; and
            # only the error's first line (SQLAlchemy appends the statement's parameters: openids, text)
            if not database_unavailable(exc) or now - self._last_outage_log > 10:
                self._last_outage_log = now
                first = str(getattr(exc, "orig", None) or exc).strip().split("\n", 1)[0]
                log.error("ingest batch of %d failed: %s: %s", len(batch), type(exc).__name__, first[:300])
        self.batches += 1
        if not isinstance(outcome, BaseException):
            for value in outcome:
                if not isinstance(value, BaseException):
                    self.delivered += 1
                    self.duplicates += int(value.duplicate)
        _wake(batch, outcome)

    def _run_works(self, works: list[_Job]) -> None:
        """The batch's other work (ingest.work): one transaction of its own, one wake-up per event loop."""
        outcome: list[Any] | BaseException
        try:
            outcome = run_work(self.connection.get(), [job[0] for job in works])  # type: ignore[misc]
        except BaseException as exc:
            outcome = exc
            if database_unavailable(exc):
                self.connection.drop()
            log.error("ingest work of %d failed: %s", len(works), type(exc).__name__)
        _wake(works, outcome)
