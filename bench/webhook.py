"""Webhook benchmark: (a) bare FastAPI, (b) wechatpy with no database, (c) houqin's /wechat storing every feedback.

Each server runs in its own process with one uvicorn worker, pinned to one core; the load generator is
pinned to the other. Messages are AES-encrypted text feedback with distinct MsgIds, generated beforehand.
houqin runs on SQLite with durable commits (synchronous=FULL). Prints requests/s, p50 and p99 latency,
and the ratio (c)/(b).

    python -m bench.webhook [--requests 20000] [--concurrency 16] [--database-url …]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.loadgen import LoadResult, build_request, run_load

TOKEN = "bench-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx_bench_appid"
COMMENTS = [
    "红烧肉偏咸",
    "米饭有点硬",
    "汤很鲜",
    "窗口排队太久",
    "青菜炒得不错",
    "馒头凉了",
    "服务态度很好",
    "鱼有点腥",
]
ROOT = Path(__file__).resolve().parent.parent


def _sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def make_requests(n: int, port: int, *, seed: int) -> list[bytes]:
    """n encrypted text messages, distinct MsgIds and senders, signed for now."""
    from werobot.crypto import MessageCrypt  # an implementation independent of the server's

    crypt = MessageCrypt(TOKEN, AES_KEY, APPID)
    rng = random.Random(seed)
    out = []
    ts = str(int(time.time()))
    for i in range(n):
        score = rng.randint(1, 5)
        xml = (
            f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o_bench_{i % 5000}]]>"
            f"</FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{score}分 {rng.choice(COMMENTS)}]]></Content><MsgId>{seed * 10**9 + i}</MsgId></xml>"
        )
        nonce = f"n{i}"
        env = crypt.encrypt_message(xml, ts, nonce)
        encrypt = env.split("<Encrypt><![CDATA[", 1)[1].split("]]>", 1)[0]
        params = {
            "timestamp": ts,
            "nonce": nonce,
            "encrypt_type": "aes",
            "signature": _sign(TOKEN, ts, nonce),
            "msg_signature": _sign(TOKEN, ts, nonce, encrypt),
        }
        body = f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        out.append(build_request("127.0.0.1", port, "/wechat", params, body.encode()))
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(target: str, port: int, env: dict[str, str], core: int) -> subprocess.Popen[bytes]:
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


def measure(name: str, target: str, env: dict[str, str], n: int, concurrency: int, seed: int) -> LoadResult:
    port = _free_port()
    proc = start_server(target, port, env, core=0)
    try:
        warm = make_requests(min(500, n // 10), port, seed=seed + 7)
        run_load("127.0.0.1", port, warm, concurrency)
        reqs = make_requests(n, port, seed=seed)
        result = run_load("127.0.0.1", port, reqs, concurrency)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    bad = {s: c for s, c in result.statuses.items() if s != 200}
    if bad:
        print(f"  {name}: non-200 responses {bad}", file=sys.stderr)
    return result


class Median:
    """Median requests/s, p50 and p99 over several runs of one row."""

    def __init__(self, runs: list[LoadResult]) -> None:
        self.rps = statistics.median(r.rps for r in runs)
        self.p50 = statistics.median(r.p50 for r in runs)
        self.p99 = statistics.median(r.pct(99) for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default="", help="houqin's database (default: a fresh SQLite file)")
    parser.add_argument("--only", choices=["a", "b", "c"], action="append", help="run only these rows")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; medians are printed")
    args = parser.parse_args()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {1})

    with tempfile.TemporaryDirectory() as tmp:
        db_url = args.database_url or f"sqlite:///{tmp}/bench.db"
        env = {
            "HOUQIN_WECHAT_TOKEN": TOKEN,
            "HOUQIN_WECHAT_AES_KEY": AES_KEY,
            "HOUQIN_WECHAT_APPID": APPID,
            "HOUQIN_DATABASE_URL": db_url,
            "HOUQIN_DATA_DIR": f"{tmp}/var",
            "HOUQIN_ENV": "development",
        }
        subprocess.run(
            [sys.executable, "-m", "server.cli", "db", "upgrade"],
            env={**os.environ, **env},
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        rows = [
            ("(a) bare FastAPI, returns success", "bench.apps:bare"),
            ("(b) wechatpy verify+decrypt+parse+reply+encrypt, no DB", "bench.apps:wechatpy_nodb"),
            ("(c) houqin /wechat, stores every feedback", "server.asgi:app"),
        ]
        runs: dict[str, list[LoadResult]] = {}
        for r in range(args.repeat):  # interleaved, so drift on the machine hits every row alike
            for i, (name, target) in enumerate(rows):
                if args.only and name[1] not in args.only:
                    continue
                runs.setdefault(name, []).append(
                    measure(name, target, env, args.requests, args.concurrency, seed=1000 * r + 100 + i)
                )
        results = {name: Median(rs) for name, rs in runs.items()}
        stored = None
        if db_url.startswith("sqlite"):
            import sqlite3

            with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
                stored = conn.execute("SELECT count(*) FROM feedback").fetchone()[0]

    print(
        f"\nwebhook benchmark: {args.requests} AES text messages, {args.concurrency} connections, 1 worker each, "
        f"median of {args.repeat} runs"
    )
    print(f"{'server':58} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, med in results.items():
        print(f"{name:58} {med.rps:8.0f} {med.p50:8.2f} {med.p99:8.2f}")
    if len(results) == len(rows):
        a, b, c = (results[name] for name, _ in rows)
        print(f"ratio (c)/(b): {c.rps / b.rps:.2f}   (c)/(a): {c.rps / a.rps:.2f}")
    if stored is not None:
        print(f"feedback rows stored by (c): {stored} (warm-up included)")


if __name__ == "__main__":
    main()
