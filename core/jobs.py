"""Scheduled job runs: a `(job, period)` claim row makes each period of each job run once.

APScheduler cannot share a job store between processes, and a lock only prevents overlap (core/locks.py),
so every run first claims its JobRun row with `INSERT … ON CONFLICT DO NOTHING RETURNING id`. Whoever gets the id runs the period; a failed run, or one left `running` by a
crashed process, is taken over by a conditional UPDATE that only one claimant can win.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, and_, or_, update
from sqlmodel import Session, col, select

from core.clock import utcnow
from core.db import insert_ignore
from core.models import JobRun

log = logging.getLogger("houqin.jobs")

DEFAULT_STALE_AFTER = timedelta(hours=6)
_TABLE = JobRun.__table__  # type: ignore[attr-defined]

Status = Literal["succeeded", "failed", "skipped"]


@dataclass(frozen=True)
class RunOutcome:
    """What became of one attempt to run `(job, period)`: it ran (succeeded or failed) or was skipped."""

    job: str
    period: str
    status: Status
    run_id: int | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ran(self) -> bool:
        """True when this process claimed the period and ran the job body."""
        return self.status != "skipped"


def claim(
    engine: Engine,
    *,
    job: str,
    period: str,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    now: datetime | None = None,
) -> int | None:
    """Claim `(job, period)`; the run id when this caller must run it, None when taken or already done."""
    now = now or utcnow()
    # engine.begin(): on SQLite the engine's begin hook makes this BEGIN IMMEDIATE, so the insert and the
    # take-over below are one serialised transaction; on PostgreSQL each statement is atomic on its own.
    with engine.begin() as conn:
        inserted = conn.execute(
            insert_ignore(engine, _TABLE)
            .values(job=job, period=period, status="running", started_at=now, counts="{}")
            .returning(_TABLE.c.id)
        ).scalar_one_or_none()
        if inserted is not None:
            return int(inserted)
        # The row exists. Take it over only if its last run failed or its runner is presumed dead; the
        # WHERE is re-checked against the latest row version, so of several claimants exactly one wins.
        taken = conn.execute(
            update(_TABLE)
            .where(
                _TABLE.c.job == job,
                _TABLE.c.period == period,
                or_(
                    _TABLE.c.status == "failed",
                    and_(_TABLE.c.status == "running", _TABLE.c.started_at < now - stale_after),
                ),
            )
            .values(status="running", started_at=now, finished_at=None, counts="{}", error=None)
            .returning(_TABLE.c.id)
        ).scalar_one_or_none()
        return int(taken) if taken is not None else None


def _counts_json(counts: Mapping[str, Any]) -> str:
    return json.dumps(dict(counts), ensure_ascii=False, sort_keys=True, default=str)


def finish(engine: Engine, *, run_id: int, counts: Mapping[str, Any], error: str | None = None) -> None:
    """Record the end of a claimed run: succeeded with its counts, or failed with the error text."""
    with engine.begin() as conn:
        conn.execute(
            update(_TABLE)
            .where(_TABLE.c.id == run_id)
            .values(
                status="failed" if error is not None else "succeeded",
                finished_at=utcnow(),
                counts=_counts_json(counts),
                error=error,
            )
        )


def _as_counts(result: Any) -> dict[str, Any]:
    # Job bodies return a counts dict; tolerate None and small dataclasses/named tuples too.
    if result is None:
        return {}
    if isinstance(result, Mapping):
        return dict(result)
    if hasattr(result, "_asdict"):
        return dict(result._asdict())
    if is_dataclass(result) and not isinstance(result, type):
        return asdict(result)
    return {"result": str(result)}


def run_claimed(
    engine: Engine,
    *,
    job: str,
    period: str,
    fn: Callable[[], Mapping[str, Any] | None],
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> RunOutcome:
    """Claim `(job, period)`, run `fn()` if ours, record the result; errors become a failed outcome."""
    run_id = claim(engine, job=job, period=period, stale_after=stale_after)
    if run_id is None:
        log.debug("job %s %s: already done or running elsewhere, skipped", job, period)
        return RunOutcome(job=job, period=period, status="skipped")
    log.info("job %s %s: started (run %d)", job, period, run_id)
    try:
        counts = _as_counts(fn())
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.exception("job %s %s: failed (run %d)", job, period, run_id)
        finish(engine, run_id=run_id, counts={}, error=error)
        return RunOutcome(job=job, period=period, status="failed", run_id=run_id, error=error)
    except BaseException as exc:
        # Interrupted (Ctrl-C, SystemExit): mark it failed so the next catch-up retries it at once
        # instead of waiting for the stale timeout, then let the interruption go on.
        finish(engine, run_id=run_id, counts={}, error=f"interrupted: {type(exc).__name__}")
        raise
    finish(engine, run_id=run_id, counts=counts)
    log.info("job %s %s: succeeded %s", job, period, _counts_json(counts))
    return RunOutcome(job=job, period=period, status="succeeded", run_id=run_id, counts=counts)


def status_of(engine: Engine, *, job: str, period: str) -> str | None:
    """The status of `(job, period)`'s claim row, or None when it was never claimed."""
    with Session(engine) as session:
        return session.exec(select(JobRun.status).where(JobRun.job == job, JobRun.period == period)).first()


def recent_runs(engine: Engine, *, limit: int = 20) -> list[JobRun]:
    """The latest job runs, newest first."""
    with Session(engine, expire_on_commit=False) as session:
        query = select(JobRun).order_by(col(JobRun.started_at).desc(), col(JobRun.id).desc()).limit(limit)
        return list(session.exec(query).all())
