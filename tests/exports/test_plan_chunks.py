"""The plan in short transactions (issue 11): a volume's feedback is bound chunk by chunk, a concurrent writer
gets the database between chunks, a kill -9 between chunks is finished by the next run exactly once, and a
planned feedback reopened before its chunk is left out with the volume's count and dates following."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, func, select, update
from sqlmodel import Session, col

from core.db import make_engine, read_unit, unit_of_work
from core.models import JobRun
from exports import plan as exports_plan
from exports.models import Volume, VolumeItem, VolumePlan, VolumeStatus
from exports.plan import create, finish
from exports.seal import build_and_seal, compile_locked
from feedback.models import Action, Feedback, FeedbackEvent
from tests.conftest import make_settings
from tests.exports.test_compile import _clone, _summary
from tests.support.volume_data import fill_period


def _progress(s: Session) -> tuple[int, int]:
    """(items, archived events) the session sees, in one statement (one snapshot on PostgreSQL too)."""
    items = select(func.count()).select_from(VolumeItem).scalar_subquery()
    events = (
        select(func.count())
        .select_from(FeedbackEvent)
        .where(col(FeedbackEvent.action) == Action.archived)
        .scalar_subquery()
    )
    got = s.execute(select(items, events)).one()
    return int(got[0]), int(got[1])


def _counts(engine: Engine) -> tuple[int, int]:
    """(items, archived events) as committed now."""
    with read_unit(engine) as s:
        return _progress(s)


def _assert_bound_once(url: str, *, closed: int) -> None:
    """Every closed feedback in exactly one item of a sealed volume, 条目序号 1..n in each, one archived event
    each, no plan left."""
    eng = make_engine(url)
    try:
        with Session(eng) as s:
            vols = s.execute(select(Volume).order_by(col(Volume.id))).scalars().all()
            assert vols and all(v.status == VolumeStatus.sealed for v in vols)
            for v in vols:
                seqs = s.execute(
                    select(col(VolumeItem.seq))
                    .where(col(VolumeItem.volume_id) == v.id)
                    .order_by(col(VolumeItem.seq))
                ).scalars()
                assert list(seqs) == list(range(1, v.item_count + 1))
            items = s.execute(select(col(VolumeItem.feedback_id), col(VolumeItem.volume_id))).all()
            assert len(items) == len({f for f, _v in items}) == closed == sum(v.item_count for v in vols)
            bound = dict(s.execute(select(col(Feedback.id), col(Feedback.volume_id))).all())
            assert all(bound[f] == v for f, v in items)  # each item's feedback bound to that very volume
            archived = s.execute(
                select(col(FeedbackEvent.feedback_id)).where(col(FeedbackEvent.action) == Action.archived)
            ).scalars()
            assert sorted(archived) == sorted(f for f, _v in items)  # one archived event per item
            assert s.execute(select(func.count()).select_from(VolumePlan)).scalar_one() == 0
    finally:
        eng.dispose()


def test_the_plan_binds_in_chunks_and_a_writer_gets_the_database_between_them(  # type: ignore[no-untyped-def]
    engine, db_url, tmp_path, monkeypatch
) -> None:
    fill_period(engine, n=600)
    settings = make_settings(db_url, tmp_path / "var", volume_max_items=600)
    monkeypatch.setattr(exports_plan, "YIELD_S", (0.05, 0.2))  # a gap a polling writer cannot miss
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def writer() -> None:  # short write transactions throughout, each noting the plan's progress it sees
        n = 0
        while not stop.is_set():
            with unit_of_work(engine) as s:
                s.add(JobRun(job="probe", period=f"p{n}", status="done"))
                s.flush()
                seen.append(_progress(s))
            n += 1
            time.sleep(0.005)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        ids, open_count = exports_plan.plan(
            engine, settings=settings, period="2026-10", channel="canteen", compiler="tester", chunk=100
        )
    finally:
        stop.set()
        thread.join()
    assert len(ids) == 1 and open_count == 0
    partial = {items for items, _events in seen if 0 < items < 600}
    assert partial, seen  # the writer committed while the plan was under way
    # each chunk is one transaction: a writer only ever sees whole chunks, items and events together
    assert all(items % 100 == 0 and items == events for items, events in seen), sorted(set(seen))
    assert _counts(engine) == (600, 600)
    with read_unit(engine) as s:
        assert s.get(VolumePlan, ids[0]) is None
        vol = s.get(Volume, ids[0])
        assert vol is not None and vol.status == VolumeStatus.building and vol.item_count == 600


def test_finish_leaves_out_a_planned_feedback_reopened_before_its_chunk(engine, db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ids = fill_period(engine, n=40)
    settings = make_settings(db_url, tmp_path / "var", volume_max_items=40)
    (volume_id,), _open = create(engine, settings=settings, period="2026-10", channel="canteen", compiler="t")
    with read_unit(engine) as s:
        vol = s.get(Volume, volume_id)
        assert vol is not None and vol.item_count == 40
        planned_last = vol.date_to
    assert _counts(engine) == (0, 0)  # planned, nothing bound yet
    last = ids[-1]  # the latest service date of the period: the volume's dates must follow
    with unit_of_work(engine) as s:
        s.execute(update(Feedback).where(col(Feedback.id) == last).values(status="rectifying"))
    assert finish(engine, volume_id=volume_id, chunk=15) == 3
    assert finish(engine, volume_id=volume_id, chunk=15) == 0  # finished: nothing more to do
    with read_unit(engine) as s:
        vol = s.get(Volume, volume_id)
        assert vol is not None and vol.item_count == 39
        last_date = s.execute(
            select(func.max(col(Feedback.service_date))).where(col(Feedback.volume_id) == volume_id)
        ).scalar_one()
        assert vol.date_to == last_date and last_date <= planned_last
        reopened = s.get(Feedback, last)
        assert reopened is not None and reopened.volume_id is None
        code_planned = vol.archival_code
    code = build_and_seal(engine, settings=settings, volume_id=volume_id)  # the 归档 checks pass
    _assert_bound_once(db_url, closed=39)
    assert code == code_planned


# Compiles the period in chunks of 100, waiting `pause` seconds after each chunk of the volume of part
# `pause_part` (0: none): killed in such a pause, it dies between two chunks' transactions.
CHUNKED_SCRIPT = """
import sys
from pathlib import Path
from core.db import make_engine, read_unit
from exports import plan, seal
from exports.models import Volume
from tests.conftest import make_settings
url, data, size, pause, pause_part = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
finish = plan.finish
def paused(engine, *, volume_id, chunk=100):
    with read_unit(engine) as s:
        part = s.get(Volume, volume_id).part
    plan.YIELD_S = (pause, pause) if part == pause_part else (0.0, 0.0)
    plan.YIELD_ON = ("sqlite", "postgresql")  # hold the plan open between chunks on both databases
    return finish(engine, volume_id=volume_id, chunk=100)
plan.finish = seal.finish = paused
settings = make_settings(url, Path(data), volume_max_items=size)
seal.compile_locked(make_engine(url), settings=settings, period="2026-10")
"""


def _plan_state(url: str) -> list[tuple[int, int]]:
    eng = make_engine(url)
    try:
        with read_unit(eng) as s:
            return [
                tuple(r)
                for r in s.execute(
                    select(col(VolumePlan.volume_id), col(VolumePlan.taken)).order_by(
                        col(VolumePlan.volume_id)
                    )
                ).all()
            ]
    finally:
        eng.dispose()


def test_kill_9_between_plan_chunks_then_rerun_equals_an_uninterrupted_run(engine, db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fill_period(engine, n=500, closed=480)
    engine.dispose()
    reference_url = _clone(db_url, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    args = [sys.executable, "-c", CHUNKED_SCRIPT]
    subprocess.run([*args, reference_url, str(tmp_path / "ref"), "250", "0", "0"], check=True, env=env)
    expected = _summary(reference_url)
    assert [count for _code, count, *_rest in expected] == [250, 230]
    data = str(tmp_path / "crash")
    # killed twice while a plan pauses between chunks: in the first volume's plan (the run that created both
    # volumes), then, resumed, in the second's (the first is sealed by then)
    for volume, taken in ((0, 100), (1, 100)):
        proc = subprocess.Popen([*args, db_url, data, "250", "60", str(volume + 1)], env=env)
        deadline = time.monotonic() + 120
        state: list[tuple[int, int]] = []
        while time.monotonic() < deadline and proc.poll() is None:
            state = _plan_state(db_url)
            if len(state) == 2 - volume and state[0][1] >= taken:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the compile ended before it was killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = _plan_state(db_url)
        # killed between two chunks: the plan unfinished, its cursor on a chunk boundary (the next chunk may
        # have committed between the look and the kill)
        assert len(state) == 2 - volume and state[0][1] >= taken and state[0][1] % taken == 0, state
        summary = _summary(db_url)
        assert [s[-1] for s in summary] == ["sealed"] * volume + ["building"] * (2 - volume)
    subprocess.run([*args, db_url, data, "250", "0", "0"], check=True, env=env)
    assert _summary(db_url) == expected  # the same numbers, items and content digests
    _assert_bound_once(db_url, closed=480)
    eng = make_engine(db_url)
    try:
        settings = make_settings(db_url, tmp_path / "crash")
        assert compile_locked(eng, settings=settings, period="2026-10").volumes == []  # nothing left to do
    finally:
        eng.dispose()
