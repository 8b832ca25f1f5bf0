"""Console benchmark (issue 13): p50/p95 of the dashboard (one month and two years, with its 三率), the
worklist (今日待办), the 三率 alone, and the inbox's first and next page, on N feedbacks filled by
`houqin demo --months 24`'s bulk generator, on SQLite and PostgreSQL — each beside a floor measured in the
same run: the same figure from one hand-written aggregate query over the same index.

    python -m bench.console [--sizes 100000 1000000] [--repeat 10] [--backends sqlite postgresql]
    python -m bench.console --database-url sqlite:///var/houqin.db    # an already filled database

Targets (issue 13): dashboard, worklist, 三率 p95 < 300 ms; inbox pages p95 < 100 ms. The dashboard and
the 三率 read the per-day rollups (feedback/rollup.py) for days before the last 14, which the fill builds.
PostgreSQL: HOUQIN_BENCH_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/test) is where a
database of its own is created and dropped.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from bench.search import _databases, _p

PAGE = 50
TARGET_MS = {"inbox first page": 100, "inbox next page": 100}
DEFAULT_TARGET_MS = 300


@dataclass
class Run:
    """One backend at one size: figure → (times, floor times)."""

    backend: str
    n: int
    load_s: float
    figures: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    load: str = ""  # the load average (1, 5, 15 minutes) when it ended


def _time(fn: Callable[[], Any], repeat: int) -> list[float]:
    before = fn.before if isinstance(fn, _Before) else None
    if before is None:
        fn()  # warm up
    out = []
    for _ in range(repeat):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _measure(backend: str, url: str, n: int, load_s: float, repeat: int, today: date) -> Run:
    from sqlalchemy import select, text, update
    from sqlmodel import Session, col

    from core.clock import utcnow
    from core.db import make_engine, read_unit
    from core.settings import Settings
    from feedback import live, rates, stats, worklist
    from feedback.models import Feedback

    settings = Settings(database_url=url)
    engine = make_engine(url)
    run = Run(backend, n, load_s)
    now = utcnow()
    month = (today - timedelta(days=30), today - timedelta(days=1))
    years = (today - timedelta(days=730), today - timedelta(days=1))

    def request(fn: Callable[[Session], Any]) -> Callable[[], Any]:
        """One console GET: a read-only session of its own (what console/deps.get_db gives a GET)."""

        def go() -> Any:
            with read_unit(engine) as s:
                return fn(s)

        return go

    def dashboard(start: date, end: date) -> Callable[[], Any]:
        def go(s: Session) -> Any:
            stats.dashboard(s, settings=settings, start=start, end=end, now=now)
            return rates.rates(s, start=start, end=end, now=now)

        return request(go)

    with Session(engine) as s:
        yesterday = list(
            s.execute(
                select(col(Feedback.id))
                .where(col(Feedback.service_date) == today - timedelta(days=1))
                .limit(50)
            ).scalars()
        )
    touched = iter(yesterday * (repeat + 2))

    def changed(fn: Callable[[], Any]) -> Callable[[], Any]:
        """`fn` after one of yesterday's feedbacks changed (committed, not timed): what a console sees
        while feedback comes in — that day and the samples over it are computed again."""

        def before() -> None:
            with Session(engine) as w:
                w.execute(
                    update(Feedback).where(col(Feedback.id) == next(touched)).values(updated_at=utcnow())
                )
                w.commit()

        return _Before(before, fn)

    def cold(fn: Callable[[], Any]) -> Callable[[], Any]:
        """`fn` with the process's cache emptied first (not timed): the first look after a start."""
        return _Before(live.clear, fn)

    def floor_dashboard(start: date, end: date) -> Callable[[], Any]:
        q = text(
            "SELECT service_date, count(*), count(score), sum(score), sum(CASE WHEN score >= 4 THEN 1 ELSE 0 END) "
            "FROM feedback WHERE service_date BETWEEN :a AND :b GROUP BY service_date"
        )
        return request(lambda s: s.execute(q, {"a": start, "b": end}).all())

    def floor_rates(start: date, end: date) -> Callable[[], Any]:
        q = text(
            "SELECT sum(CASE WHEN acknowledged_at <= ack_due_at THEN 1 ELSE 0 END), count(ack_due_at), "
            "sum(CASE WHEN rectified_at <= rectify_due_at THEN 1 ELSE 0 END), count(rectify_due_at), "
            "sum(CASE WHEN revisit_answer IN (1, 2) THEN 1 ELSE 0 END), count(revisit_answer) "
            "FROM feedback WHERE service_date BETWEEN :a AND :b"
        )
        return request(lambda s: s.execute(q, {"a": start, "b": end}).all())

    floor_work = text(
        "SELECT sum(CASE WHEN status = 'new' AND rectify_due_at IS NOT NULL THEN 1 ELSE 0 END), "
        "sum(CASE WHEN status = 'new' AND ack_due_at < :now THEN 1 ELSE 0 END) FROM feedback "
        "WHERE status IN ('new', 'acknowledged', 'rectifying')"
    )
    inbox = text(
        "SELECT id, reference, score, comment, status, created_at FROM feedback "
        "ORDER BY created_at DESC, id DESC LIMIT :n"
    )
    with read_unit(engine) as s:
        first = s.execute(inbox, {"n": PAGE}).all()
    cursor = (first[-1][5], first[-1][0])
    inbox_next = text(
        "SELECT id, reference, score, comment, status, created_at FROM feedback "
        "WHERE created_at < :at OR (created_at = :at AND id < :id) ORDER BY created_at DESC, id DESC LIMIT :n"
    )
    floor_inbox = text("SELECT id FROM feedback ORDER BY created_at DESC, id DESC LIMIT :n")
    figures: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "dashboard 1 month": (dashboard(*month), floor_dashboard(*month)),
        "dashboard 2 years": (dashboard(*years), floor_dashboard(*years)),
        "worklist": (
            request(lambda s: worklist.worklist(s, now=now, tz=settings.tz)),
            request(lambda s: s.execute(floor_work, {"now": now}).all()),
        ),
        "三率 1 month": (
            request(lambda s: rates.rates(s, start=month[0], end=month[1], now=now)),
            floor_rates(*month),
        ),
        "三率 2 years": (
            request(lambda s: rates.rates(s, start=years[0], end=years[1], now=now)),
            floor_rates(*years),
        ),
        "inbox first page": (
            request(lambda s: s.execute(inbox, {"n": PAGE}).all()),
            request(lambda s: s.execute(floor_inbox, {"n": PAGE}).all()),
        ),
        "inbox next page": (
            request(lambda s: s.execute(inbox_next, {"at": cursor[0], "id": cursor[1], "n": PAGE}).all()),
            request(lambda s: s.execute(floor_inbox, {"n": PAGE}).all()),
        ),
        # these last: a change stays visible to the looks for rollup.MARGIN after it
        "dashboard 1 month, cold": (cold(dashboard(*month)), floor_dashboard(*month)),
        "dashboard 1 month, changed": (changed(dashboard(*month)), floor_dashboard(*month)),
        "dashboard 2 years, changed": (changed(dashboard(*years)), floor_dashboard(*years)),
    }
    print(f"    load average at the start: {_load()}", flush=True)
    for name, (fn, floor) in figures.items():
        run.figures[name] = (_time(fn, repeat), _time(floor, repeat))
        times, floors = run.figures[name]
        print(
            f"    {name}: p95 {_p(times, 95):.0f} ms (floor {_p(floors, 95):.0f} ms), load {_load()}",
            flush=True,
        )
    run.load = _load()
    engine.dispose()
    return run


class _Before:
    """A timed call with an untimed step before it."""

    def __init__(self, before: Callable[[], Any], fn: Callable[[], Any]) -> None:
        self.before, self.fn = before, fn

    def __call__(self) -> Any:
        return self.fn()


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _report(runs: list[Run], repeat: int) -> None:
    print()
    print(f"{repeat} timed runs each (after one warm-up); floor: one hand-written aggregate query")
    print("each a console GET's read-only session of its own; `cold`: the process's cache emptied before")
    print("each, `changed`: one of yesterday's feedbacks changed before each (neither step timed)")
    header = f"{'backend':<11}{'N':>11}  {'figure':<28}{'p50 ms':>8}{'p95 ms':>8}{'floor p95':>10}{'ratio':>7}  target"
    print(header)
    print("-" * len(header))
    for r in runs:
        for name, (times, floors) in r.figures.items():
            p95, f95 = _p(times, 95), _p(floors, 95)
            target = TARGET_MS.get(name, DEFAULT_TARGET_MS)
            mark = "ok" if p95 < target else "MISSED"
            print(
                f"{r.backend:<11}{r.n:>11,}  {name:<28}{_p(times, 50):>8.0f}{p95:>8.0f}{f95:>10.0f}"
                f"{p95 / max(f95, 0.01):>6.1f}×  < {target} {mark}"
            )
        print(f"{r.backend}: load average (1, 5, 15 min) at the end: {r.load}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument(
        "--database-url", help="measure this (already filled) database instead of filling one"
    )
    args = parser.parse_args()

    from sqlalchemy import text

    from core.db import make_engine
    from core.migrate import upgrade
    from core.settings import Settings
    from server.demo.bulk import fill_bulk

    today = datetime.now().date()
    runs: list[Run] = []
    if args.database_url:
        engine = make_engine(args.database_url)
        with engine.connect() as conn:
            n = int(conn.execute(text("SELECT count(*) FROM feedback")).scalar_one())
        engine.dispose()
        backend = "postgresql" if args.database_url.startswith("postgresql") else "sqlite"
        runs.append(_measure(backend, args.database_url, n, 0.0, args.repeat, today))
        _report(runs, args.repeat)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            for backend in args.backends:
                for db in _databases(backend, tmp, n):
                    upgrade(db.url)
                    engine = make_engine(db.url)
                    t0 = time.perf_counter()
                    fill_bulk(
                        engine,
                        settings=Settings(database_url=db.url),
                        count=n,
                        months=24,
                        seed=13,
                        today=today,
                    )
                    if backend == "postgresql":  # what autovacuum does after a bulk load (index-only scans)
                        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                            conn.execute(text("VACUUM ANALYZE"))
                    engine.dispose()
                    load_s = time.perf_counter() - t0
                    print(f"  {backend} {n:,}: filled in {load_s:.0f} s; measuring", flush=True)
                    runs.append(_measure(backend, db.url, n, load_s, args.repeat, today))
                    if backend == "sqlite":
                        db.drop()
    _report(runs, args.repeat)


if __name__ == "__main__":
    main()
