"""Cross-process exclusive locks: a PostgreSQL advisory lock, or a file lock beside the SQLite database.

A lock keeps two processes (or two threads) from doing the same thing at the same time: one compile,
one scheduler, one SQLite outbox drainer. It is not what makes a job run once per period: that is the
claim row in core/jobs.py, because a lock taken one moment after another process released it does not
stop a second run.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from core.db import is_postgres
from core.settings import Settings

log = logging.getLogger("houqin.locks")

_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def lock_path(settings: Settings, name: str) -> Path:
    """The file behind lock `name` when the database is SQLite."""
    if _SAFE_NAME.fullmatch(name) and not name.startswith("."):
        stem = name
    else:
        # names may carry 档号 or slashes: keep a readable part and make it unique with a digest
        readable = re.sub(r"[^A-Za-z0-9_-]+", "_", name)[:60].strip("_") or "lock"
        stem = f"{readable}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return Path(settings.data_dir) / "locks" / f"{stem}.lock"


@contextmanager
def exclusive(
    engine: Engine,
    *,
    name: str,
    settings: Settings,
    wait: bool = True,
    on_wait: Callable[[], None] | None = None,
    cancel: threading.Event | None = None,
    poll: float = 1.0,
) -> Iterator[bool]:
    """Hold lock `name` across processes; yields True when held, False when busy (wait=False) or cancelled.

    With wait=True the call blocks until the lock is free; `on_wait` is called once first if it is
    busy. Given `cancel`, waiting polls every `poll` seconds and gives up (yielding False) once it is set.
    """
    if is_postgres(engine):
        with _pg_lock(engine, name=name, wait=wait, on_wait=on_wait, cancel=cancel, poll=poll) as held:
            yield held
    else:
        with _file_lock(
            lock_path(settings, name), wait=wait, on_wait=on_wait, cancel=cancel, poll=poll
        ) as held:
            yield held


def _wait_loop(
    try_once: Callable[[], bool],
    block: Callable[[], None],
    *,
    wait: bool,
    on_wait: Callable[[], None] | None,
    cancel: threading.Event | None,
    poll: float,
) -> bool:
    if try_once():
        return True
    if not wait:
        return False
    if on_wait is not None:
        on_wait()
    if cancel is None:
        block()
        return True
    # Polling instead of blocking so that a stop request (signal handler, server shutdown) is noticed:
    # a process blocked in flock() or pg_advisory_lock() cannot be told to give up.
    while not cancel.wait(poll):
        if try_once():
            return True
    return False


@contextmanager
def _file_lock(
    path: Path,
    *,
    wait: bool,
    on_wait: Callable[[], None] | None,
    cancel: threading.Event | None,
    poll: float,
) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    # flock belongs to the open file description, so every acquisition opens its own: two threads of
    # one process exclude each other just as two processes do. The lock dies with the process.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:

        def try_once() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        held = _wait_loop(
            try_once,
            lambda: fcntl.flock(fd, fcntl.LOCK_EX),
            wait=wait,
            on_wait=on_wait,
            cancel=cancel,
            poll=poll,
        )
        if held:
            # who holds it, for a person looking at a stuck lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield held
        finally:
            if held:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _pg_lock(
    engine: Engine,
    *,
    name: str,
    wait: bool,
    on_wait: Callable[[], None] | None,
    cancel: threading.Event | None,
    poll: float,
) -> Iterator[bool]:
    # A dedicated, unpooled connection in autocommit: the session-level advisory lock lives exactly as
    # long as this connection, which never sits idle in a transaction and never returns to a pool
    # still holding the lock. If the connection dies, PostgreSQL releases the lock with it.
    lock_engine = create_engine(engine.url, poolclass=NullPool)
    conn: Connection | None = None
    try:
        conn = lock_engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        c = conn

        def try_once() -> bool:
            return bool(c.execute(text("SELECT pg_try_advisory_lock(hashtext(:n))"), {"n": name}).scalar())

        def block() -> None:
            c.execute(text("SELECT pg_advisory_lock(hashtext(:n))"), {"n": name})

        held = _wait_loop(try_once, block, wait=wait, on_wait=on_wait, cancel=cancel, poll=poll)
        try:
            yield held
        finally:
            if held:
                try:
                    c.execute(text("SELECT pg_advisory_unlock(hashtext(:n))"), {"n": name})
                except Exception:
                    # closing the connection below releases it anyway
                    log.warning("could not unlock %r cleanly; closing its connection", name, exc_info=True)
    finally:
        if conn is not None:
            conn.close()
        lock_engine.dispose()
