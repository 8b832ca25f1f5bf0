"""The database-outage spool: verified deliveries kept on local disk while the database is unreachable.

When the database cannot be reached (a connection error, not a handler bug) the webhook still answers
within WeChat's deadline: the delivery (dedupe key, parsed message, raw XML) is appended to this
process's spool file, fsynced, and only then acknowledged with `SPOOLED_REPLY`. A replayer thread feeds
spooled deliveries, in order, through the normal ingest path (`process_batch`, where the InboundMessage
unique key makes a replay idempotent) once the database answers again, then removes the file.

Files: one append-only JSON-lines file per process, `{DATA_DIR}/spool/spool-<pid>-<token>.jsonl`. The
owner holds an exclusive `flock` on it for as long as it lives, so a file whose lock can be taken belongs
to a dead process: any process's replayer adopts it (at start-up and every few seconds after). A file is
created under a temporary name, locked, then renamed into place, so no replayer ever sees an unlocked
file of a live owner. A line that cannot be stored even once the database is back (a bug of ours, not an
outage) is moved to `dead-<pid>-<token>.jsonl` for a person to look at: it is never dropped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.ingest import Delivery, database_unavailable, process_batch
from handlers.router import Incoming

log = logging.getLogger("houqin.spool")

# The passive reply to a spooled message. It lives here, not in handlers/texts.py (reviewed by others),
# because only the outage path uses it: it must not promise a reference number, which does not exist yet.
SPOOLED_REPLY = "您的消息已收到。系统正在维护，稍后会自动登记，无需重复发送。"

# How long the webhook waits for the ingest writer before spooling instead: WeChat gives up at 5 s, and
# the reply still has to be encrypted and sent.
SPOOL_AFTER_S = 3.0
# Deliveries per replay transaction.
REPLAY_BATCH = 200
# Replayer cadence: while this process's spool has lines, while idle (scanning for orphans), and the
# longest backoff while the database stays down.
POLL_ACTIVE_S = 0.5
POLL_IDLE_S = 2.0
BACKOFF_MAX_S = 5.0

PREFIX = "spool-"
DEAD_PREFIX = "dead-"
SUFFIX = ".jsonl"
_READ_CHUNK = 1 << 20


def encode(delivery: Delivery, *, received_at: datetime | None = None) -> bytes:
    """One spool line: the delivery as JSON, newline-terminated."""
    msg = delivery.incoming
    record = {
        "v": 1,
        "key": delivery.key,
        "received_at": (received_at or datetime.now(UTC)).isoformat(),
        "incoming": {
            "app": msg.app,
            "sender": msg.sender,
            "msg_type": msg.msg_type,
            "created_at": msg.created_at.isoformat(),
            "content": msg.content,
            "event": msg.event,
            "event_key": msg.event_key,
            "media_id": msg.media_id,
            "pic_url": msg.pic_url,
            "recognition": msg.recognition,
            "msg_id": msg.msg_id,
        },
        "raw_xml": delivery.raw_xml,
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def decode(line: bytes) -> Delivery:
    """The delivery a spool line holds (raises ValueError/KeyError/TypeError on a damaged line)."""
    record = json.loads(line)
    fields = dict(record["incoming"])
    fields["created_at"] = datetime.fromisoformat(fields["created_at"])
    return Delivery(key=record["key"], incoming=Incoming(**fields), raw_xml=record["raw_xml"])


def _fsync_dir(directory: Path) -> None:
    # a new or renamed file is durable only once its folder entry is
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _complete_lines(data: bytes) -> tuple[list[bytes], int]:
    """The newline-terminated lines at the start of `data`, and how many bytes they span."""
    end = data.rfind(b"\n")
    if end < 0:
        return [], 0
    return data[: end + 1].splitlines(), end + 1


Ingest = Callable[[list[Delivery]], None]


class Spool:
    """This process's spool file (created on first use), and the adoption of dead processes' files."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._read_offset = 0
        self._pending = 0  # lines appended and not yet replayed
        self._dead_fd: int | None = None
        self.appended = 0
        self.replayed = 0
        self.dead_lettered = 0

    @property
    def active(self) -> bool:
        """True while this process's spool holds lines not yet replayed (new deliveries queue behind them)."""
        return self._pending > 0

    @property
    def path(self) -> Path | None:
        """This process's current spool file, if it has one."""
        return self._path

    def append(self, delivery: Delivery) -> None:
        """Append one delivery durably (write, flush, fsync) before it may be acknowledged."""
        line = encode(delivery)
        with self._lock:
            if self._fd is None:
                self._open()
            assert self._fd is not None
            os.write(self._fd, line)  # O_APPEND, unbuffered: nothing sits in a user-space buffer
            os.fsync(self._fd)
            self._pending += 1
            self.appended += 1

    def _new_locked_file(self, prefix: str) -> tuple[int, Path]:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{prefix}{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        tmp = self.directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        final = self.directory / name
        os.rename(tmp, final)
        _fsync_dir(self.directory)
        return fd, final

    def _open(self) -> None:
        self._fd, self._path = self._new_locked_file(PREFIX)
        self._read_offset = 0
        log.warning("database unavailable: spooling deliveries to %s", self._path)

    def dead_letter(self, line: bytes, reason: str) -> None:
        """Keep a line that can never be ingested, with the reason, for a person to look at."""
        record = json.dumps(
            {"reason": reason[:500], "line": line.decode("utf-8", "replace")}, ensure_ascii=False
        )
        with self._lock:
            if self._dead_fd is None:
                self._dead_fd, path = self._new_locked_file(DEAD_PREFIX)
                log.error("dead letters are kept in %s", path)
            os.write(self._dead_fd, record.encode("utf-8") + b"\n")
            os.fsync(self._dead_fd)
            self.dead_lettered += 1

    def replay_own(self, ingest: Ingest) -> int:
        """Replay this process's spool in order; remove the file once every line is stored. Returns lines replayed."""
        done = 0
        while True:
            with self._lock:
                if self._fd is None:
                    return done
                data = os.pread(self._fd, _READ_CHUNK, self._read_offset)
                if not data:
                    # every line is stored; appends wait on this lock, so none can slip in before the unlink
                    assert self._path is not None
                    os.unlink(self._path)
                    os.close(self._fd)
                    log.info("spool %s replayed and removed", self._path.name)
                    self._fd, self._path, self._read_offset, self._pending = None, None, 0, 0
                    return done
            lines, _ = _complete_lines(data)
            if not lines:  # cannot happen for our own file (appends are whole lines under the lock)
                return done
            for chunk in _chunks(lines, REPLAY_BATCH):
                self._ingest_lines(chunk, ingest)
                with self._lock:
                    self._read_offset += sum(len(x) + 1 for x in chunk)
                    self._pending = max(0, self._pending - len(chunk))
                done += len(chunk)

    def adopt_orphans(self, ingest: Ingest) -> int:
        """Replay the spool files of dead processes (those whose lock can be taken), then remove them."""
        done = 0
        if not self.directory.is_dir():
            return 0
        for path in sorted(self.directory.glob(f"{PREFIX}*{SUFFIX}")):
            if path == self._path:
                continue
            with _adopted(path) as fd:
                if fd is None:
                    continue
                done += self._replay_file(path, fd, ingest)
        return done

    def _replay_file(self, path: Path, fd: int, ingest: Ingest) -> int:
        offset = 0
        done = 0
        while True:
            data = os.pread(fd, _READ_CHUNK, offset)
            lines, size = _complete_lines(data)
            if not lines:
                if data:
                    # a torn last line: its writer died before the fsync returned, so it was never
                    # acknowledged; WeChat retried it (or will) and the retry is stored normally
                    log.warning("spool %s: ignoring a torn last line of %d bytes", path.name, len(data))
                break
            for chunk in _chunks(lines, REPLAY_BATCH):
                self._ingest_lines(chunk, ingest)
                done += len(chunk)
            offset += size
        # A crash between the last commit and this unlink replays the file again: dedupe makes that harmless.
        os.unlink(path)
        log.info("spool %s of a stopped process: %d deliveries replayed, file removed", path.name, done)
        return done

    def _ingest_lines(self, lines: list[bytes], ingest: Ingest) -> None:
        deliveries: list[Delivery] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                deliveries.append(decode(line))
            except (ValueError, KeyError, TypeError) as exc:
                self.dead_letter(line, f"unreadable spool line: {type(exc).__name__}: {exc}")
        if not deliveries:
            return
        self._ingest(deliveries, ingest)

    def _ingest(self, deliveries: list[Delivery], ingest: Ingest) -> None:
        try:
            ingest(deliveries)
        except Exception as exc:
            if database_unavailable(exc):
                raise  # still down: the lines stay where they are, the replayer tries again
            if len(deliveries) > 1:
                # not an outage: find the delivery that cannot be stored, and store the others
                for d in deliveries:
                    self._ingest([d], ingest)
                return
            self.dead_letter(encode(deliveries[0]).rstrip(b"\n"), f"{type(exc).__name__}: {exc}")
            return
        self.replayed += len(deliveries)

    def close(self) -> None:
        """Release this process's files (a spool file with lines stays for the next replayer)."""
        with self._lock:
            for fd in (self._fd, self._dead_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = self._dead_fd = None
            self._path = None
            self._pending = 0


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


@dataclass(frozen=True)
class SpoolStatus:
    """What the spool folder holds: lines waiting, the age of the oldest, files, and dead letters."""

    depth: int
    oldest_age_s: float | None
    files: int
    dead_letters: int


def status(directory: Path, *, now: float | None = None) -> SpoolStatus:
    """Count the lines waiting in every spool file of `directory` (all processes) and the oldest one's age."""
    directory = Path(directory)
    if not directory.is_dir():
        return SpoolStatus(0, None, 0, 0)
    now = time.time() if now is None else now
    depth = files = dead = 0
    oldest: float | None = None
    for path in directory.iterdir():
        name = path.name
        if not name.endswith(SUFFIX):
            continue
        is_spool = name.startswith(PREFIX)
        if not is_spool and not name.startswith(DEAD_PREFIX):
            continue
        try:
            with path.open("rb") as fh:
                first = fh.readline()
                count = first.count(b"\n")
                while chunk := fh.read(_READ_CHUNK):
                    count += chunk.count(b"\n")
        except FileNotFoundError:  # replayed and removed while we looked
            continue
        if not is_spool:
            dead += count
            continue
        files += 1
        depth += count
        if first.endswith(b"\n"):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                at = datetime.fromisoformat(json.loads(first)["received_at"]).timestamp()
                oldest = at if oldest is None else min(oldest, at)
    return SpoolStatus(depth, None if oldest is None else max(0.0, now - oldest), files, dead)


class Replayer:
    """The thread that replays spooled deliveries once the database answers: this process's own spool,
    then the files of dead processes (at start-up, and every few seconds after)."""

    def __init__(self, spool: Spool, ingest: Ingest) -> None:
        self.spool = spool
        self.ingest = ingest
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._down_since: float | None = None

    @classmethod
    def for_engine(cls, spool: Spool, engine: Any, *, router: Any, settings: Any) -> Replayer:
        """A replayer that stores through `process_batch` on `engine` (the normal ingest path)."""

        def ingest(deliveries: list[Delivery]) -> None:
            process_batch(engine, deliveries, router=router, settings=settings)

        return cls(spool, ingest)

    def run_once(self) -> int:
        """One pass: replay the own spool, then adopt orphans. Raises when the database is still down."""
        done = self.spool.replay_own(self.ingest)
        done += self.spool.adopt_orphans(self.ingest)
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
