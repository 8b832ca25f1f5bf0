"""The database-outage spool: durable appends, in-order idempotent replay, orphans of dead processes,
dead letters, and the webhook answering while the database is down (in-process, both backends)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from bot.texts import SPOOLED_REPLY
from bot.xmlmsg import dedupe_key, to_incoming
from core.xmlsafe import parse_xml
from feedback.models import Feedback, InboundMessage
from handlers.routes import build_router
from ingest import replay as replay_mod
from ingest.delivery import Delivery, database_unavailable
from ingest.replay import Replayer, adopt_orphans, replay_own
from ingest.spool import Spool, decode, encode, status
from ingest.writer import process_batch
from server.app import create_app
from tests.support.wechat_peer import WeChatPeer, reply_text, text_xml

ROOT = Path(__file__).resolve().parents[2]


def delivery(content: str, msg_id: int, sender: str = "o_s") -> Delivery:
    xml = text_xml(content, sender=sender, msg_id=msg_id)
    data = parse_xml(xml)
    return Delivery(key=dedupe_key(data, app="mp"), incoming=to_incoming(data, app="mp"), raw_xml=xml)


def count(engine: Engine, model: Any) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def ingest_into(engine: Engine, settings: Any) -> Any:
    router = build_router()

    def ingest(deliveries: list[Delivery]) -> None:
        process_batch(engine, deliveries, router=router, settings=settings)

    return ingest


# --- lines and files --------------------------------------------------------------------------------------


def test_a_line_round_trips_any_text() -> None:
    d = delivery('多行\n文本 ]]> "引号" \\ 😀 \u2028', 7)
    line = encode(d)
    assert line.endswith(b"\n") and line.count(b"\n") == 1  # one delivery, one line
    assert decode(line) == d


def test_append_is_one_fsynced_line_per_delivery_in_a_pid_named_file(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "spool")
    assert not sp.active and sp.path is None
    for i in range(3):
        sp.append(delivery(f"{i + 1}分", 100 + i))
    assert sp.active and sp.path is not None
    assert sp.path.name.startswith(f"spool-{os.getpid()}-") and sp.path.suffix == ".jsonl"
    lines = sp.path.read_bytes().splitlines()
    assert [decode(x).incoming.msg_id for x in lines] == [100, 101, 102]
    st = status(tmp_path / "spool")
    assert (st.depth, st.files, st.dead_letters) == (3, 1, 0)
    assert st.oldest_age_s is not None and 0 <= st.oldest_age_s < 60
    sp.close()


def test_replay_stores_in_order_once_and_removes_the_file(engine, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sp = Spool(tmp_path / "spool")
    # in the order written, not by MsgId: a bare score first (its own feedback), then 反馈 opens a window
    # that the comment joins. Replayed by MsgId it would be one feedback with score and comment.
    sp.append(delivery("4", 2, "o_order"))
    sp.append(delivery("反馈", 1, "o_order"))
    sp.append(delivery("红烧肉偏咸", 3, "o_order"))
    sp.append(delivery("红烧肉偏咸", 3, "o_order"))  # WeChat retried during the outage
    path = sp.path
    assert path is not None
    assert replay_own(sp, ingest_into(engine, settings)) == 4
    assert not path.exists() and not sp.active and status(tmp_path / "spool").depth == 0
    assert count(engine, InboundMessage) == 3
    with Session(engine) as s:
        rows = sorted((fb.score or 0, fb.comment) for fb in s.execute(select(Feedback)).scalars())
    assert rows == [(0, "红烧肉偏咸"), (4, "")]
    # replaying again (a crash before the unlink) stores nothing twice
    sp.append(delivery("反馈", 1, "o_order"))
    replay_own(sp, ingest_into(engine, settings))
    assert count(engine, InboundMessage) == 3 and count(engine, Feedback) == 2
    sp.close()


def test_appends_during_replay_are_kept(engine, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sp = Spool(tmp_path / "spool")
    sp.append(delivery("1分", 1))
    real = ingest_into(engine, settings)
    calls = 0

    def ingest(ds: list[Delivery]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # a new delivery arrives while the first chunk is being stored
            sp.append(delivery("2分", 2))
        real(ds)

    assert replay_own(sp, ingest) == 2
    assert count(engine, InboundMessage) == 2 and not sp.active
    sp.close()


def test_replay_waits_while_the_database_is_down(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "spool")
    sp.append(delivery("3分", 1))

    def down(_ds: list[Delivery]) -> None:
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("unable to open database file"))

    with pytest.raises(OperationalError):
        replay_own(sp, down)
    assert sp.active and sp.path is not None and sp.path.exists()
    seen: list[int] = []
    assert replay_own(sp, lambda ds: seen.extend(d.incoming.msg_id for d in ds)) == 1
    assert seen == [1]
    sp.close()


def test_a_line_that_cannot_be_stored_is_dead_lettered_not_lost(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "spool")
    for i in range(5):
        sp.append(delivery(f"{i + 1}分", i))
    stored: list[int] = []

    def ingest(ds: list[Delivery]) -> None:
        if any(d.incoming.msg_id == 2 for d in ds):
            raise IntegrityError("INSERT", {}, Exception("a bug of ours"))
        stored.extend(d.incoming.msg_id for d in ds)

    replay_own(sp, ingest)
    assert stored == [0, 1, 3, 4] and not sp.active
    st = status(tmp_path / "spool")
    assert (st.depth, st.dead_letters) == (0, 1)
    dead = next((tmp_path / "spool").glob("dead-*.jsonl")).read_text().splitlines()
    assert decode(json.loads(dead[0])["line"].encode()).incoming.msg_id == 2
    sp.close()


# --- files of other processes -------------------------------------------------------------------------------

_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from ingest.spool import Spool
from tests.ingest.test_spool import delivery
sp = Spool(Path({dir!r}))
for i in range({n}):
    sp.append(delivery(f"{{i % 5 + 1}}分 孤儿", {base} + i, "o_orphan"))
print(sp.path, flush=True)
if {wait}:
    sys.stdin.readline()  # stays alive (holding its lock) until told
"""


def _child(directory: Path, *, n: int, base: int, wait: bool) -> subprocess.Popen[str]:
    code = _CHILD.format(root=str(ROOT), dir=str(directory), n=n, base=base, wait=wait)
    return subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )


def test_files_of_dead_processes_are_adopted_and_live_ones_left_alone(
    engine, settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    directory = tmp_path / "spool"
    dead = _child(directory, n=4, base=500, wait=False)
    dead_path = Path(dead.communicate(timeout=60)[0].strip())
    alive = _child(directory, n=3, base=600, wait=True)
    assert alive.stdout is not None
    alive_path = Path(alive.stdout.readline().strip())
    try:
        assert dead.returncode == 0 and dead_path.exists() and alive_path.exists()
        mine = Spool(directory)
        assert adopt_orphans(mine, ingest_into(engine, settings)) == 4
        assert not dead_path.exists() and alive_path.exists()  # the live owner still holds its lock
        assert count(engine, InboundMessage) == 4
    finally:
        assert alive.stdin is not None
        alive.stdin.write("\n")
        alive.stdin.flush()
        alive.wait(timeout=60)
    assert adopt_orphans(mine, ingest_into(engine, settings)) == 3
    assert not alive_path.exists() and count(engine, InboundMessage) == 7
    mine.close()


def test_a_torn_last_line_was_never_acknowledged_and_is_skipped(engine, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    directory = tmp_path / "spool"
    directory.mkdir()
    whole = encode(delivery("5分", 1)) + encode(delivery("4分", 2))
    (directory / "spool-999999-deadbeef.jsonl").write_bytes(whole + encode(delivery("3分", 3))[:40])
    assert adopt_orphans(Spool(directory), ingest_into(engine, settings)) == 2
    assert count(engine, InboundMessage) == 2 and not list(directory.glob("spool-*"))


# --- what counts as an outage --------------------------------------------------------------------------------


def test_outages_are_told_apart_from_bugs() -> None:
    def wrapped(orig: BaseException) -> OperationalError:
        return OperationalError("SELECT 1", {}, orig)

    assert database_unavailable(wrapped(sqlite3.OperationalError("unable to open database file")))
    assert database_unavailable(wrapped(sqlite3.OperationalError("database is locked")))
    assert database_unavailable(wrapped(psycopg.OperationalError("connection refused")))
    assert database_unavailable(psycopg.errors.AdminShutdown("terminating connection"))
    assert not database_unavailable(wrapped(sqlite3.OperationalError("no such column: x")))  # a bug
    assert not database_unavailable(IntegrityError("INSERT", {}, Exception("duplicate")))
    assert not database_unavailable(RuntimeError("handler bug"))


# --- the webhook with the database down and back --------------------------------------------------------------


@pytest.fixture
def switch(engine: Engine, backend: str) -> Iterator[dict[str, bool]]:
    """Make `engine` unreachable (new connections refused, pooled ones dropped) while state['down']."""
    state = {"down": False}

    @event.listens_for(engine, "do_connect")
    def _refuse(*_args: Any) -> None:
        if state["down"]:
            if backend == "sqlite":
                raise sqlite3.OperationalError("unable to open database file")
            raise psycopg.OperationalError("connection refused")

    yield state
    event.remove(engine, "do_connect", _refuse)


def post(c: TestClient, params: dict[str, str], body: bytes) -> Any:
    return c.post("/wechat", params=params, content=body)


def test_webhook_spools_while_down_and_replays_when_back(settings, engine, switch, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(replay_mod, "POLL_ACTIVE_S", 0.05)
    monkeypatch.setattr(replay_mod, "BACKOFF_MAX_S", 0.2)
    peer = WeChatPeer()
    down = switch
    with TestClient(create_app(settings, engine=engine)) as c:
        ok = reply_text(peer, post(c, *peer.safe(text_xml("5分 开门红", sender="o_w", msg_id=1))))
        assert "FK" in ok
        down["down"] = True
        engine.dispose()
        messages = [
            text_xml("反馈", sender="o_w", msg_id=2),
            text_xml("4", sender="o_w", msg_id=3),
            text_xml("红烧肉偏咸", sender="o_w", msg_id=4),
            text_xml("2分 汤凉了", sender="o_x", msg_id=5),
        ]
        for xml in [*messages, messages[3]]:  # the last one twice: WeChat's retry
            r = post(c, *peer.safe(xml))
            assert r.status_code == 200 and reply_text(peer, r) == SPOOLED_REPLY
        health = c.get("/healthz")
        assert health.status_code == 503
        assert health.json()["spool"]["depth"] == 5 and health.json()["spool"]["oldest_age_s"] is not None
        assert count_when_up(engine, down) == 1
        down["down"] = False
        deadline = time.time() + 30
        while c.get("/healthz").json()["spool"]["depth"] and time.time() < deadline:
            time.sleep(0.05)
        health = c.get("/healthz")
        assert health.status_code == 200 and health.json()["spool"]["depth"] == 0
        after = reply_text(peer, post(c, *peer.safe(text_xml("4分 恢复了", sender="o_y", msg_id=6))))
        assert "FK" in after
    assert count(engine, InboundMessage) == 6
    with Session(engine) as s:
        rows = sorted((fb.score or 0, fb.comment) for fb in s.execute(select(Feedback)).scalars())
    # 反馈, 4, 红烧肉偏咸 in that order: one feedback with the score and the comment
    assert rows == [(2, "汤凉了"), (4, "恢复了"), (4, "红烧肉偏咸"), (5, "开门红")]
    assert not list((settings.data_dir / "spool").glob("spool-*"))


def count_when_up(engine: Engine, down: dict[str, bool]) -> int:
    """Count stored messages by peeking with the switch briefly up (the app's replayer may race us: it
    can only store what was spooled, which is what the test checks afterwards anyway)."""
    down["down"] = False
    try:
        return count(engine, InboundMessage)
    finally:
        down["down"] = True
        engine.dispose()


def test_replayer_thread_adopts_leftovers_at_start_up(engine, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    directory = settings.data_dir / "spool"
    dead = _child(directory, n=5, base=700, wait=False)
    dead.communicate(timeout=60)
    with TestClient(create_app(settings, engine=engine)) as c:
        deadline = time.time() + 20
        while count(engine, InboundMessage) < 5 and time.time() < deadline:
            time.sleep(0.05)
        assert c.get("/healthz").json()["spool"]["depth"] == 0
    assert count(engine, InboundMessage) == 5


def test_replayer_run_once_raises_while_down(engine, settings, switch) -> None:  # type: ignore[no-untyped-def]
    sp = Spool(settings.data_dir / "spool")
    sp.append(delivery("5分", 900))
    rp = Replayer(sp, ingest_into(engine, settings))
    switch["down"] = True
    engine.dispose()
    with pytest.raises(OperationalError):
        rp.run_once()
    switch["down"] = False
    assert rp.run_once() == 1 and count(engine, InboundMessage) == 1
    sp.close()
