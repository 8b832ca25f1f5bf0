"""Cross-process locks: PostgreSQL advisory locks, file locks beside SQLite; processes and threads exclude each other."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from core.db import make_engine
from core.locks import exclusive, lock_path
from core.settings import Settings
from tests.conftest import make_settings


def _try_in_process(db_url: str, data_dir: str, name: str) -> bool:
    engine = make_engine(db_url)
    try:
        with exclusive(engine, name=name, settings=make_settings(db_url, Path(data_dir)), wait=False) as held:
            return held
    finally:
        engine.dispose()


def _wait_in_process(db_url: str, data_dir: str, name: str, waiting: Any, out: Any) -> None:
    engine = make_engine(db_url)
    try:
        settings = make_settings(db_url, Path(data_dir))
        with exclusive(engine, name=name, settings=settings, wait=True, on_wait=waiting.set) as held:
            out.put((held, time.time()))
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_second_process_cannot_take_a_held_lock_until_it_is_released(
    db_url: str, engine: Engine, settings: Settings
) -> None:
    data_dir = str(settings.data_dir)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as other:
        with exclusive(engine, name="compile", settings=settings, wait=False) as held:
            assert held is True
            assert other.submit(_try_in_process, db_url, data_dir, "compile").result(timeout=120) is False
            # another name is another lock
            assert other.submit(_try_in_process, db_url, data_dir, "scheduler").result(timeout=60) is True
        assert other.submit(_try_in_process, db_url, data_dir, "compile").result(timeout=60) is True
        # and the lock is not left behind by the other process either
        with exclusive(engine, name="compile", settings=settings, wait=False) as held:
            assert held is True


@pytest.mark.slow
def test_a_waiting_process_gets_the_lock_right_after_release(
    db_url: str, engine: Engine, settings: Settings
) -> None:
    ctx = multiprocessing.get_context("spawn")
    waiting, out = ctx.Event(), ctx.Queue()
    with exclusive(engine, name="compile", settings=settings) as held:
        assert held is True
        proc = ctx.Process(
            target=_wait_in_process, args=(db_url, str(settings.data_dir), "compile", waiting, out)
        )
        proc.start()
        assert waiting.wait(timeout=120), "the other process never found the lock busy"
        assert out.empty()
        released_at = time.time()
    got, acquired_at = out.get(timeout=30)
    proc.join(timeout=30)
    assert proc.exitcode == 0
    assert got is True and acquired_at >= released_at


def test_threads_exclude_each_other_and_a_cancelled_wait_gives_up(engine: Engine, settings: Settings) -> None:
    cancel = threading.Event()
    outcome: list[bool] = []
    waited = threading.Event()

    def contender() -> None:
        with exclusive(
            engine, name="scheduler", settings=settings, on_wait=waited.set, cancel=cancel, poll=0.02
        ) as held:
            outcome.append(held)

    with exclusive(engine, name="scheduler", settings=settings) as held:
        assert held is True
        t = threading.Thread(target=contender)
        t.start()
        assert waited.wait(timeout=10)
        cancel.set()
        t.join(timeout=10)
    assert outcome == [False]

    # polling waits still get the lock once it is free
    cancel.clear()
    outcome.clear()
    with exclusive(engine, name="scheduler", settings=settings):
        t = threading.Thread(target=contender)
        t.start()
        assert waited.wait(timeout=10)
    t.join(timeout=10)
    assert outcome == [True]


def test_the_lock_is_released_when_the_block_raises(engine: Engine, settings: Settings) -> None:
    with pytest.raises(RuntimeError), exclusive(engine, name="compile", settings=settings):
        raise RuntimeError("compile failed")
    with exclusive(engine, name="compile", settings=settings, wait=False) as held:
        assert held is True


def test_lock_files_stay_inside_the_locks_folder(tmp_path: Path) -> None:
    settings = make_settings("sqlite:///x.db", tmp_path)
    assert lock_path(settings, "scheduler") == tmp_path / "locks" / "scheduler.lock"
    odd = lock_path(settings, "../J001-WS·2026-D10-CYF-0003")
    assert odd.parent == tmp_path / "locks" and odd.name.startswith("J001-WS_2026-D10-CYF-0003-")
    assert lock_path(settings, "a/b") != lock_path(settings, "a_b")
