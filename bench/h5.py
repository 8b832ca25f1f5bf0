"""Feedback-form benchmark: form submissions per second (POST /h5/feedback, each a new diner's feedback with
overall and aspect stars, tags and a comment, stored on SQLite) beside the webhook's requests per second
(houqin's /wechat storing AES text feedback), both measured in the same run on the same server setup
(one uvicorn worker pinned to one core, the load generator on the other). Prints medians and the ratio
form/webhook (target ≥ 0.8).

    python -m bench.h5 [--requests 5000] [--concurrency 16] [--repeat 3]
"""

from __future__ import annotations

import argparse
import secrets
import sqlite3
import statistics
import tempfile
from urllib.parse import urlencode

from bench.serve import Build, houqin_env, interleaved, measure, pin_load_generator, upgrade
from bench.webhook import COMMENTS, make_requests
from core.settings import Settings
from h5.identity import COOKIE, Diner, _signer, token_for

SITES = 40  # canteens the submissions are spread over (a place's recent submissions are counted per form)


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
                ("scene", f"canteen:bench{i % SITES}:{i % 40 + 1}"),
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


def _forms(settings: Settings) -> Build:
    return lambda n, port, seed: make_forms(n, port, settings=settings, seed=seed)


def _webhook(n: int, port: int, seed: int) -> list[bytes]:
    return make_requests(n, port, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; medians are printed")
    args = parser.parse_args()
    pin_load_generator()
    with tempfile.TemporaryDirectory() as tmp:
        env = houqin_env(f"sqlite:///{tmp}/bench.db", tmp, HOUQIN_H5_PLACE_PER_MINUTE="1000000")
        upgrade(env)
        with sqlite3.connect(f"{tmp}/bench.db") as conn:
            conn.executemany(
                "INSERT INTO site (code, name, kind, active) VALUES (?, ?, 'canteen', 1)",
                [(f"bench{n}", f"测试食堂{n}") for n in range(SITES)],
            )
        settings = Settings(_env_file=None)  # type: ignore[call-arg]  # the development link secret, as the server
        rows: dict[str, tuple[Build, int]] = {"webhook": (_webhook, 200), "form": (_forms(settings), 303)}
        runs = interleaved(
            args.repeat,
            list(rows),
            lambda kind, seed: measure(
                kind,
                "server.asgi:app",
                env,
                rows[kind][0],
                n=args.requests,
                concurrency=args.concurrency,
                seed=seed,
                warm=300,
                expected=rows[kind][1],
            ),
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
