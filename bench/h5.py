"""Feedback-form benchmark: form submissions per second (POST /h5/feedback, each a new diner's feedback with
overall and aspect stars, tags and a comment, stored on SQLite) beside the webhook's requests per second
(houqin's /wechat storing AES text feedback), both measured in the same run on the same server setup
(one uvicorn worker pinned to one core, the load generator on the other). Prints medians and the ratio
form/webhook (target ≥ 0.8).

    python -m bench.h5 [--requests 5000] [--concurrency 16] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from urllib.parse import urlencode

from bench.loadgen import LoadResult, run_load
from bench.webhook import AES_KEY, APPID, COMMENTS, ROOT, TOKEN, _free_port, make_requests, start_server
from core.settings import Settings
from h5.identity import COOKIE, Diner, _signer, token_for


def make_forms(n: int, port: int, *, settings: Settings, seed: int) -> list[bytes]:
    """n form submissions from n different devices (each its own signed cookie, form token and key)."""
    out = []
    for i in range(n):
        diner = Diner("h5", f"bench{seed}x{i}")
        cookie = _signer(settings, "houqin-h5-diner").dumps({"k": diner.kind, "i": diner.id})
        body = urlencode(
            [
                ("key", secrets.token_urlsafe(24)),
                ("csrf", token_for(settings, diner)),
                ("scene", f"canteen:bench:{i % 40 + 1}"),
                ("overall", str(i % 5 + 1)),
                ("aspect0", str((i + 1) % 5 + 1)),
                ("aspect1", "4"),
                ("tag", "偏咸"),
                ("comment", COMMENTS[i % len(COMMENTS)]),
            ]
        ).encode()
        head = (
            f"POST /h5/feedback HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nCookie: {COOKIE}={cookie}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


def measure(
    kind: str, env: dict[str, str], settings: Settings, n: int, concurrency: int, seed: int
) -> LoadResult:
    """One run of one row against a fresh server process."""
    port = _free_port()
    proc = start_server("server.asgi:app", port, env, core=0)
    try:
        build = (
            (lambda k, s: make_requests(k, port, seed=s))
            if kind == "webhook"
            else (lambda k, s: make_forms(k, port, settings=settings, seed=s))
        )
        run_load("127.0.0.1", port, build(min(300, n // 10), seed + 7), concurrency)
        result = run_load("127.0.0.1", port, build(n, seed), concurrency)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    expected = 200 if kind == "webhook" else 303
    bad = {s: c for s, c in result.statuses.items() if s != expected}
    if bad:
        print(f"  {kind}: unexpected responses {bad}", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; medians are printed")
    args = parser.parse_args()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/bench.db"
        env = {
            "HOUQIN_WECHAT_TOKEN": TOKEN,
            "HOUQIN_WECHAT_AES_KEY": AES_KEY,
            "HOUQIN_WECHAT_APPID": APPID,
            "HOUQIN_DATABASE_URL": db_url,
            "HOUQIN_DATA_DIR": f"{tmp}/var",
            "HOUQIN_ENV": "development",
            "HOUQIN_H5_PLACE_PER_MINUTE": "1000000",
        }
        subprocess.run(
            [sys.executable, "-m", "server.cli", "db", "upgrade"],
            env={**os.environ, **env},
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        with sqlite3.connect(f"{tmp}/bench.db") as conn:
            conn.execute(
                "INSERT INTO site (code, name, kind, active) VALUES ('bench', '测试食堂', 'canteen', 1)"
            )
        settings = Settings(_env_file=None)  # type: ignore[call-arg]  # the development link secret, as the server
        runs: dict[str, list[LoadResult]] = {"webhook": [], "form": []}
        for r in range(args.repeat):  # interleaved, so drift on the machine hits both rows alike
            for i, kind in enumerate(runs):
                runs[kind].append(
                    measure(kind, env, settings, args.requests, args.concurrency, seed=1000 * r + 100 + i)
                )
        with sqlite3.connect(f"{tmp}/bench.db") as conn:
            forms = conn.execute("SELECT count(*) FROM feedback_form").fetchone()[0]
            aspects = conn.execute("SELECT count(*) FROM feedback_aspect").fetchone()[0]
    rps = {k: statistics.median(x.rps for x in v) for k, v in runs.items()}
    p50 = {k: statistics.median(x.p50 for x in v) for k, v in runs.items()}
    print(
        f"\nform vs webhook: {args.requests} requests each, {args.concurrency} connections, median of {args.repeat}"
    )
    print(f"{'row':44} {'req/s':>8} {'p50 ms':>8}")
    print(f"{'houqin /wechat (AES text feedback, stored)':44} {rps['webhook']:8.0f} {p50['webhook']:8.2f}")
    print(f"{'houqin /h5/feedback (form submission, stored)':44} {rps['form']:8.0f} {p50['form']:8.2f}")
    print(f"ratio form/webhook: {rps['form'] / rps['webhook']:.2f} (target >= 0.8)")
    print(f"form submissions stored: {forms} (warm-up included), aspect scores: {aspects}")


if __name__ == "__main__":
    main()
