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

Nothing acknowledged is lost (issue 11): a replayed line that comes back not stored is dead-lettered, never
deleted; a line is written whole or not at all (short writes are looped, a failed write is truncated back
and the webhook answers 503 so WeChat retries); a torn tail of an orphan file and an entry that cannot be
opened are set aside (`torn-…` dead letters, `unreadable-…` renames) and never block the other files.
`houqin spool status` shows what is waiting, `houqin spool replay-dead` feeds dead letters back once the
cause is fixed.
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

from handlers.router import Incoming
from ingest.delivery import Delivery, Result, database_unavailable
from ingest.writer import process_batch

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
UNREADABLE_PREFIX = "unreadable-"  # a spool entry that could not be opened, renamed aside for a person
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


# stores a batch; returns its results (or None when the caller has none: every delivery stored)
Ingest = Callable[[list[Delivery]], "list[Result] | None"]


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` at the end of `fd`, or none of it: loop on short writes (a full disk writes part
    of a line and then fails); on failure cut the file back to where it was and raise OSError."""
    start = os.lseek(fd, 0, os.SEEK_END)
    done = 0
    try:
        while done < len(data):
            n = os.write(fd, data[done:])
            if n <= 0:
                raise OSError("no progress writing the spool")
            done += n
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)
        raise


class Spool:
    """This process's spool file (created on first use), and the adoption of dead processes' files."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._read_offset = 0
        self._pending = 0  # lines appended and not yet replayed
        self._dead_path: Path | None = None
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
            write_all(self._fd, line)  # O_APPEND, unbuffered: nothing sits in a user-space buffer
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
            if self._dead_path is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._dead_path = (
                    self.directory / f"{DEAD_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
                )
                log.error("dead letters are kept in %s", self._dead_path)
            # opened and locked per letter, not held: `houqin spool replay-dead` may rewrite the file
            _append_locked(self._dead_path, record.encode("utf-8") + b"\n")
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
            try:
                with _adopted(path) as fd:
                    if fd is None:
                        continue
                    done += self._replay_file(path, fd, ingest)
            except OSError as exc:
                # an entry we cannot open or read (permissions, a folder, an I/O error): set it aside for
                # a person; it must not block the files after it
                self._set_aside(path, exc)
        return done

    def _set_aside(self, path: Path, exc: OSError) -> None:
        aside = path.with_name(UNREADABLE_PREFIX + path.name)
        try:
            os.rename(path, aside)
        except OSError:
            log.error("spool entry %s cannot be read (%s) nor set aside", path.name, exc)
            return
        log.error("spool entry %s cannot be read (%s): set aside as %s", path.name, exc, aside.name)

    def _replay_file(self, path: Path, fd: int, ingest: Ingest) -> int:
        offset = 0
        done = 0
        while True:
            data = os.pread(fd, _READ_CHUNK, offset)
            lines, size = _complete_lines(data)
            if not lines:
                if data:
                    # a torn last line: its writer died before the fsync returned, so it was most likely
                    # never acknowledged (WeChat retries it); kept as a dead letter all the same
                    log.warning(
                        "spool %s: torn last line of %d bytes kept as a dead letter", path.name, len(data)
                    )
                    self.dead_letter(data, "torn last line of a stopped process's spool")
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
            results = ingest(deliveries)
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
        for d, r in zip(deliveries, results or [], strict=False):
            if not r.stored:  # not even a `failed` row could be written: keep it, never delete it
                self.dead_letter(encode(d).rstrip(b"\n"), "not storable on replay")
                self.replayed -= 1
        self.replayed += len(deliveries)

    def close(self) -> None:
        """Release this process's files (a spool file with lines stays for the next replayer)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
            self._fd = None
            self._path = None
            self._pending = 0


def _append_locked(path: Path, data: bytes) -> None:
    """Append `data` whole to `path` under its exclusive lock (the same inode the name points to), fsynced."""
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # replaced or removed by replay-dead between our open and our lock: again
                continue
            write_all(fd, data)
            os.fsync(fd)
            _fsync_dir(path.parent)
            return
        finally:
            os.close(fd)


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
            _fsync_dir(directory)
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
        if not is_spool and not name.startswith((DEAD_PREFIX, UNREADABLE_PREFIX)):
            continue
        try:
            with path.open("rb") as fh:
                first = fh.readline()
                count = first.count(b"\n")
                while chunk := fh.read(_READ_CHUNK):
                    count += chunk.count(b"\n")
        except FileNotFoundError:  # replayed and removed while we looked
            continue
        except OSError:  # unreadable: the replayer sets it aside; counted as a dead letter meanwhile
            dead += 1
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

        def ingest(deliveries: list[Delivery]) -> list[Result]:
            return process_batch(engine, deliveries, router=router, settings=settings)

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
