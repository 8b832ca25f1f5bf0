"""The scheduler: periods, crontab weekdays, claim-guarded job runs, catch-up, one scheduler at a time, `houqin jobs`."""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session
from typer.testing import CliRunner

from core.jobs import RunOutcome, claim, finish
from core.models import JobRun
from core.settings import ConfigError, Settings, get_settings
from server.cli import app as cli
from server.scheduler import (
    CRON_MISFIRE_GRACE_S,
    RETRY_INTERVAL_S,
    build_scheduler,
    catch_up,
    cron_trigger,
    iso_week,
    previous_month,
    recent_months,
    retry_failed_tick,
    run_scheduler,
    start_in_thread,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 24)  # a Tuesday in ISO week 48


class FakeJobs:
    """Job bodies that record what they were asked to do (and can be told to fail a period)."""

    def __init__(self, *, fail: set[str] | None = None) -> None:
        self.compiled: list[str] = []
        self.audited: list[str] = []
        self.fail = fail or set()
        self.drains = 0
        self.lock = threading.Lock()

    def compile(self, engine: Engine, *, settings: Settings, period: str) -> dict[str, Any]:
        with self.lock:
            self.compiled.append(period)
        if period in self.fail:
            raise OSError(f"cannot write the {period} workbook")
        return {"volumes": 2, "items": 57}

    def fixity(self, engine: Engine, *, settings: Settings, period: str) -> dict[str, Any]:
        with self.lock:
            self.audited.append(period)
        return {"bags": 4, "bad": 0}

    def drain(self, engine: Engine, *, settings: Settings) -> None:
        with self.lock:
            self.drains += 1

    def table(self) -> dict[str, Any]:
        return {"compile": self.compile, "fixity": self.fixity, "outbox": self.drain}


def runs(engine: Engine) -> list[tuple[str, str, str, dict[str, Any]]]:
    with Session(engine) as s:
        rows = s.execute(select(JobRun).order_by(JobRun.job, JobRun.period)).scalars().all()  # type: ignore[arg-type]
    return [(r.job, r.period, r.status, json.loads(r.counts)) for r in rows]


def succeed(engine: Engine, job: str, period: str) -> None:
    run_id = claim(engine, job=job, period=period)
    assert run_id is not None
    finish(engine, run_id=run_id, counts={"volumes": 1})


# --- periods and cron -------------------------------------------------------------------------------


def test_periods() -> None:
    assert previous_month(date(2026, 1, 1)) == "2025-12"
    assert previous_month(TODAY) == "2026-10"
    assert recent_months(date(2026, 2, 28), 3) == ["2025-11", "2025-12", "2026-01"]
    assert iso_week(TODAY) == "2026-W48"
    assert iso_week(date(2027, 1, 1)) == "2026-W53"  # ISO years do not start on 1 January
    assert iso_week(date(2026, 1, 5)) == "2026-W02"


def test_crontab_weekdays_count_from_sunday() -> None:
    monday_noon = datetime(2026, 11, 23, 12, 0, tzinfo=SHANGHAI)
    fixity = cron_trigger("0 3 * * 0", tz=SHANGHAI)
    assert fixity.get_next_fire_time(None, monday_noon) == datetime(
        2026, 11, 29, 3, 0, tzinfo=SHANGHAI
    )  # Sunday
    assert cron_trigger("0 3 * * 7", tz=SHANGHAI).get_next_fire_time(None, monday_noon) == datetime(
        2026, 11, 29, 3, 0, tzinfo=SHANGHAI
    )
    weekdays = cron_trigger("30 8 * * 1-5", tz=SHANGHAI)
    friday_noon = datetime(2026, 11, 27, 12, 0, tzinfo=SHANGHAI)
    assert weekdays.get_next_fire_time(None, friday_noon) == datetime(2026, 11, 30, 8, 30, tzinfo=SHANGHAI)
    compile_ = cron_trigger("0 2 1 * *", tz=SHANGHAI)
    assert compile_.get_next_fire_time(None, monday_noon) == datetime(2026, 12, 1, 2, 0, tzinfo=SHANGHAI)
    for bad in ("0 2 1 *", "0 3 * * 9", "nonsense 2 1 * *"):
        with pytest.raises(ConfigError):
            cron_trigger(bad, tz=SHANGHAI, setting="HOUQIN_FIXITY_CRON")


# --- job runs ---------------------------------------------------------------------------------------


def test_the_scheduled_jobs_record_claimed_runs_with_counts(engine: Engine, settings: Settings) -> None:
    fakes = FakeJobs()
    scheduler = build_scheduler(engine, settings, jobs=fakes.table())
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"compile", "fixity", "outbox", "media", "digest", "retry", "escalate"}
    assert jobs["retry"].trigger.interval.total_seconds() == RETRY_INTERVAL_S
    for name in ("compile", "fixity"):
        job = jobs[name]
        assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (CRON_MISFIRE_GRACE_S, True, 1)
    assert jobs["outbox"].trigger.interval.total_seconds() == 30
    assert jobs["media"].trigger.interval.total_seconds() == 30
    assert str(jobs["fixity"].trigger.fields[4]) == "sun"  # day_of_week
    digest = jobs["digest"]  # daily at 08:00 local, claimed per day like compile and fixity
    assert (str(digest.trigger.fields[5]), str(digest.trigger.fields[6])) == ("8", "0")
    assert (digest.coalesce, digest.max_instances) == (True, 1)

    for _ in range(2):  # a second tick in the same period (restart, second scheduler) runs nothing
        for name in ("compile", "fixity"):
            job = jobs[name]
            job.func(*job.args, **job.kwargs)
    today = datetime.now(settings.tz).date()
    assert fakes.compiled == [previous_month(today)] and fakes.audited == [iso_week(today)]
    assert runs(engine) == [
        ("compile", previous_month(today), "succeeded", {"items": 57, "volumes": 2}),
        ("fixity", iso_week(today), "succeeded", {"bad": 0, "bags": 4}),
    ]


def test_catch_up_runs_missed_periods_once(engine: Engine, settings: Settings) -> None:
    fakes = FakeJobs()
    succeed(engine, "compile", "2026-09")  # compiled before the outage
    done = catch_up(engine, settings, fakes.table(), months=3, today=TODAY)
    assert [(o.job, o.period, o.status) for o in done] == [
        ("compile", "2026-08", "succeeded"),
        ("compile", "2026-10", "succeeded"),
        ("fixity", "2026-W48", "succeeded"),
    ]
    assert fakes.compiled == ["2026-08", "2026-10"] and fakes.audited == ["2026-W48"]
    assert catch_up(engine, settings, fakes.table(), months=3, today=TODAY) == []
    assert fakes.compiled == ["2026-08", "2026-10"] and fakes.audited == ["2026-W48"]
    assert [r[:3] for r in runs(engine)] == [
        ("compile", "2026-08", "succeeded"),
        ("compile", "2026-09", "succeeded"),
        ("compile", "2026-10", "succeeded"),
        ("fixity", "2026-W48", "succeeded"),
    ]


def test_catch_up_stops_at_a_failed_month_and_retries_it_next_time(
    engine: Engine, settings: Settings
) -> None:
    broken = FakeJobs(fail={"2026-09"})
    done = catch_up(engine, settings, broken.table(), months=3, today=TODAY)
    assert [(o.period, o.status) for o in done] == [
        ("2026-08", "succeeded"),
        ("2026-09", "failed"),
        ("2026-W48", "succeeded"),
    ]
    assert broken.compiled == ["2026-08", "2026-09"]  # 2026-10 waits: volumes chain to the previous one
    failed = next(o for o in done if o.status == "failed")
    assert failed.error == "OSError: cannot write the 2026-09 workbook"

    fixed = FakeJobs()
    done = catch_up(engine, settings, fixed.table(), months=3, today=TODAY)
    assert [(o.period, o.status) for o in done] == [("2026-09", "succeeded"), ("2026-10", "succeeded")]
    assert fixed.compiled == ["2026-09", "2026-10"] and fixed.audited == []


def test_failed_compiles_are_retried_by_the_half_hourly_tick_not_only_at_restart(
    engine: Engine, settings: Settings
) -> None:
    assert retry_failed_tick(engine, settings, FakeJobs().table(), today=TODAY) == []  # nothing failed: idle
    broken = FakeJobs(fail={"2026-09"})
    catch_up(engine, settings, broken.table(), months=3, today=TODAY)  # 08 done, 09 failed, 10 waits
    still = retry_failed_tick(engine, settings, broken.table(), today=TODAY)
    assert [(o.period, o.status) for o in still] == [("2026-09", "failed")]  # 10 still waits
    fixed = FakeJobs()
    done = retry_failed_tick(engine, settings, fixed.table(), today=TODAY)
    assert [(o.period, o.status) for o in done] == [("2026-09", "succeeded"), ("2026-10", "succeeded")]
    assert fixed.audited == []  # the week's audit had not failed
    assert retry_failed_tick(engine, settings, fixed.table(), today=TODAY) == []


def test_the_retry_tick_never_compiles_a_month_that_has_not_run(engine: Engine, settings: Settings) -> None:
    fakes = FakeJobs()
    succeed(engine, "compile", "2026-08")  # 09 and 10 never ran: their cron (or the catch-up) will
    assert retry_failed_tick(engine, settings, fakes.table(), today=TODAY) == []
    assert fakes.compiled == []


# --- one scheduler at a time ------------------------------------------------------------------------


def _until(predicate: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_second_scheduler_waits_and_takes_over_without_rerunning(
    engine: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    fakes = FakeJobs()
    caplog.set_level(logging.INFO, logger="houqin.scheduler")
    first_thread, first_stop = start_in_thread(engine, settings, jobs=fakes.table())
    _until(lambda: len(fakes.audited) == 1)  # its catch-up has run
    second_stop = threading.Event()
    second = threading.Thread(
        target=run_scheduler,
        args=(engine, settings),
        kwargs={"jobs": fakes.table(), "stop": second_stop, "lock_poll": 0.02},
    )
    second.start()
    _until(lambda: any("waiting for the scheduler lock" in r.getMessage() for r in caplog.records))
    first_stop.set()
    first_thread.join(timeout=30)
    assert not first_thread.is_alive()
    _until(lambda: sum("scheduler started" in r.getMessage() for r in caplog.records) == 2)
    second_stop.set()
    second.join(timeout=30)
    assert not second.is_alive()
    # the second scheduler's catch-up found every period done
    assert len(fakes.compiled) == 3 and len(set(fakes.compiled)) == 3 and len(fakes.audited) == 1
    assert len(runs(engine)) == 4
    assert fakes.drains >= 2  # APScheduler ran the outbox job at each scheduler's start


_SCHEDULER_PROCESS = """
import logging, sys
from core.db import make_engine
from server.scheduler import run_scheduler
from tests.conftest import make_settings
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
db_url, data_dir = sys.argv[1], sys.argv[2]
done = lambda engine, **kw: {}
run_scheduler(make_engine(db_url), make_settings(db_url, __import__("pathlib").Path(data_dir)),
              jobs={"compile": done, "fixity": done, "outbox": lambda engine, **kw: None}, lock_poll=0.05)
print("exited cleanly", file=sys.stderr, flush=True)
"""


class _Proc:
    """A scheduler in its own process, with its log lines readable as they come."""

    def __init__(self, db_url: str, data_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SCHEDULER_PROCESS, db_url, str(data_dir)],
            cwd=Path(__file__).resolve().parents[2],
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def expect(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.seen):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {text!r} in {self.seen}"
            with contextlib.suppress(queue.Empty):
                self.seen.append(self.lines.get(timeout=remaining))


@pytest.mark.slow
def test_scheduler_processes_take_turns_and_stop_on_sigterm(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    first = _Proc(db_url, tmp_path / "var")
    first.expect("scheduler started")
    second = _Proc(db_url, tmp_path / "var")
    try:
        second.expect("waiting for the scheduler lock")
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(timeout=30) == 0
        first.expect("exited cleanly")
        second.expect("scheduler started")
        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(timeout=30) == 0
        second.expect("exited cleanly")
    finally:
        for p in (first, second):
            if p.proc.poll() is None:
                p.proc.kill()
    # three months and one week, each run once between the two of them (the quarter-hourly escalation may
    # also fire while the test runs, depending on the wall clock: it is not counted)
    caught_up = [r for r in runs(engine) if r[0] in ("compile", "fixity")]
    assert len(caught_up) == 4, runs(engine)


# --- houqin jobs --------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    get_settings.cache_clear()
    try:
        yield {"HOUQIN_DATABASE_URL": db_url, "HOUQIN_DATA_DIR": str(tmp_path / "data")}
    finally:
        get_settings.cache_clear()


def test_houqin_jobs_lists_recent_runs(engine: Engine, settings: Settings, cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    empty = runner.invoke(cli, ["jobs"], env=cli_env)
    assert empty.exit_code == 0, empty.output
    assert "no job runs yet" in empty.output

    catch_up(engine, settings, FakeJobs(fail={"2026-10"}).table(), months=2, today=TODAY)
    result = runner.invoke(cli, ["jobs"], env=cli_env)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 3
    by_period = {line.split()[1]: line for line in lines}
    assert set(by_period) == {"2026-09", "2026-10", "2026-W48"}
    ok = by_period["2026-09"]
    assert ok.split()[0] == "compile" and "succeeded" in ok and '"volumes": 2' in ok and "finished 20" in ok
    bad = by_period["2026-10"]
    assert "failed" in bad and "error OSError: cannot write the 2026-10 workbook" in bad
    assert by_period["2026-W48"].split()[:3] == ["fixity", "2026-W48", "succeeded"]

    limited = runner.invoke(cli, ["jobs", "--limit", "1"], env=cli_env)
    assert limited.exit_code == 0 and len(limited.output.strip().splitlines()) == 1


def test_serve_offers_to_run_without_the_scheduler() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0 and "--no-scheduler" in result.output


def test_run_outcome_ran() -> None:
    assert RunOutcome(job="compile", period="2026-10", status="failed").ran
    assert not RunOutcome(job="compile", period="2026-10", status="skipped").ran
