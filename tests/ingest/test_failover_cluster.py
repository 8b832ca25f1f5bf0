"""Issue 11, findings 1 and 2 end to end: PostgreSQL fails over onto a read-only standby under a running houqin.

A throwaway cluster of our own (initdb into a temp folder, its own port; the machine's PostgreSQL is never
touched) serves `houqin serve --workers 2` as real processes. The failover is made the way clients see one:
`ALTER SYSTEM SET default_transaction_read_only = on` + `pg_reload_conf()`, and every existing backend
terminated, so the pooled connections die and every new transaction refuses writes (SQLSTATE 25006, "cannot
execute INSERT in a read-only transaction"). While it lasts, real signed AES messages are answered
「已收到」 and spooled and `/healthz` says degraded; once the database takes writes again every answered
message is stored exactly once by the replay — same processes, no restart.

The same on SQLite with the database file made read-only: a real read-only remount cannot be made under an
open database (the kernel refuses `remount,ro` with EBUSY while a file is open for writing), and chmod stops
neither root nor a descriptor already open. So houqin runs without CAP_DAC_OVERRIDE (`setpriv`: file modes
apply to it) and starts on a database whose file, `-wal` and `-shm` are read-only (SQLITE_READONLY, "attempt
to write a readonly database"): spooled and 「已收到」, `/healthz` degraded, then the files are made writable
and the same process stores everything once. (tests/ingest/test_spool_hardening.py does it in-process with
`PRAGMA query_only`.)
"""

from __future__ import annotations

import concurrent.futures
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from core.migrate import upgrade
from tests.bot.test_faults import PEER, ROOT, Houqin, ThrowawayPostgres, stored, stored_keys, wait_for
from tests.support.wechat_peer import text_xml

pytestmark = pytest.mark.slow

_base = random.randrange(10**6) * 10**6 + 700_000


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayPostgres]:
    with ThrowawayPostgres.running() as pg:
        yield pg


@pytest.fixture
def server(cluster: ThrowawayPostgres, tmp_path: Path) -> Iterator[tuple[Houqin, str]]:
    db_url = cluster.create_db()
    houqin = Houqin(db_url, tmp_path / "var", workers=2)
    try:
        houqin.start()  # --migrate: the schema is created on the throwaway cluster
        yield houqin, db_url
    finally:
        houqin.stop()


def _fail_over(cluster: ThrowawayPostgres, db_url: str, *, read_only: bool) -> None:
    """The primary gone, a standby in its place (read_only=True); then promoted (read_only=False)."""
    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(cluster.admin(), autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")  # this session must still write the setting
        if read_only:
            conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        else:
            conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
        conn.execute("SELECT pg_reload_conf()")
        if read_only:  # the old primary's sessions end with it: every pooled connection is dead
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
    want = "on" if read_only else "off"
    assert wait_for(lambda: _session_default(cluster) == want, timeout=10), "the reload did not take"


def _session_default(cluster: ThrowawayPostgres) -> str:
    with psycopg.connect(cluster.admin(), autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SHOW default_transaction_read_only").fetchone()
        return str(row[0]) if row else ""


def _post(client: httpx.Client, msg_id: int, sender: str) -> tuple[int, str]:
    params, body = PEER.safe(
        text_xml(f"{msg_id % 5 + 1}分 第{msg_id}条", sender=sender, msg_id=msg_id), nonce=f"f{msg_id}"
    )
    r = client.post("/wechat", params=params, content=body)
    return r.status_code, PEER.open_reply(r.content).get("Content", "") if r.status_code == 200 else ""


def test_a_failover_onto_a_read_only_standby_loses_nothing_answered(
    cluster: ThrowawayPostgres, server: tuple[Houqin, str]
) -> None:
    houqin, db_url = server
    with httpx.Client(base_url=houqin.url, timeout=5.0) as client:  # WeChat's deadline
        for i in range(4):  # before: normal answers, and pooled connections in both workers
            status, text = _post(client, _base + i, "o_before")
            assert status == 200 and "FK" in text, text
    assert stored(db_url)[0] == 4

    _fail_over(cluster, db_url, read_only=True)
    try:
        # a write really fails the way a standby refuses it
        with (
            psycopg.connect(db_url.replace("+psycopg", ""), autocommit=True) as conn,
            pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
        ):
            conn.execute("INSERT INTO inbound_message (dedupe_key) VALUES ('x')")
        status, health = houqin.health()
        assert status == 503 and health["status"] == "degraded", health
        assert health["database"].startswith("cannot write"), health

        total, senders = 40, 4
        ids = [_base + 100 + i for i in range(total)]
        answers: dict[int, tuple[int, str]] = {}
        lock = threading.Lock()

        def send(worker: int) -> None:
            with httpx.Client(base_url=houqin.url, timeout=5.0) as c:
                for i in range(worker, total, senders):
                    got = _post(c, ids[i], f"o_ro{i % 3}")
                    with lock:
                        answers[ids[i]] = got
                    if i % 8 == 0:  # WeChat retries some: the retry must not be stored twice
                        _post(c, ids[i], f"o_ro{i % 3}")

        with concurrent.futures.ThreadPoolExecutor(senders) as pool:
            list(pool.map(send, range(senders)))
        assert {s for s, _ in answers.values()} == {200}, answers
        assert all("已收到" in t for _, t in answers.values()), answers
        status, health = houqin.health()
        assert status == 503 and health["status"] == "degraded", health
        assert health["spool"]["depth"] >= total and health["spool"]["dead_letters"] == 0, health
        assert stored(db_url)[0] == 4  # nothing written on the standby
    finally:
        _fail_over(cluster, db_url, read_only=False)

    # promoted: the same processes (no restart) replay the spool; every answered message once
    expected = 4 + total
    assert wait_for(lambda: stored(db_url)[0] >= expected, timeout=60), stored(db_url)
    assert wait_for(lambda: (h := houqin.health())[0] == 200 and h[1]["spool"]["depth"] == 0, timeout=30)
    status, health = houqin.health()
    assert health["status"] == "ok" and health["spool"]["dead_letters"] == 0, health
    assert stored(db_url) == (expected, expected, expected)
    keys = stored_keys(db_url)
    assert all(keys[f"mp:m:o_ro{(i - _base - 100) % 3}:{i}"] == 1 for i in ids), keys
    with httpx.Client(base_url=houqin.url, timeout=5.0) as client:  # and back to normal answers
        status, text = _post(client, _base + 999, "o_after")
        assert status == 200 and "FK" in text, text


# --- SQLite: the database file made read-only -------------------------------------------------------------

_NO_OVERRIDE = ["--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]


class UnprivilegedHouqin(Houqin):
    """`houqin serve` without the capability to override file modes (so a read-only file stops it, as root)."""

    def start(self, *, migrate: bool = False) -> None:
        """Start (migrations are the test's) and wait until /healthz answers, 200 or 503."""
        cmd = ["setpriv", *_NO_OVERRIDE, "--", sys.executable, "-m", "server.cli", "serve", "--port",
               str(self.port), "--workers", str(self.workers), "--no-scheduler", "--no-migrate"]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, env=self.env(), cwd=ROOT, stdout=log, stderr=log, start_new_session=True
            )
        assert wait_for(
            lambda: httpx.get(self.url + "/healthz", timeout=2).status_code in (200, 503), timeout=60
        ), self.log.read_text()[-3000:]


def _sqlite_rows(path: Path) -> tuple[int, int, int]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows, keys = conn.execute(
            "SELECT count(*), count(DISTINCT dedupe_key) FROM inbound_message"
        ).fetchone()
        (feedback,) = conn.execute("SELECT count(*) FROM feedback").fetchone()
    return int(rows), int(keys), int(feedback)


def _db_files(path: Path) -> list[Path]:
    return [
        p
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
        if p.exists()
    ]


def test_a_read_only_sqlite_file_spools_and_the_same_process_recovers(tmp_path: Path) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to run houqin without CAP_DAC_OVERRIDE")
    probe = subprocess.run(["setpriv", *_NO_OVERRIDE, "--", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot drop CAP_DAC_OVERRIDE here: {probe.stderr.decode()[:200]}")
    folder = tmp_path / "db"
    folder.mkdir()
    path = folder / "houqin.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    data = tmp_path / "var"
    data.mkdir()
    for p in _db_files(path):  # the disk came back read-only: file and journal alike
        os.chmod(p, 0o444)
    houqin = UnprivilegedHouqin(url, data, workers=1)
    try:
        houqin.start()
        status, health = houqin.health()
        assert status == 503 and health["status"] == "degraded" and "not writable" in health["database"], (
            health
        )
        total = 12
        ids = [_base + 5000 + i for i in range(total)]
        with httpx.Client(base_url=houqin.url, timeout=5.0) as client:
            for i, msg_id in enumerate(ids):
                code, text = _post(client, msg_id, "o_sqlite_ro")
                assert code == 200 and "已收到" in text, (code, text, houqin.log.read_text()[-2000:])
                if i % 4 == 0:  # a WeChat retry
                    assert _post(client, msg_id, "o_sqlite_ro")[0] == 200
        status, health = houqin.health()
        assert status == 503 and health["spool"]["depth"] >= total and health["spool"]["dead_letters"] == 0, (
            health
        )
        assert _sqlite_rows(path)[0] == 0
        # All writable again (SQLite makes its -wal and -shm with the database file's mode, so an operator
        # fixes all three); the same process, no restart.
        for p in _db_files(path):
            os.chmod(p, 0o644)
        assert wait_for(lambda: _sqlite_rows(path)[0] >= total, timeout=60), (
            _sqlite_rows(path),
            houqin.health(),
        )
        assert wait_for(lambda: (h := houqin.health())[0] == 200 and h[1]["spool"]["depth"] == 0, timeout=30)
        assert houqin.health()[1]["status"] == "ok"
        assert _sqlite_rows(path) == (total, total, total)
        with httpx.Client(base_url=houqin.url, timeout=5.0) as client:
            code, text = _post(client, _base + 5999, "o_sqlite_ro")
            assert code == 200 and "FK" in text, text
    finally:
        houqin.stop()
