"""Multi-worker load benchmark: houqin on PostgreSQL with 1, 2 and 4 workers, beside WeRoBot under
gunicorn and the bare FastAPI endpoint, in the same run, with the same load generator and messages.

    python -m bench.load [--requests 6000] [--concurrency 32] [--workers 1,2,4] [--repeat 1]
                         [--pg postgresql://postgres@127.0.0.1:5432/test]

Rows, for each worker count:
- bare FastAPI (`bench.apps:bare` under uvicorn): returns `success`, the ceiling of the HTTP stack;
- WeRoBot under gunicorn (gthread workers, keep-alive): verifies, decrypts, parses, replies and encrypts
  with its crypto configured; stores nothing;
- houqin (`houqin serve --workers N --no-scheduler`) on a fresh PostgreSQL database this script creates
  (and drops): stores every message exactly once, with its group-commit writer per worker.

Every message is an AES-encrypted text feedback with its own MsgId (bench/webhook.py builds them).
Besides requests/s and latency it prints CPU time per request of the server's process tree and of
PostgreSQL's processes (read from /proc), which says more than requests/s when the machine has fewer
cores than workers + load generator + database (PostgreSQL's share counts only the backends serving the
benchmark's database). Nothing is pinned: worker counts above the core count only show the overhead of
oversubscription.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.loadgen import LoadResult, run_load
from bench.webhook import AES_KEY, APPID, TOKEN, _free_port, make_requests

ROOT = Path(__file__).resolve().parent.parent
REPLY = "感谢您的评价！编号：FK20261125-0001"


def make_werobot() -> Any:
    """WeRoBot's WSGI app with its crypto configured and sessions off (gunicorn `bench.load:make_werobot()`)."""
    from werobot import WeRoBot

    robot = WeRoBot(token=TOKEN, encoding_aes_key=AES_KEY, app_id=APPID)
    robot.config["SESSION_STORAGE"] = False  # stores nothing

    @robot.text
    def _reply(_message: Any) -> str:
        return REPLY

    return robot.wsgi


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, str]]:
    """Every process: pid → (parent pid, command name)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        out[int(entry)] = (int(text.rsplit(")", 1)[1].split()[1]), name)
    return out


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by `root` and its descendants that are still alive."""
    procs = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += _cpu_seconds(pid)
        stack.extend(children.get(pid, []))
    return total


def postgres_cpu(admin: str, database: str | None) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend serving `database` (none without one): other
    users of the same PostgreSQL do not count."""
    if database is None:
        return {}
    with psycopg.connect(admin, autocommit=True) as conn:
        pids = [
            int(p)
            for (p,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))
        ]
    return {pid: _cpu_seconds(pid) for pid in pids}


@dataclass
class Row:
    """One measured server configuration."""

    server: str
    workers: int
    result: LoadResult
    server_us: float  # server CPU per request
    pg_us: float  # PostgreSQL CPU per request
    stored: int | None = None


class Server:
    """A server process tree started in its own session, stopped by signalling that group."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.cmd = [part.replace("{port}", str(self.port)) for part in cmd]
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                env={**os.environ, **self.env},
                cwd=ROOT,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.cmd[:4]} exited: {self.log.read_text()[-2000:]}")
            try:
                # any answer means it listens; a POST without a body is refused quickly by all three
                httpx.post(f"http://127.0.0.1:{self.port}/wechat", timeout=2)
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.cmd[:4]} did not start: {self.log.read_text()[-2000:]}")

    def __exit__(self, *_exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def measure(
    server: Server,
    *,
    name: str,
    workers: int,
    n: int,
    concurrency: int,
    seed: int,
    admin: str = "",
    database: str | None = None,
) -> Row:
    """Warm up, then send `n` fresh messages and measure."""
    assert server.proc is not None
    warm = make_requests(min(500, n // 5), server.port, seed=seed + 7)
    run_load("127.0.0.1", server.port, warm, concurrency)
    requests = make_requests(n, server.port, seed=seed)
    cpu0, pg_start = tree_cpu(server.proc.pid), postgres_cpu(admin, database)
    result = run_load("127.0.0.1", server.port, requests, concurrency)
    cpu1, pg_end = tree_cpu(server.proc.pid), postgres_cpu(admin, database)
    pg = sum(t - pg_start.get(pid, 0.0) for pid, t in pg_end.items())
    bad = {s: c for s, c in result.statuses.items() if s != 200}
    if bad:
        print(f"  {name} ×{workers}: non-200 answers {bad}", file=sys.stderr)
    return Row(name, workers, result, (cpu1 - cpu0) / n * 1e6, pg / n * 1e6)


@contextlib.contextmanager
def fresh_database(admin: str) -> Any:
    """A new empty database on the PostgreSQL at `admin`; its SQLAlchemy URL. Dropped afterwards."""
    name = f"houqin_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def count_stored(db_url: str) -> int:
    """Inbound messages stored in `db_url`."""
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        row = conn.execute("SELECT count(*) FROM inbound_message").fetchone()
        return int(row[0]) if row else 0


def run(args: argparse.Namespace) -> list[Row]:
    """Every row of the table, interleaved by worker count so drift on the machine hits all alike."""
    rows: list[Row] = []
    py = sys.executable
    uvicorn_opts = ["--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning", "--no-access-log",
                    "--loop", "uvloop", "--http", "httptools"]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="houqin-load-") as tmp:
        log = Path(tmp) / "servers.log"
        for r in range(args.repeat):
            for w in args.workers:
                seed = 1000 * r + 10 * w
                crypto_env = {
                    "HOUQIN_WECHAT_TOKEN": TOKEN,
                    "HOUQIN_WECHAT_AES_KEY": AES_KEY,
                    "HOUQIN_WECHAT_APPID": APPID,
                }
                bare = [py, "-m", "uvicorn", "bench.apps:bare", "--workers", str(w), *uvicorn_opts]
                with Server(bare, crypto_env, log) as s:
                    rows.append(measure(s, name="bare FastAPI", workers=w, n=args.requests,
                                        concurrency=args.concurrency, seed=seed + 1))  # fmt: skip
                werobot = [py, "-m", "gunicorn", "-w", str(w), "-k", "gthread", "--threads", "1", "-b",
                           "127.0.0.1:{port}", "--log-level", "warning", "bench.load:make_werobot()"]  # fmt: skip
                with Server(werobot, {}, log) as s:
                    rows.append(measure(s, name="WeRoBot (gunicorn)", workers=w, n=args.requests,
                                        concurrency=args.concurrency, seed=seed + 2))  # fmt: skip
                with fresh_database(args.pg) as db_url:
                    env = {
                        **crypto_env,
                        "HOUQIN_DATABASE_URL": db_url,
                        "HOUQIN_DATA_DIR": f"{tmp}/var-{r}-{w}",
                        "HOUQIN_ENV": "development",
                    }
                    houqin = [
                        py,
                        "-m",
                        "server.cli",
                        "serve",
                        "--port",
                        "{port}",
                        "--workers",
                        str(w),
                        "--no-scheduler",
                    ]
                    with Server(houqin, env, log) as s:
                        row = measure(s, name="houqin (PostgreSQL)", workers=w, n=args.requests,
                                      concurrency=args.concurrency, seed=seed + 3, admin=args.pg,
                                      database=db_url.rsplit("/", 1)[1])  # fmt: skip
                    row.stored = count_stored(db_url)
                    rows.append(row)
                print(f"  done: {w} worker(s), round {r + 1}", file=sys.stderr, flush=True)
    return rows


def report(rows: list[Row], args: argparse.Namespace) -> None:
    """Print the table (medians over repeats) and the two ratios the issue asks about."""
    grouped: dict[tuple[str, int], list[Row]] = {}
    for row in rows:
        grouped.setdefault((row.server, row.workers), []).append(row)
    med: dict[tuple[str, int], dict[str, float]] = {}
    print(
        f"\nload benchmark: {args.requests} AES text messages per row, {args.concurrency} keep-alive connections, "
        f"{os.cpu_count()} CPUs, median of {args.repeat} run(s)"
    )
    print(
        f"{'server':22} {'workers':>7} {'req/s':>8} {'req/s/worker':>12} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'srv CPU µs/req':>14} {'PG CPU µs/req':>13} {'stored':>7}"
    )
    for (server, w), rs in grouped.items():
        m = {
            "rps": statistics.median(r.result.rps for r in rs),
            "p50": statistics.median(r.result.p50 for r in rs),
            "p99": statistics.median(r.result.pct(99) for r in rs),
            "cpu": statistics.median(r.server_us for r in rs),
            "pg": statistics.median(r.pg_us for r in rs),
        }
        med[(server, w)] = m
        stored = rs[-1].stored
        print(
            f"{server:22} {w:7d} {m['rps']:8.0f} {m['rps'] / w:12.0f} {m['p50']:8.2f} {m['p99']:8.2f} "
            f"{m['cpu']:14.0f} {m['pg'] if stored is not None else float('nan'):13.0f} "
            f"{'' if stored is None else stored:>7}"
        )
    print()
    for w in args.workers:
        h, wr = med.get(("houqin (PostgreSQL)", w)), med.get(("WeRoBot (gunicorn)", w))
        if h and wr:
            print(
                f"{w} worker(s): houqin/WeRoBot requests/s {h['rps'] / wr['rps']:.2f}×; "
                f"server CPU per request {h['cpu'] / wr['cpu']:.2f}× WeRoBot's (+ PostgreSQL {h['pg']:.0f} µs)"
            )
    base = med.get(("houqin (PostgreSQL)", 1))
    for w in args.workers:
        h = med.get(("houqin (PostgreSQL)", w))
        if base and h and w > 1:
            print(f"houqin scaling 1→{w} workers: {h['rps'] / base['rps']:.2f}× (linear: {w}×)")


def main() -> None:
    """Parse arguments, run every row, print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; medians are printed")
    parser.add_argument(
        "--pg",
        default=os.environ.get("HOUQIN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL to create the benchmark's databases in (libpq URL of an existing database)",
    )
    args = parser.parse_args()
    args.workers = [int(x) for x in str(args.workers).split(",") if x.strip()]
    report(run(args), args)


if __name__ == "__main__":
    main()
