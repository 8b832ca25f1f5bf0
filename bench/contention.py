"""Contention benchmark (issue 11, finding 6): a webhook burst while a large volume compiles on SQLite.

One houqin server (`houqin serve --workers 1 --no-scheduler`) on a SQLite file that holds `--items` closed
feedbacks of October 2026 (inserted beforehand, not timed). Paced senders post AES-encrypted text feedback
to `/wechat` while `compile_locked` builds that whole period into one volume in another process (the way
`houqin compile` or a second worker's scheduler would); then the same senders send the same number of
messages with no compile, as the baseline of the same run. Each reply is decrypted and sorted: answered
normally (a reference number), spooled (「系统正在维护」: the database's write lock was not had within the
spool deadline), or failed. At the end every message must be stored exactly once.

    python -m bench.contention [--items 100000] [--senders 4] [--interval 0.05]

Prints answered/spooled/failed counts and webhook latency p50/p95/max for both phases, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.webhook import AES_KEY, APPID, TOKEN, _free_port, sealed

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Phase:
    """What one burst got back."""

    name: str
    latencies_ms: list[float] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    compile_s: float | None = None
    locks: dict[str, Any] = field(default_factory=dict)  # the compile's write transactions (LockTimes)
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)  # the load average when the burst ended

    def pct(self, p: float) -> float:
        """The p-th percentile latency in ms (nearest rank)."""
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, round(p / 100 * (len(data) - 1)))] if data else float("nan")


class Peer:
    """Encrypts messages and opens replies the way WeChat does (WeRoBot's crypto, independent of ours)."""

    def __init__(self) -> None:
        from werobot.crypto import MessageCrypt

        self.crypt = MessageCrypt(TOKEN, AES_KEY, APPID)

    def request(self, msg_id: int, sender: str) -> tuple[dict[str, str], bytes]:
        """Signed query parameters and the encrypted body of one text feedback."""
        ts = str(int(time.time()))
        xml = (
            f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
            f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{msg_id % 5 + 1}分 第{msg_id}条]]></Content><MsgId>{msg_id}</MsgId></xml>"
        )
        return sealed(self.crypt, xml, ts, f"c{msg_id}")

    def kind(self, response: httpx.Response) -> str:
        """answered (a reference number), spooled (the maintenance reply) or failed."""
        if response.status_code != 200:
            return f"http {response.status_code}"
        body = response.text

        def tag(name: str) -> str:
            found = re.search(rf"<{name}>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</{name}>", body, re.S)
            return found.group(1) if found else ""

        plain = self.crypt.decrypt_message(
            tag("TimeStamp"), tag("Nonce"), tag("MsgSignature"), tag("Encrypt")
        )
        plain = plain.decode() if isinstance(plain, bytes) else plain
        if "系统正在维护" in plain:
            return "spooled"
        return "answered" if "FK" in plain else "other"


def burst(
    url: str, peer: Peer, phase: Phase, *, first_id: int, senders: int, interval: float, until: Any
) -> int:
    """Paced senders, each posting one message every `interval` s until `until()` is true; returns the count."""
    lock = threading.Lock()
    sent = Counter[int]()

    def sender(k: int) -> None:
        with httpx.Client(base_url=url, timeout=10.0) as client:
            n = 0
            next_at = time.monotonic()
            while not until(k, n):
                msg_id = first_id + k * 1_000_000 + n
                params, body = peer.request(msg_id, f"o_c{k}")
                t0 = time.monotonic()
                try:
                    r = client.post("/wechat", params=params, content=body)
                    kind = peer.kind(r)
                except Exception as exc:  # a timeout or a reply that does not open: counted, not fatal
                    kind = type(exc).__name__
                ms = (time.monotonic() - t0) * 1000
                with lock:
                    phase.latencies_ms.append(ms)
                    phase.kinds[kind] += 1
                n += 1
                sent[k] = n
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))

    t0 = time.monotonic()
    threads = [threading.Thread(target=sender, args=(k,)) for k in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    phase.seconds = time.monotonic() - t0
    phase.load = os.getloadavg()
    return sum(sent.values())


class LockTimes:
    """Every SQLite write transaction of this process (BEGIN IMMEDIATE to its commit or rollback), timed and
    named by the first frame of ours that opened it."""

    def __init__(self) -> None:
        self.open: dict[int, tuple[float, str]] = {}
        self.held: list[tuple[float, str]] = []

    def install(self) -> None:
        """Listen on every engine of the process."""
        from sqlalchemy import Engine, event

        event.listen(Engine, "after_cursor_execute", self._after)
        event.listen(Engine, "commit", self._end)
        event.listen(Engine, "rollback", self._end)

    def _after(self, conn: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if statement == "BEGIN IMMEDIATE":
            self.open[id(conn.connection.dbapi_connection)] = (time.perf_counter(), _caller())

    def _end(self, conn: Any) -> None:
        began = self.open.pop(id(conn.connection.dbapi_connection), None)
        if began is not None:
            self.held.append(((time.perf_counter() - began[0]) * 1000, began[1]))

    def summary(self) -> dict[str, Any]:
        """Count, total and longest hold (ms) per opener, and the longest hold of all."""
        by: dict[str, list[float]] = {}
        for ms, where in self.held:
            by.setdefault(where, []).append(ms)
        return {
            "transactions": len(self.held),
            "longest_ms": max((ms for ms, _w in self.held), default=0.0),
            "by_opener": {w: [len(v), round(sum(v), 1), round(max(v), 1)] for w, v in sorted(by.items())},
        }


def _caller() -> str:
    import traceback

    for frame in reversed(traceback.extract_stack()[:-3]):
        if f"{os.sep}exports{os.sep}" in frame.filename:
            return f"{Path(frame.filename).stem}.{frame.name}"
    return "other"


def _compile_timed(url: str, data_dir: str, items: int) -> None:
    """bench.compile's compile of one volume, with every write transaction timed; the times as JSON on stdout."""
    from bench.compile import _compile

    times = LockTimes()
    times.install()
    result = _compile(url, data_dir, items)
    print(json.dumps({"seconds": result["seconds"], **times.summary()}))


def _wait_healthy(url: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url + "/healthz", timeout=2)
            body = r.json()
            if r.status_code == 200 and body["spool"]["depth"] == 0:
                return body
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return body


def run(items: int, senders: int, interval: float) -> tuple[Phase, Phase, tuple[int, int, int]]:
    """Both phases on one fresh database; returns them and (sent, stored rows, distinct keys)."""
    with tempfile.TemporaryDirectory(prefix="houqin-contention-") as tmp:
        path = f"{tmp}/bench.db"
        url = f"sqlite:///{path}"
        subprocess.run(
            [sys.executable, "-m", "bench.compile", "--_fill", url, str(items)], check=True, cwd=ROOT
        )
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOUQIN_")}
        env.update(
            HOUQIN_ENV="development",
            HOUQIN_DATABASE_URL=url,
            HOUQIN_DATA_DIR=f"{tmp}/var",
            HOUQIN_WECHAT_TOKEN=TOKEN,
            HOUQIN_WECHAT_AES_KEY=AES_KEY,
            HOUQIN_WECHAT_APPID=APPID,
        )
        log = open(f"{tmp}/server.log", "ab")  # noqa: SIM115
        cmd = [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--workers", "1",
               "--no-scheduler", "--no-migrate"]  # fmt: skip
        server = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
        log.close()
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base)
            peer = Peer()
            warm = Phase("warm-up")
            burst(base, peer, warm, first_id=10**11, senders=senders, interval=interval,
                  until=lambda _k, n: n >= 10)  # fmt: skip
            during = Phase("during the compile")
            compile_cmd = [
                sys.executable,
                "-m",
                "bench.contention",
                "--_compile",
                url,
                f"{tmp}/var",
                str(items),
            ]
            started = time.monotonic()
            compiler = subprocess.Popen(compile_cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)

            def wait_compile() -> None:
                out, _err = compiler.communicate()
                during.compile_s = time.monotonic() - started
                during.locks = json.loads(out.strip().splitlines()[-1])

            done = threading.Thread(target=wait_compile)
            done.start()
            per_sender: dict[int, int] = {}

            def compiling(k: int, n: int) -> bool:
                if compiler.poll() is None:
                    return False
                per_sender.setdefault(k, n)
                return True

            sent = burst(
                base, peer, during, first_id=2 * 10**11, senders=senders, interval=interval, until=compiling
            )
            done.join()
            if compiler.wait() != 0:
                raise RuntimeError("the compile failed")
            alone = Phase("no compile (baseline)")
            sent += burst(base, peer, alone, first_id=3 * 10**11, senders=senders, interval=interval,
                          until=lambda k, n: n >= per_sender[k])  # fmt: skip
            sent += sum(warm.kinds.values())
            _wait_healthy(base)
        finally:
            server.terminate()
            server.wait(timeout=30)
        with sqlite3.connect(path) as conn:
            rows, keys = conn.execute(
                "SELECT count(*), count(DISTINCT dedupe_key) FROM inbound_message"
            ).fetchone()
    return during, alone, (sent, int(rows), int(keys))


def main() -> None:
    if sys.argv[1:2] == ["--_compile"]:
        _compile_timed(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=100_000, help="feedbacks compiled into one volume")
    parser.add_argument("--senders", type=int, default=4, help="concurrent paced senders")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between one sender's messages")
    args = parser.parse_args()
    during, alone, (sent, rows, keys) = run(args.items, args.senders, args.interval)
    print(f"{args.items:,} items compiled on SQLite in {during.compile_s:.1f} s; {args.senders} senders, "
          f"one message each every {args.interval * 1000:.0f} ms")  # fmt: skip
    print(f"{'phase':24} {'sent':>6} {'answered':>8} {'spooled':>7} {'other':>5} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'max ms':>7}")  # fmt: skip
    for ph in (during, alone):
        other = sum(c for k, c in ph.kinds.items() if k not in ("answered", "spooled"))
        print(f"{ph.name:24} {len(ph.latencies_ms):6d} {ph.kinds['answered']:8d} {ph.kinds['spooled']:7d} "
              f"{other:5d} {ph.pct(50):7.1f} {ph.pct(95):7.1f} {max(ph.latencies_ms):7.1f}")  # fmt: skip
    print(f"ratio during/baseline: p50 {during.pct(50) / alone.pct(50):.2f}×, p95 {during.pct(95) / alone.pct(95):.2f}×, "
          f"mean {statistics.mean(during.latencies_ms) / statistics.mean(alone.latencies_ms):.2f}×")  # fmt: skip
    locks = during.locks
    print(f"the compile's write transactions: {locks['transactions']}, longest {locks['longest_ms']:.1f} ms; "
          "by opener [count, total ms, longest ms]:")  # fmt: skip
    for opener, (count, total, longest) in locks["by_opener"].items():
        print(f"  {opener:24} {count:6d} {total:10.1f} {longest:8.1f}")
    for ph in (during, alone):
        print(f"load average when '{ph.name}' ended: {' '.join(f'{x:.2f}' for x in ph.load)}")
    print(f"stored: {rows} rows, {keys} distinct keys, of {sent} messages sent "
          f"({'every one once' if rows == keys == sent else 'MISMATCH'})")  # fmt: skip


if __name__ == "__main__":
    main()
