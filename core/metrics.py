"""Prometheus metrics: what `/metrics` exposes, and the cheap per-request updates behind it.

Two kinds. Event counters (requests by path and status, a latency histogram, dedupe hits, spool appends
and replays) are updated where things happen; with several uvicorn/gunicorn workers they live in
prometheus_client's multiprocess mode, chosen when `PROMETHEUS_MULTIPROC_DIR` is set before this module
is imported (`houqin serve --workers N` sets it). State (spool depth and oldest age, outbox backlog, job
runs and failures, database up) is read when scraped, through the spool status callable the app passes in
and from the database, so every worker reports the same, whole-deployment values and nothing has to be
kept in step.

The per-request update is one dict lookup and two bound-method calls: label children are looked up once
per (path, status), not per request (its cost: docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from core.fastsql import parse_dt
from core.models import JobRun, Outbox

log = logging.getLogger("houqin.metrics")

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# WeChat gives up at 5 s; most answers take a few milliseconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("houqin_http_requests", "HTTP requests by route and status.", ["path", "status"])
LATENCY = Histogram(
    "houqin_http_request_duration_seconds",
    "Time from the request's start to the last byte of the answer, by route.",
    ["path"],
    buckets=LATENCY_BUCKETS,
)
DUPLICATES = Counter(
    "houqin_webhook_duplicates",
    "Deliveries whose dedupe key was already stored (WeChat retries, concurrent copies): answered, not stored again.",
)
SPOOLED = Counter(
    "houqin_spool_appended", "Deliveries written to the outage spool because the database was unavailable."
)
SPOOL_REPLAYED = Counter("houqin_spool_replayed", "Spooled deliveries stored by the replayer.")

_Observe = tuple[Callable[[], None], Callable[[float], None]]
_children: dict[tuple[str, int], _Observe] = {}


def observe_request(path: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency (`path` must be a route, never a raw URL)."""
    pair = _children.get((path, status))
    if pair is None:
        pair = (REQUESTS.labels(path, str(status)).inc, LATENCY.labels(path).observe)
        _children[(path, status)] = pair
    pair[0]()
    pair[1](seconds)


class SpoolState(Protocol):
    """What the collector reads of the outage spool (the app passes a callable returning one)."""

    @property
    def depth(self) -> int:
        """Deliveries waiting, all processes."""
        ...

    @property
    def oldest_age_s(self) -> float | None:
        """Age of the oldest waiting delivery, None when none waits."""
        ...

    @property
    def dead_letters(self) -> int:
        """Lines that could not be stored and wait for a person."""
        ...


class StateCollector(Collector):
    """Gauges read at scrape time: database up, spool depth and age, outbox backlog, job runs."""

    def __init__(self, engine: Engine, spool_status: Callable[[], SpoolState]) -> None:
        self.engine = engine
        self.spool_status = spool_status

    def collect(self) -> Iterable[Metric]:
        """Read the spool's status and the database; a database that is down gives `houqin_database_up 0`."""
        spool = self.spool_status()
        yield _gauge(
            "houqin_spool_depth", "Deliveries waiting in the outage spool (all processes).", spool.depth
        )
        yield _gauge(
            "houqin_spool_oldest_age_seconds",
            "Age of the oldest spooled delivery (0 when the spool is empty).",
            spool.oldest_age_s or 0.0,
        )
        yield _gauge(
            "houqin_spool_dead_letters",
            "Spool lines that could not be stored and wait for a person.",
            spool.dead_letters,
        )
        up = GaugeMetricFamily("houqin_database_up", "1 when the database answered this scrape.")
        try:
            outbox, jobs, last_ok = self._from_database()
        except Exception as exc:
            log.warning("metrics: database unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        backlog = GaugeMetricFamily(
            "houqin_outbox_messages",
            "Outbound WeChat messages by app and status (pending = backlog).",
            labels=["app", "status"],
        )
        for (app, status_), n in sorted(outbox.items()):
            backlog.add_metric([app, status_], n)
        yield backlog
        runs = GaugeMetricFamily(
            "houqin_job_runs",
            "Claimed scheduled-job runs by job and status (failed = failures).",
            labels=["job", "status"],
        )
        for (job, status_), n in sorted(jobs.items()):
            runs.add_metric([job, status_], n)
        yield runs
        last = GaugeMetricFamily(
            "houqin_job_last_success_timestamp_seconds",
            "When each job last finished successfully.",
            labels=["job"],
        )
        for job, at in sorted(last_ok.items()):
            last.add_metric([job], at)
        yield last

    def _from_database(
        self,
    ) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int], dict[str, float]]:
        ob: Any = Outbox.__table__  # type: ignore[attr-defined]
        jr: Any = JobRun.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            outbox = {
                (app, st): int(n)
                for app, st, n in conn.execute(
                    select(ob.c.app, ob.c.status, func.count()).group_by(ob.c.app, ob.c.status)
                )
            }
            for app in ("mp", "wecom"):
                outbox.setdefault((app, "pending"), 0)
            jobs = {
                (job, st): int(n)
                for job, st, n in conn.execute(
                    select(jr.c.job, jr.c.status, func.count()).group_by(jr.c.job, jr.c.status)
                )
            }
            last_ok: dict[str, float] = {}
            for job, at in conn.execute(
                select(jr.c.job, func.max(jr.c.finished_at))
                .where(jr.c.status == "succeeded")
                .group_by(jr.c.job)
            ):
                parsed = parse_dt(at)  # func.max loses the column type: SQLite returns text
                if parsed is not None:
                    last_ok[job] = parsed.timestamp()
        return outbox, jobs, last_ok


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc)
    g.add_metric([], value)
    return g


def exposition(state: CollectorRegistry) -> bytes:
    """The whole `/metrics` body: event counters (every worker's, in multiprocess mode) then `state`."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        events = CollectorRegistry()
        multiprocess.MultiProcessCollector(events)
        body = generate_latest(events)
    else:
        body = generate_latest(REGISTRY)
    return body + generate_latest(state)


def state_registry(engine: Engine, spool_status: Callable[[], SpoolState]) -> CollectorRegistry:
    """A registry of one app's scrape-time gauges (its own, so several apps in one process do not clash)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(engine, spool_status))
    return registry
