"""The database-outage spool: verified deliveries kept on local disk while the database is unreachable.

When the database cannot be reached (a connection error, not a handler bug) the webhook still answers
within WeChat's deadline: the delivery (dedupe key, parsed message, raw XML) is appended to this
process's spool file, fsynced, and only then acknowledged. The replayer (ingest/replay.py) feeds spooled
deliveries, in order, through the normal ingest path once the database answers again (the InboundMessage
unique key makes a replay idempotent), then removes the file. This module is the file format, the
writing, and the status; ingest/replay.py reads the files back.

Files: one append-only JSON-lines file per process, `{DATA_DIR}/spool/spool-<pid>-<token>.jsonl`. The
owner holds an exclusive `flock` on it for as long as it lives, so a file whose lock can be taken belongs
to a dead process: any process's replayer adopts it. A file is created under a temporary name, locked,
then renamed into place, so no replayer ever sees an unlocked file of a live owner. A line that cannot be
stored even once the database is back (a bug of ours, not an outage) is moved to `dead-<pid>-<token>.jsonl`
for a person to look at: it is never dropped.

Nothing acknowledged is lost (issue 11): a line is written whole or not at all (short writes are looped, a
failed write is truncated back and the webhook answers 503 so WeChat retries). `houqin spool status`
shows what is waiting, `houqin spool replay-dead` feeds dead letters back once the cause is fixed.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from handlers.router import Incoming
from ingest.delivery import Delivery

log = logging.getLogger("houqin.spool")

PREFIX = "spool-"
DEAD_PREFIX = "dead-"
UNREADABLE_PREFIX = "unreadable-"  # a spool entry that could not be opened, renamed aside for a person
SUFFIX = ".jsonl"
READ_CHUNK = 1 << 20


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


def fsync_dir(directory: Path) -> None:
    """Make a new, renamed or removed entry of `directory` durable (a file is only once its entry is)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def complete_lines(data: bytes) -> tuple[list[bytes], int]:
    """The newline-terminated lines at the start of `data`, and how many bytes they span."""
    end = data.rfind(b"\n")
    if end < 0:
        return [], 0
    return data[: end + 1].splitlines(), end + 1


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


def append_locked(path: Path, data: bytes) -> None:
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
            fsync_dir(path.parent)
            return
        finally:
            os.close(fd)


class Spool:
    """This process's spool file (created on first use) and its dead letters.

    The replayer reads the own file back with `unread` and `mark_replayed`; appends and those calls share
    one lock, so a line appended during a replay is never lost to the file's removal.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._read_offset = 0
        self._pending = 0  # lines appended and not yet replayed
        self._dead_path: Path | None = None
        self.appended = 0
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
        fsync_dir(self.directory)
        return fd, final

    def _open(self) -> None:
        self._fd, self._path = self._new_locked_file(PREFIX)
        self._read_offset = 0
        log.warning("database unavailable: spooling deliveries to %s", self._path)

    def unread(self) -> bytes | None:
        """The next bytes of this process's spool not yet replayed, or None when there are none.

        With every line replayed, the file is removed and None returned: appends wait on the same lock, so
        none can slip in before the unlink (the next append opens a new file).
        """
        with self._lock:
            if self._fd is None:
                return None
            data = os.pread(self._fd, READ_CHUNK, self._read_offset)
            if data:
                return data
            assert self._path is not None
            os.unlink(self._path)
            os.close(self._fd)
            log.info("spool %s replayed and removed", self._path.name)
            self._fd, self._path, self._read_offset, self._pending = None, None, 0, 0
            return None

    def mark_replayed(self, lines: list[bytes]) -> None:
        """Record that `lines`, the next ones `unread` gave, are stored: the next read starts after them."""
        with self._lock:
            self._read_offset += sum(len(x) + 1 for x in lines)
            self._pending = max(0, self._pending - len(lines))

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
            append_locked(self._dead_path, record.encode("utf-8") + b"\n")
            self.dead_lettered += 1

    def close(self) -> None:
        """Release this process's files (a spool file with lines stays for the next replayer)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
            self._fd = None
            self._path = None
            self._pending = 0


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
                while chunk := fh.read(READ_CHUNK):
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
