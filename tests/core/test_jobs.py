"""JobRun claims: a `(job, period)` runs once, across processes; failed and stale runs are taken over."""

from __future__ import annotations

import json
import multiprocessing
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import Session

from core.clock import utcnow
from core.db import make_engine
from core.jobs import claim, finish, recent_runs, run_claimed, status_of
from core.models import JobRun

PROCESSES = 6


def _row(engine: Engine, job: str, period: str) -> JobRun:
    with Session(engine) as s:
        return s.execute(select(JobRun).where(JobRun.job == job, JobRun.period == period)).scalar_one()


def _age(engine: Engine, run_id: int, hours: float) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(JobRun).where(JobRun.id == run_id).values(started_at=utcnow() - timedelta(hours=hours))  # type: ignore[arg-type]
        )


def test_a_period_is_claimed_once_and_not_again_after_success(engine: Engine) -> None:
    run_id = claim(engine, job="compile", period="2026-10")
    assert run_id is not None
    assert claim(engine, job="compile", period="2026-10") is None  # still running
    assert claim(engine, job="compile", period="2026-09") is not None  # another period
    assert claim(engine, job="fixity", period="2026-10") is not None  # another job
    finish(engine, run_id=run_id, counts={"volumes": 2})
    assert claim(engine, job="compile", period="2026-10") is None
    row = _row(engine, "compile", "2026-10")
    assert row.status == "succeeded" and json.loads(row.counts) == {"volumes": 2}
    assert row.finished_at is not None and row.finished_at >= row.started_at and row.error is None


def test_a_failed_run_is_reclaimed_with_the_same_row(engine: Engine) -> None:
    run_id = claim(engine, job="compile", period="2026-10")
    assert run_id is not None
    finish(engine, run_id=run_id, counts={}, error="OSError: disk full")
    assert status_of(engine, job="compile", period="2026-10") == "failed"
    again = claim(engine, job="compile", period="2026-10")
    assert again == run_id
    row = _row(engine, "compile", "2026-10")
    assert (row.status, row.error, row.finished_at) == ("running", None, None)
    assert claim(engine, job="compile", period="2026-10") is None


def test_a_stale_running_claim_is_taken_over_and_a_fresh_one_is_not(engine: Engine) -> None:
    run_id = claim(engine, job="compile", period="2026-10")
    assert run_id is not None
    _age(engine, run_id, hours=5)
    assert claim(engine, job="compile", period="2026-10") is None  # 5 h: maybe still compiling
    _age(engine, run_id, hours=7)
    assert claim(engine, job="compile", period="2026-10") == run_id  # 7 h: its process died
    assert claim(engine, job="compile", period="2026-10", stale_after=timedelta(hours=1)) is None
    assert (
        claim(
            engine,
            job="compile",
            period="2026-10",
            stale_after=timedelta(0),
            now=utcnow() + timedelta(seconds=1),
        )
        == run_id
    )


def _claim_in_process(db_url: str, job: str, period: str, barrier: Any, results: Any) -> None:
    engine = make_engine(db_url)
    try:
        with engine.connect():
            pass  # connect before the start line, so the race is about the claim only
        barrier.wait(timeout=60)
        results.put(claim(engine, job=job, period=period))
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("prior", ["none", "failed", "stale"])
def test_claim_is_exactly_once_across_processes(db_url: str, engine: Engine, prior: str) -> None:
    if prior != "none":
        run_id = claim(engine, job="compile", period="2026-10")
        assert run_id is not None
        if prior == "failed":
            finish(engine, run_id=run_id, counts={}, error="boom")
        else:
            _age(engine, run_id, hours=24)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_claim_in_process, args=(db_url, "compile", "2026-10", barrier, results))
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    winners = [r for r in got if r is not None]
    assert len(winners) == 1, got
    with Session(engine) as s:
        rows = s.execute(select(JobRun).where(JobRun.job == "compile")).scalars().all()
    assert [(r.id, r.status) for r in rows] == [(winners[0], "running")]


def test_run_claimed_records_counts_and_turns_errors_into_a_failed_outcome(engine: Engine) -> None:
    calls: list[str] = []

    def broken() -> dict[str, int]:
        calls.append("broken")
        raise RuntimeError("no space left on device")

    failed = run_claimed(engine, job="compile", period="2026-10", fn=broken)
    assert failed.status == "failed" and failed.ran and failed.run_id is not None
    assert failed.error == "RuntimeError: no space left on device"
    row = _row(engine, "compile", "2026-10")
    assert row.status == "failed" and row.error == failed.error and row.finished_at is not None

    def works() -> dict[str, int]:
        calls.append("works")
        return {"volumes": 3, "items": 120}

    ok = run_claimed(engine, job="compile", period="2026-10", fn=works)
    assert (ok.status, ok.run_id, ok.counts) == ("succeeded", failed.run_id, {"volumes": 3, "items": 120})
    again = run_claimed(engine, job="compile", period="2026-10", fn=works)
    assert again.status == "skipped" and not again.ran
    assert calls == ["broken", "works"]
    row = _row(engine, "compile", "2026-10")
    assert row.status == "succeeded" and row.error is None
    assert json.loads(row.counts) == {"items": 120, "volumes": 3}


def test_recent_runs_are_newest_first_and_limited(engine: Engine) -> None:
    for month in ("2026-08", "2026-09", "2026-10"):
        run_claimed(engine, job="compile", period=month, fn=lambda: {"volumes": 1})
    runs = recent_runs(engine, limit=2)
    assert [r.period for r in runs] == ["2026-10", "2026-09"]
    assert all(r.status == "succeeded" for r in runs)
