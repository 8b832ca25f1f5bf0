"""Issue 11, the outage spool: nothing acknowledged is lost. A database that comes back refusing writes
(SQLite read-only, PostgreSQL 25006 after a failover onto a standby) is an outage, not a bug; a line is
written whole or not at all; torn tails and unreadable entries are set aside; dead letters replay."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select

from bot.xmlmsg import dedupe_key, to_incoming
from core.db import read_unit
from core.xmlsafe import parse_xml
from feedback.models import InboundMessage
from handlers.routes import build_router
from ingest import spool as spool_mod
from ingest.delivery import Delivery, Result
from ingest.replay import Replayer, adopt_orphans, replay_dead, replay_own
from ingest.spool import Spool, decode, encode, status
from ingest.writer import process_batch
from server.app import create_app
from tests.conftest import PG_ADMIN
from tests.support.wechat_peer import WeChatPeer, text_xml


@pytest.fixture
def peer() -> WeChatPeer:
    return WeChatPeer()


def delivery(content: str, msg_id: int, sender: str = "o_h") -> Delivery:
    xml = text_xml(content, sender=sender, msg_id=msg_id)
    data = parse_xml(xml)
    return Delivery(key=dedupe_key(data, app="mp"), incoming=to_incoming(data, app="mp"), raw_xml=xml)


def stored(engine: Engine) -> int:
    with read_unit(engine) as s:  # a read takes no write lock: it works on a read-only database too
        return int(s.execute(select(func.count()).select_from(InboundMessage)).scalar_one())


def ingest_into(engine: Engine, settings: Any) -> Any:
    router = build_router()

    def ingest(deliveries: list[Delivery]) -> list[Result]:
        return process_batch(engine, deliveries, router=router, settings=settings)

    return ingest


class ReadOnly:
    """Makes every new connection of a SQLite engine refuse writes (`PRAGMA query_only`, which answers
    SQLITE_READONLY "attempt to write a readonly database" — chmod does not stop root)."""

    def __init__(self, engine: Engine) -> None:
        self.on = False
        event.listen(engine, "connect", self._connect)

    def _connect(self, dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA query_only={'ON' if self.on else 'OFF'}")
        cur.close()


def _read_only(engine: Engine, on: bool, ro: ReadOnly | None) -> None:
    if engine.dialect.name == "sqlite":
        assert ro is not None
        ro.on = on
        if on:
            engine.dispose()  # the "remount": connections opened from now on cannot write
        return
    # a failover onto a standby, as the server sees it: every transaction is read-only (SQLSTATE 25006)
    name = engine.url.database
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        value = "on" if on else "off"
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {value}')
    if on:
        engine.dispose()


def _passes(replayer: Replayer, tries: int = 10) -> int:
    from ingest.delivery import database_unavailable

    for _ in range(tries):
        try:
            return replayer.run_once()
        except Exception as exc:
            if not database_unavailable(exc):
                raise
    raise AssertionError("the replayer did not recover")


def test_a_replay_onto_a_read_only_database_keeps_every_line_and_recovers_without_restart(  # type: ignore[no-untyped-def]
    engine, settings
) -> None:
    ro = ReadOnly(engine) if engine.dialect.name == "sqlite" else None
    spool = Spool(settings.data_dir / "spool")
    for i in range(5):
        spool.append(delivery(f"{i % 5 + 1}分 第{i}条", 9100 + i))
    replayer = Replayer(spool, ingest_into(engine, settings))
    _read_only(engine, True, ro)
    try:
        with pytest.raises(Exception) as caught:
            replayer.run_once()
        from ingest.delivery import database_unavailable

        assert database_unavailable(caught.value), caught.value  # an outage: wait it out
        st = status(spool.directory)
        assert (st.depth, st.dead_letters, stored(engine)) == (5, 0, 0)  # nothing deleted, nothing dead
    finally:
        _read_only(engine, False, ro)
    # the database takes writes again: the same engine (no restart) stores all five, within the few
    # passes the replayer thread makes (each failed pass drops the read-only connection it used)
    assert _passes(replayer) == 5
    assert stored(engine) == 5 and status(spool.directory).depth == 0
    spool.close()


def test_a_read_only_database_is_an_outage_at_the_webhook_and_healthz_says_so(  # type: ignore[no-untyped-def]
    engine, settings, peer
) -> None:
    ro = ReadOnly(engine) if engine.dialect.name == "sqlite" else None
    app = create_app(settings, engine=engine)
    with TestClient(app) as client:
        _read_only(engine, True, ro)
        try:
            params, body = peer.safe(text_xml("2分 汤太咸", sender="o_ro", msg_id=9200))
            r = client.post("/wechat", params=params, content=body)
            assert r.status_code == 200 and "已收到" in peer.open_reply(r.content)["Content"]
            health = client.get("/healthz")
            if engine.dialect.name == "postgresql":
                assert health.status_code == 503 and "cannot write" in health.json()["database"]
            assert health.json()["spool"]["depth"] == 1 and health.json()["spool"]["dead_letters"] == 0
        finally:
            _read_only(engine, False, ro)
        assert _passes(app.state.intake.replayer) == 1
        assert stored(engine) == 1
        assert client.get("/healthz").json()["status"] == "ok"


def test_healthz_is_degraded_while_dead_letters_wait(engine, settings) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings, engine=engine)
    with TestClient(app) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        Spool(settings.data_dir / "spool").dead_letter(b"{torn", "test")
        body = client.get("/healthz").json()
    assert body["status"] == "degraded" and body["spool"]["dead_letters"] == 1


def test_a_short_write_on_a_full_disk_leaves_no_torn_line(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    spool = Spool(tmp_path / "spool")
    spool.append(delivery("5分 好", 9300))
    assert spool.path is not None
    size = spool.path.stat().st_size
    real = os.write
    calls = {"n": 0}

    def full_disk(fd: int, data: bytes) -> int:  # 57 bytes, then ENOSPC: what a full disk did
        calls["n"] += 1
        if calls["n"] == 1:
            return real(fd, data[:57])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool_mod.os, "write", full_disk)
    with pytest.raises(OSError):
        spool.append(delivery("1分 很差", 9301))
    monkeypatch.setattr(spool_mod.os, "write", real)
    assert spool.path.stat().st_size == size  # cut back: the torn part is gone
    spool.append(delivery("3分 一般", 9302))
    lines = spool.path.read_bytes().splitlines()
    assert [decode(x).incoming.msg_id for x in lines] == [9300, 9302]
    spool.close()


def test_short_writes_are_looped_until_the_line_is_whole(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    spool = Spool(tmp_path / "spool")
    real = os.write
    monkeypatch.setattr(spool_mod.os, "write", lambda fd, data: real(fd, data[:10]))
    spool.append(delivery("4分 不错，" * 20, 9310))
    monkeypatch.setattr(spool_mod.os, "write", real)
    assert spool.path is not None
    assert decode(spool.path.read_bytes()).incoming.content.startswith("4分 不错")
    spool.close()


def test_the_webhook_answers_503_when_the_spool_cannot_be_written(
    engine, settings, peer, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    ro = ReadOnly(engine) if engine.dialect.name == "sqlite" else None
    app = create_app(settings, engine=engine)
    with TestClient(app) as client:
        _read_only(engine, True, ro)
        try:
            real = os.write
            monkeypatch.setattr(spool_mod.os, "write", lambda fd, data: real(fd, data[:57]) and 0)
            params, body = peer.safe(text_xml("2分 汤太咸", sender="o_full", msg_id=9320))
            assert client.post("/wechat", params=params, content=body).status_code == 503
            monkeypatch.setattr(spool_mod.os, "write", real)
            assert status(settings.data_dir / "spool").depth == 0  # nothing half-written
        finally:
            _read_only(engine, False, ro)


def test_a_not_storable_replay_is_a_dead_letter_not_a_deletion(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spool = Spool(tmp_path / "spool")
    spool.append(delivery("5分 好", 9400))
    spool.append(delivery("4分 好", 9401))

    def ingest(deliveries: list[Delivery]) -> list[Result]:
        return [Result(reply="", stored=d.incoming.msg_id != 9401) for d in deliveries]

    assert replay_own(spool, ingest) == 2
    st = status(spool.directory)
    assert (st.depth, st.dead_letters) == (0, 1)
    dead = next(spool.directory.glob("dead-*.jsonl")).read_text()
    assert "9401" in dead and "not storable" in dead
    spool.close()


def test_torn_tails_and_unreadable_entries_are_set_aside_and_block_nothing(engine, settings) -> None:  # type: ignore[no-untyped-def]
    folder = settings.data_dir / "spool"
    folder.mkdir(parents=True)
    (folder / "spool-1-aaaa.jsonl").mkdir()  # an entry that cannot be opened as a file
    good = encode(delivery("5分 好", 9500))
    (folder / "spool-2-bbbb.jsonl").write_bytes(good + encode(delivery("1分 差", 9501))[:40])
    (folder / "spool-3-cccc.jsonl").write_bytes(encode(delivery("4分 好", 9502)))
    assert status(folder).dead_letters == 1  # counted, not a 500
    spool = Spool(folder)
    assert adopt_orphans(spool, ingest_into(engine, settings)) == 2  # both later files adopted
    assert stored(engine) == 2
    names = sorted(p.name for p in folder.iterdir())
    assert "unreadable-spool-1-aaaa.jsonl" in names and not [n for n in names if n.startswith("spool-")]
    dead = [json.loads(x) for p in folder.glob("dead-*.jsonl") for x in p.read_text().splitlines()]
    assert len(dead) == 1 and "torn" in dead[0]["reason"]
    assert status(folder).dead_letters == 2  # the torn tail and the set-aside entry, for a person
    spool.close()


def test_replay_dead_stores_what_can_be_stored_and_keeps_the_rest(engine, settings) -> None:  # type: ignore[no-untyped-def]
    folder = settings.data_dir / "spool"
    spool = Spool(folder)
    spool.dead_letter(encode(delivery("5分 好", 9600)).rstrip(b"\n"), "was a bug, fixed now")
    spool.dead_letter(b'{"v":1,"key":"mp:m:o', "torn")
    assert replay_dead(folder, ingest_into(engine, settings)) == (1, 1)
    assert stored(engine) == 1 and status(folder).dead_letters == 1
    assert replay_dead(folder, ingest_into(engine, settings)) == (0, 1)  # idempotent, the torn one kept
    spool.close()


def test_spool_cli_status_and_replay_dead(engine, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from core.settings import get_settings
    from server.cli import app

    monkeypatch.setenv("HOUQIN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HOUQIN_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()  # the CLI reads the environment through this cached function
    Spool(Path(settings.data_dir) / "spool").dead_letter(encode(delivery("5分 好", 9700)).rstrip(b"\n"), "x")
    runner = CliRunner()
    first = runner.invoke(app, ["spool", "status"])
    assert first.exit_code == 1 and "dead letters: 1" in first.output, first.output
    replay = runner.invoke(app, ["spool", "replay-dead"])
    assert replay.exit_code == 0 and "stored: 1" in replay.output, replay.output
    assert runner.invoke(app, ["spool", "status"]).exit_code == 0
    assert stored(engine) == 1
    get_settings.cache_clear()
