"""Logging set-up: one JSON object per line on stderr, and the one access line per request.

Access lines (`houqin.access`, INFO) carry method, route, status, milliseconds, the WeChat message type
and whether the delivery was a dedupe hit, never an openid or message text. They are cheap on the hot
path: the request only appends a tuple to a deque; a background thread turns the list into JSON lines
and writes them in one go, a few times a second, through the ordinary handlers. Other loggers log as
usual, formatted by `JsonFormatter` when `setup_logging` installed it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

ACCESS_LOGGER = "houqin.access"
_FLUSH_EVERY_S = 0.2
# Linux pipes write up to this many bytes atomically; access lines are short ASCII JSON.
_PIPE_BUF = 4096
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, message, pid, and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single JSON line (exceptions included as one string)."""
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(level: int = logging.INFO, *, force: bool = False) -> None:
    """Send every log to stderr as JSON lines, unless logging was configured already (or `force`)."""
    root = logging.getLogger()
    if root.handlers and not force:
        return
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


# bagit logs every file it hashes; httpx every request the simulator makes to /wechat
QUIET = ("bagit", "httpx")


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn (applied in every worker): JSON lines on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "core.logs.JsonFormatter"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"level": "WARNING"},
            "uvicorn.error": {"level": "WARNING"},
            "uvicorn.access": {"level": "WARNING"},  # houqin.access says more, in JSON
            "apscheduler": {"level": "WARNING"},
        },
    }


class AccessLog:
    """Collects access entries from the event loop and writes them as JSON lines from a background thread."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)
        self._pending: deque[tuple[Any, ...]] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._pid = os.getpid()

    def enabled(self) -> bool:
        """Whether INFO access lines would be emitted (checked per request: a cached level lookup)."""
        return self.logger.isEnabledFor(logging.INFO)

    def record(
        self, method: str, path: str, status: int, seconds: float, msg_type: str = "", duplicate: bool = False
    ) -> None:
        """Queue one access line (deque.append is thread-safe: no lock on the hot path)."""
        self._pending.append((time.time(), method, path, status, seconds, msg_type, duplicate))
        if self._thread is None or self._pid != os.getpid():
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()  # a forked worker needs its own thread
            self._thread = threading.Thread(target=self._run, name="houqin-access-log", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(_FLUSH_EVERY_S)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Write every queued line now."""
        pending = self._pending
        if not pending:
            return
        streams = self._json_streams()
        if streams is None:
            while pending:
                try:
                    entry = pending.popleft()
                except IndexError:  # another flush took the last one
                    break
                self.logger.handle(self._record(entry))
            return
        # every handler is a JSON stream handler (the usual set-up): format the lines directly and
        # write them in a few large writes, with no LogRecord per line (docs/benchmarks.md)
        lines: list[str] = []
        while pending:
            try:
                lines.append(self._line(pending.popleft()))
            except IndexError:
                break
        for handler in streams:
            with handler.lock or contextlib.nullcontext():
                for chunk in _chunks(lines, _PIPE_BUF):
                    handler.stream.write(chunk)
                handler.flush()

    def _json_streams(self) -> list[logging.StreamHandler[Any]] | None:
        """The handlers an access line reaches, when all are JSON stream handlers and nothing filters."""
        found: list[logging.StreamHandler[Any]] = []
        logger: logging.Logger | None = self.logger
        while logger is not None:
            if logger.filters:
                return None
            for h in logger.handlers:
                if (
                    type(h) is not logging.StreamHandler
                    or not isinstance(h.formatter, JsonFormatter)
                    or h.filters
                    or h.level > logging.INFO
                ):
                    return None
                found.append(h)
            logger = logger.parent if logger.propagate else None
        return found or None

    def _record(self, entry: tuple[Any, ...]) -> logging.LogRecord:
        ts, method, path, status, seconds, msg_type, duplicate = entry
        record = self.logger.makeRecord(
            self.logger.name,
            logging.INFO,
            __file__,
            0,
            "request",
            (),
            None,
            extra={
                "method": method,
                "path": path,
                "status": status,
                "ms": round(seconds * 1000, 2),
                "msg_type": msg_type or None,
                "dedupe_hit": duplicate,
            },
        )
        record.created = ts  # when the request ended, not when the line was written
        record.msecs = (ts - int(ts)) * 1000
        return record

    def _line(self, entry: tuple[Any, ...]) -> str:
        ts, method, path, status, seconds, msg_type, duplicate = entry
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
        return (
            f'{{"ts":"{stamp}.{int(ts * 1000) % 1000:03d}+00:00","level":"INFO","logger":"{self.logger.name}",'
            f'"msg":"request","pid":{self._pid},"method":{_q(method)},"path":{_q(path)},"status":{status},'
            f'"ms":{seconds * 1000:.2f},"msg_type":{_q(msg_type) if msg_type else "null"},'
            f'"dedupe_hit":{"true" if duplicate else "false"}}}\n'
        )


_quoted: dict[str, str] = {}


def _q(value: str) -> str:
    # the same few methods, routes and message types over and over: quote each once
    out = _quoted.get(value)
    if out is None:
        out = json.dumps(value)  # ASCII: a line's length in characters is its length in bytes
        if len(_quoted) < 1024:
            _quoted[value] = out
    return out


def _chunks(lines: list[str], limit: int) -> list[str]:
    """Join lines into writes of at most `limit` bytes (whole lines), so workers sharing a pipe never
    interleave inside a line (writes up to PIPE_BUF are atomic)."""
    out: list[str] = []
    size = 0
    start = 0
    for i, line in enumerate(lines):
        if size + len(line) > limit and i > start:
            out.append("".join(lines[start:i]))
            start, size = i, 0
        size += len(line)
    if start < len(lines):
        out.append("".join(lines[start:]))
    return out


access_log = AccessLog()
