"""Replaying the outage spool: this process's file, the files of dead processes, and the dead letters.

Spooled deliveries go, in the order they were written, through an `Ingest` callable: the composition
root passes one that stores a batch on the normal ingest path (`process_batch`), where the InboundMessage
unique key makes a replay idempotent. While the database is still down (`database_unavailable`) the lines
stay where they are and the replayer thread tries again with a backoff.

Nothing acknowledged is lost (issue 11): a line that comes back not stored, or whose handler keeps failing
alone, is dead-lettered, never deleted; the torn last line of a stopped process's file (its writer died
before the fsync returned) is dead-lettered too; a spool entry that cannot be opened is renamed aside
(`unreadable-…`) and never blocks the files after it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ingest.delivery import Delivery, Result, database_unavailable
from ingest.spool import (
    DEAD_PREFIX,
    PREFIX,
    READ_CHUNK,
    SUFFIX,
    UNREADABLE_PREFIX,
    Spool,
    complete_lines,
    decode,
    encode,
    fsync_dir,
)

log = logging.getLogger("houqin.spool")

# stores a batch; returns its results (or None when the caller has none: every delivery stored)
Ingest = Callable[[list[Delivery]], "list[Result] | None"]

# Deliveries per replay transaction.
REPLAY_BATCH = 200
# Replayer cadence: while this process's spool has lines, while idle (scanning for orphans), and the
# longest backoff while the database stays down.
POLL_ACTIVE_S = 0.5
POLL_IDLE_S = 2.0
BACKOFF_MAX_S = 5.0


def replay_own(spool: Spool, ingest: Ingest) -> int:
    """Replay this process's spool in order; the file is removed once every line is stored. Returns lines replayed."""
    done = 0
    while (data := spool.unread()) is not None:
        lines, _ = complete_lines(data)
        if not lines:  # cannot happen for our own file (appends are whole lines under the lock)
            return done
        for chunk in _chunks(lines, REPLAY_BATCH):
            _store_lines(spool, chunk, ingest)
            spool.mark_replayed(chunk)
            done += len(chunk)
    return done


def adopt_orphans(spool: Spool, ingest: Ingest) -> int:
    """Replay the spool files of dead processes (those whose lock can be taken), then remove them."""
    done = 0
    if not spool.directory.is_dir():
        return 0
    for path in sorted(spool.directory.glob(f"{PREFIX}*{SUFFIX}")):
        if path == spool.path:
            continue
        try:
            with _adopted(path) as fd:
                if fd is None:
                    continue
                done += _replay_file(spool, path, fd, ingest)
        except OSError as exc:
            # an entry we cannot open or read (permissions, a folder, an I/O error): set it aside for
            # a person; it must not block the files after it
            _set_aside(path, exc)
    return done


def _set_aside(path: Path, exc: OSError) -> None:
    aside = path.with_name(UNREADABLE_PREFIX + path.name)
    try:
        os.rename(path, aside)
    except OSError:
        log.error("spool entry %s cannot be read (%s) nor set aside", path.name, exc)
        return
    log.error("spool entry %s cannot be read (%s): set aside as %s", path.name, exc, aside.name)


def _replay_file(spool: Spool, path: Path, fd: int, ingest: Ingest) -> int:
    offset = 0
    done = 0
    while True:
        data = os.pread(fd, READ_CHUNK, offset)
        lines, size = complete_lines(data)
        if not lines:
            if data:
                # a torn last line: its writer died before the fsync returned, so it was most likely
                # never acknowledged (WeChat retries it); kept as a dead letter all the same
                log.warning(
                    "spool %s: torn last line of %d bytes kept as a dead letter", path.name, len(data)
                )
                spool.dead_letter(data, "torn last line of a stopped process's spool")
            break
        for chunk in _chunks(lines, REPLAY_BATCH):
            _store_lines(spool, chunk, ingest)
            done += len(chunk)
        offset += size
    # A crash between the last commit and this unlink replays the file again: dedupe makes that harmless.
    os.unlink(path)
    log.info("spool %s of a stopped process: %d deliveries replayed, file removed", path.name, done)
    return done


def _store_lines(spool: Spool, lines: list[bytes], ingest: Ingest) -> None:
    deliveries: list[Delivery] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            deliveries.append(decode(line))
        except (ValueError, KeyError, TypeError) as exc:
            spool.dead_letter(line, f"unreadable spool line: {type(exc).__name__}: {exc}")
    if deliveries:
        _store(spool, deliveries, ingest)


def _store(spool: Spool, deliveries: list[Delivery], ingest: Ingest) -> None:
    try:
        results = ingest(deliveries)
    except Exception as exc:
        if database_unavailable(exc):
            raise  # still down: the lines stay where they are, the replayer tries again
        if len(deliveries) > 1:
            # not an outage: find the delivery that cannot be stored, and store the others
            for d in deliveries:
                _store(spool, [d], ingest)
            return
        spool.dead_letter(encode(deliveries[0]).rstrip(b"\n"), f"{type(exc).__name__}: {exc}")
        return
    stored = len(deliveries)
    for d, r in zip(deliveries, results or [], strict=False):
        if not r.stored:  # not even a `failed` row could be written: keep it, never delete it
            spool.dead_letter(encode(d).rstrip(b"\n"), "not storable on replay")
            stored -= 1
    # imported here, not at the top: the CLI imports this module before `houqin serve` chooses
    # prometheus_client's multiprocess mode, which must come before core.metrics is imported
    from core import metrics

    metrics.SPOOL_REPLAYED.inc(stored)


def replay_dead(directory: Path, ingest: Ingest) -> tuple[int, int]:
    """Feed every dead letter back through `ingest`; keep those still not storable. Returns (stored, kept).

    For operators once the cause is fixed (`houqin spool replay-dead`); replays are idempotent (dedupe key).
    """
    directory = Path(directory)
    stored = kept = 0
    if not directory.is_dir():
        return 0, 0
    for path in sorted(directory.glob(f"{DEAD_PREFIX}*{SUFFIX}")):
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with os.fdopen(os.dup(fd), "rb") as fh:
                letters = fh.read().splitlines()
            remaining: list[bytes] = []
            for letter in letters:
                if not letter.strip():
                    continue
                try:
                    delivery = decode(json.loads(letter)["line"].encode("utf-8"))
                except (ValueError, KeyError, TypeError):
                    remaining.append(letter)  # torn or damaged: only a person can tell what it was
                    continue
                try:
                    results = ingest([delivery])
                except Exception as exc:
                    if database_unavailable(exc):
                        raise
                    log.warning("dead letter %s still not storable: %s", delivery.key, type(exc).__name__)
                    remaining.append(letter)
                    continue
                if results and not results[0].stored:
                    remaining.append(letter)
                else:
                    stored += 1
            kept += len(remaining)
            if remaining:
                tmp = path.with_name(f".{path.name}.tmp")
                tmp.write_bytes(b"\n".join(remaining) + b"\n")
                os.replace(tmp, path)
            else:
                os.unlink(path)
            fsync_dir(directory)
        finally:
            os.close(fd)
    return stored, kept


def _chunks(items: list[bytes], n: int) -> Iterator[list[bytes]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


@contextlib.contextmanager
def _adopted(path: Path) -> Iterator[int | None]:
    """An fd on `path` holding its exclusive lock, or None when its owner is alive (or it is gone)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        # another replayer finished and unlinked it between our open and our lock: not ours to touch
        yield fd if same else None
    finally:
        os.close(fd)


class Replayer:
    """The thread that replays spooled deliveries once the database answers: this process's own spool,
    then the files of dead processes (at start-up, and every few seconds after)."""

    def __init__(self, spool: Spool, ingest: Ingest) -> None:
        self.spool = spool
        self.ingest = ingest
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._down_since: float | None = None

    def run_once(self) -> int:
        """One pass: replay the own spool, then adopt orphans. Raises when the database is still down."""
        done = replay_own(self.spool, self.ingest)
        done += adopt_orphans(self.spool, self.ingest)
        return done

    def start(self) -> None:
        """Start the replayer thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="houqin-spool-replay", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread; whatever is still spooled stays on disk for the next start."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._thread = None

    def _run(self) -> None:
        delay = 0.0  # the first pass at once: leftovers of dead processes are replayed at start-up
        while not self._stop.wait(delay):
            try:
                done = self.run_once()
            except Exception as exc:
                if not database_unavailable(exc):
                    log.exception("spool replay failed; trying again")
                elif self._down_since is None:
                    self._down_since = time.monotonic()
                    log.warning("spool replay waits for the database: %s", type(exc).__name__)
                delay = min(BACKOFF_MAX_S, max(POLL_ACTIVE_S, delay * 2))
                continue
            if done:
                log.info("spool: %d deliveries replayed", done)
            if self._down_since is not None:
                log.info("database is back after %.1f s", time.monotonic() - self._down_since)
                self._down_since = None
            delay = POLL_ACTIVE_S if self.spool.active else POLL_IDLE_S
