"""Exactly-once ingest with group commit.

Every verified message goes to one writer thread per process. The writer takes whatever has queued up
(a batch), inserts the batch's InboundMessage rows with `ON CONFLICT DO NOTHING` on the dedupe key, runs
the router for each new one, and stores the replies on those rows; then it commits the batch once. A retry
or a concurrent copy finds the row and gets the stored reply, so every copy answers the same reference
number. One fsync serves a whole batch, which is what makes durable commits (synchronous=FULL) fast
enough, and the database is asked a handful of times per batch, not per message (`handle_batch`).

If a batch fails, each of its messages is retried alone; a message whose handler still fails is stored
with outcome `failed` and a holding reply, so nothing verified is ever lost. When the database itself is
unreachable (`database_unavailable`) nothing is retried here: the error goes back to the webhook, which
spools the delivery (bot/spool.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session

from core.clock import utcnow
from core.counters import Blocks
from core.db import HeldConnection, unit_of_work
from core.fastsql import KeyLookup, Rows, Sql, driver, flush_deferred
from core.settings import Settings
from core.xmlsafe import truncate_utf8
from handlers import texts
from handlers.batch import prepare as prepare_batch
from handlers.router import Context, Incoming, Router

log = logging.getLogger("houqin.ingest")

# SQLite says "OperationalError" for outages and for bugs alike ("no such column"): only these are outages.
# "readonly": a filesystem remounted read-only or a file whose permissions changed; it cannot write now,
# which is an outage to wait out like any other (issue 11), not a bug.
_SQLITE_OUTAGE = (
    "unable to open",
    "database is locked",
    "disk i/o error",
    "database or disk is full",
    "readonly database",
    "read-only",
)
# PostgreSQL SQLSTATEs that mean "cannot write now": 25006 read_only_sql_transaction (a failover onto a
# standby, default_transaction_read_only), 57P0x shutdowns and 53xxx (disk full, out of memory,
# too many connections) whatever the exception class psycopg raises them as.
_PG_OUTAGE_STATES = ("25006", "57P01", "57P02", "57P03", "53100", "53200", "53300", "08")


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` means the database cannot be reached or cannot serve now (an outage), not a bug."""
    if isinstance(exc, PoolTimeout):  # every pooled connection is stuck on a database that does not answer
        return True
    orig: BaseException | None = exc
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
    # psycopg's OperationalError covers refused connections, shutdowns, "starting up", disk full, too many
    # connections, deadlocks and cancelled statements: all worth waiting out. InterfaceError: a closed
    # connection.
    if isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    if isinstance(orig, psycopg.Error) and (orig.sqlstate or "").startswith(_PG_OUTAGE_STATES):
        return True
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        return any(part in message for part in _SQLITE_OUTAGE)
    return False


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
    stored: bool = True  # False only when not even a `failed` row could be written (a bug, not an outage)


_EXISTING = Sql("SELECT reply, feedback_id FROM inbound_message WHERE dedupe_key = :key")
_SET_REPLY = Sql("UPDATE inbound_message SET reply = :reply, feedback_id = :feedback_id WHERE id = :id")


def _insert(session: Session, delivery: Delivery, *, reply: str | None, outcome: str) -> int | None:
    return _insert_many(session, [delivery], reply=reply, outcome=outcome).get(delivery.key)


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


_INSERT_MANY = Rows(
    "INSERT INTO inbound_message (dedupe_key, app, sender, msg_type, event, created_at, received_at, raw_xml, "
    "reply, feedback_id, outcome) {rows} ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key",
    {"key": "text", "app": "text", "sender": "text", "msg_type": "text", "event": "text",
     "created_at": "timestamptz", "received_at": "timestamptz", "raw_xml": "text", "reply": "text",
     "feedback_id": "integer", "outcome": "text"},
)  # fmt: skip
_EXISTING_MANY = KeyLookup("SELECT dedupe_key, reply, feedback_id FROM inbound_message", "dedupe_key")


def _insert_many(
    session: Session, deliveries: list[Delivery], *, reply: str | None = None, outcome: str = "handled"
) -> dict[str, int]:
    """Insert the InboundMessage rows of a batch with one statement per chunk; key → id of those that were
    new (a key already stored, or stored meanwhile by another worker, is left out: ON CONFLICT). In a batch
    the replies are written later, with the batch's other replies, before the commit."""
    received = utcnow()
    rows = [
        {
            "key": d.key,
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
    return {key: int(row_id) for row_id, key in _INSERT_MANY.run(session, rows)}


def _existing_many(session: Session, keys: list[str]) -> dict[str, tuple[str, int | None]]:
    """The stored reply and feedback of each key (the deliveries of a batch that were duplicates)."""
    return {key: (reply or "", feedback_id) for key, reply, feedback_id in _EXISTING_MANY.run(session, keys)}


def handle_batch(
    session: Session, deliveries: list[Delivery], *, router: Router, settings: Settings
) -> list[Result]:
    """Store and route a batch in the session's transaction with a few statements per batch, not per message.

    The InboundMessage rows go in with one multi-row insert (in key order, so two workers inserting
    overlapping keys lock them in the same order), the duplicates' stored replies come back with one
    query, the senders' windows are read at once and new feedback and windows are written just before
    the replies (handlers.batch), each new delivery is routed in arrival order, and the replies are
    written with one executemany. A copy of a delivery earlier in
    the same batch is answered from memory.
    """
    unique = list({d.key: d for d in deliveries}.values())
    new = _insert_many(session, sorted(unique, key=lambda d: d.key))
    existing = _existing_many(session, [d.key for d in unique if d.key not in new])
    prepare_batch(session, senders=[d.incoming.sender for d in unique if d.key in new])
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
            outcome = router.dispatch(d.incoming, Context(session=session, settings=settings, now=utcnow()))
            reply = truncate_utf8(outcome.text, settings.reply_max_bytes) if outcome.text else ""
            replies.append({"reply": reply, "feedback_id": outcome.feedback_id, "id": row_id})
            result = Result(reply=reply, feedback_id=outcome.feedback_id)
        seen[d.key] = result
        results.append(result)
    conn, is_pg = driver(session)
    # the batch's writes need no answers: on PostgreSQL they go out in one pipeline (one round trip)
    with conn.pipeline() if is_pg else contextlib.nullcontext():
        flush_deferred(session)  # the feedback and windows the replies refer to, first
        # one UPDATE by primary key per row: an UPDATE … FROM (VALUES …) join would be one statement, but
        # PostgreSQL plans it as a sequential scan while the table is new
        _SET_REPLY.many(session, replies)
    return results


def _store_failed(engine: Engine | Connection, delivery: Delivery) -> Result:
    with unit_of_work(engine) as session:
        _insert(session, delivery, reply=texts.FAILED, outcome="failed")
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
    numbers (core.counters), used by the batch transaction.
    Raises only when the database is unavailable: a retry one by one would fail the same way.
    """
    try:
        try:
            with unit_of_work(engine) as session:
                if numbers is not None:
                    numbers.attach(session)
                results = handle_batch(session, deliveries, router=router, settings=settings)
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
        self._deadlines: dict[asyncio.AbstractEventLoop, deque[tuple[float, asyncio.Future[Result]]]] = {}
        self._watchdogs: set[asyncio.Task[None]] = set()
        self._last_outage_log = -1e9
        # reference numbers in blocks: this worker's batches never wait on another worker's counter lock
        self.numbers = Blocks(settings.reference_block)
        self.connection = HeldConnection(engine)  # the writer thread's own: no pool checkout per batch
        self.batches = 0
        self.delivered = 0
        self.duplicates = 0
        # WeCom userids whose Person exists (an insertion-ordered set, bounded by the webhook)
        self.known_wecom_users: dict[str, None] = {}

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
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Result] = loop.create_future()
        if timeout is not None:
            # one watchdog per event loop instead of a timer per request (a timer costs ~4 µs); a result
            # that comes after the timeout is dropped: the row is stored, and the spooled copy dedupes
            deadlines = self._deadlines.get(loop)
            if deadlines is None:
                deadlines = self._watch(loop)
            deadlines.append((loop.time() + timeout, fut))
        self._queue.put((delivery, fut, loop))
        return await fut

    def _watch(self, loop: asyncio.AbstractEventLoop) -> deque[tuple[float, asyncio.Future[Result]]]:
        deadlines: deque[tuple[float, asyncio.Future[Result]]] = deque()
        self._deadlines[loop] = deadlines
        task = loop.create_task(self._watchdog(loop, deadlines))
        self._watchdogs.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._watchdogs.discard)
        return deadlines

    async def _watchdog(
        self, loop: asyncio.AbstractEventLoop, deadlines: deque[tuple[float, asyncio.Future[Result]]]
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
        outcome: list[Result] | BaseException
        try:
            outcome = process_batch(
                self.connection.get(),
                [job[0] for job in batch],
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
