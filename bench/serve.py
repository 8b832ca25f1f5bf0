"""What bench.webhook and bench.h5 share: a fresh houqin database, a server process pinned to one core (the
load generator pinned to the other), and the timing loop — rows run interleaved `repeat` times against a
fresh server each, warmed up first, medians reported.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.loadgen import LoadResult, run_load

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx_bench_appid"

Build = Callable[[int, int, int], list[bytes]]  # (count, port, seed) → raw HTTP requests


def pin_load_generator() -> None:
    """Pin this process (the load generator) to core 1; servers go to core 0."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {1})


def houqin_env(db_url: str, tmp: str, **extra: str) -> dict[str, str]:
    """The environment of a houqin server for the benchmarks (development secrets, the bench's WeChat keys)."""
    return {
        "HOUQIN_WECHAT_TOKEN": TOKEN,
        "HOUQIN_WECHAT_AES_KEY": AES_KEY,
        "HOUQIN_WECHAT_APPID": APPID,
        "HOUQIN_DATABASE_URL": db_url,
        "HOUQIN_DATA_DIR": f"{tmp}/var",
        "HOUQIN_ENV": "development",
        **extra,
    }


def upgrade(env: dict[str, str]) -> None:
    """Create the schema (`houqin db upgrade`) in the database `env` names."""
    subprocess.run(
        [sys.executable, "-m", "server.cli", "db", "upgrade"],
        env={**os.environ, **env},
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(target: str, port: int, env: dict[str, str], core: int) -> subprocess.Popen[bytes]:
    """One uvicorn worker serving `target` (module:app), pinned to `core`, answering before it returns."""
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--log-level",
        "warning",
        "--no-access-log",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
    ]
    # the server's output (one JSON access-log line per request) goes to a file, as in production
    log = open(Path(tempfile.gettempdir()) / f"houqin-bench-{port}.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=log)
    log.close()  # the child holds its own descriptor
    with contextlib.suppress(AttributeError, OSError):  # not every OS pins
        os.sched_setaffinity(proc.pid, {core})
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{target} did not start")


def measure(
    name: str,
    target: str,
    env: dict[str, str],
    build: Build,
    *,
    n: int,
    concurrency: int,
    seed: int,
    warm: int = 500,
    expected: int = 200,
) -> LoadResult:
    """One run of one row: a fresh server, `warm` requests to warm it, then `n` timed requests."""
    port = free_port()
    proc = start_server(target, port, env, core=0)
    try:
        run_load("127.0.0.1", port, build(min(warm, n // 10), port, seed + 7), concurrency)
        result = run_load("127.0.0.1", port, build(n, port, seed), concurrency)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    bad = {s: c for s, c in result.statuses.items() if s != expected}
    if bad:
        print(f"  {name}: unexpected responses {bad}", file=sys.stderr)
    return result


def interleaved(
    repeat: int, rows: list[str], run: Callable[[str, int], LoadResult]
) -> dict[str, list[LoadResult]]:
    """`repeat` rounds of every row in turn (so drift on the machine hits every row alike); `run(row, seed)`."""
    runs: dict[str, list[LoadResult]] = {}
    for r in range(repeat):
        for i, row in enumerate(rows):
            runs.setdefault(row, []).append(run(row, 1000 * r + 100 + i))
    return runs


class Median:
    """Median requests/s, p50 and p99 over several runs of one row."""

    def __init__(self, runs: list[LoadResult]) -> None:
        self.rps = statistics.median(r.rps for r in runs)
        self.p50 = statistics.median(r.p50 for r in runs)
        self.p99 = statistics.median(r.pct(99) for r in runs)
