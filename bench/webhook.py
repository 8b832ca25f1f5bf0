"""Webhook benchmark: (a) bare FastAPI, (b) wechatpy with no database, (c) houqin's /wechat storing every feedback.

Each server runs in its own process with one uvicorn worker, pinned to one core; the load generator is
pinned to the other. Messages are AES-encrypted text feedback with distinct MsgIds, generated beforehand.
houqin runs on SQLite with durable commits (synchronous=FULL). Prints requests/s, p50 and p99 latency,
and the ratio (c)/(b).

    python -m bench.webhook [--requests 20000] [--concurrency 16] [--database-url …]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import tempfile
import time
from typing import Any

from bench.loadgen import build_request
from bench.serve import (
    AES_KEY,
    APPID,
    TOKEN,
    Median,
    free_port,
    houqin_env,
    interleaved,
    measure,
    pin_load_generator,
    upgrade,
)

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


def _sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def sealed(crypt: Any, xml: str, ts: str, nonce: str) -> tuple[dict[str, str], bytes]:
    """The signed query parameters and the AES envelope of one message, as WeChat posts them."""
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
    return params, body.encode()


def _build(n: int, port: int, seed: int) -> list[bytes]:
    return make_requests(n, port, seed=seed)


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
        params, body = sealed(crypt, xml, ts, f"n{i}")
        out.append(build_request("127.0.0.1", port, "/wechat", params, body))
    return out


# kept for bench.load, which imports these names from here
_free_port = free_port


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
    pin_load_generator()

    with tempfile.TemporaryDirectory() as tmp:
        db_url = args.database_url or f"sqlite:///{tmp}/bench.db"
        env = houqin_env(db_url, tmp)
        upgrade(env)
        rows = [
            ("(a) bare FastAPI, returns success", "bench.apps:bare"),
            ("(b) wechatpy verify+decrypt+parse+reply+encrypt, no DB", "bench.apps:wechatpy_nodb"),
            ("(c) houqin /wechat, stores every feedback", "server.asgi:app"),
        ]
        targets = {name: target for name, target in rows if not args.only or name[1] in args.only}
        runs = interleaved(
            args.repeat,
            list(targets),
            lambda name, seed: measure(
                name,
                targets[name],
                env,
                _build,
                n=args.requests,
                concurrency=args.concurrency,
                seed=seed,
            ),
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
