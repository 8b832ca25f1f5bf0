"""The scheduler: monthly volume compilation, the weekly fixity audit, the managers' daily digest, the
outbox drain and the media fetch (APScheduler 3).

One scheduler runs per deployment: inside `houqin serve` (one worker) or alone as `houqin scheduler`.
A second one waits on the "scheduler" lock instead of running jobs beside the first. Even so, every
compile and fixity run first claims its `(job, period)` row (core.jobs), so a restart, a clock skew or
a second scheduler never runs a period twice, and the catch-up pass at start runs what was missed
while no scheduler was up (APScheduler's in-memory job store forgets missed runs on restart).
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from core.jobs import RunOutcome, run_claimed, status_of
from core.locks import exclusive
from core.settings import ConfigError, Settings

log = logging.getLogger("houqin.scheduler")

COMPILE = "compile"
FIXITY = "fixity"
OUTBOX = "outbox"
MEDIA = "media"
DIGEST = "digest"
ESCALATE = "escalate"  # issue 13: overdue items to the supervisors (feedback/jobs.py)
CRON_MISFIRE_GRACE_S = 24 * 3600
OUTBOX_INTERVAL_S = 30
RETRY_INTERVAL_S = 30 * 60  # a failed compile or audit is tried again this often (not only at restart)
RETRY = "retry"

JobTable = Mapping[str, Callable[..., Any]]


def _compile(engine: Engine, *, settings: Settings, period: str) -> Any:
    # imported when run: exports may import things that import this module
    from exports.scheduled import compile_job

    return compile_job(engine, settings=settings, period=period)


def _fixity(engine: Engine, *, settings: Settings, period: str) -> Any:
    from exports.scheduled import fixity_job

    return fixity_job(engine, settings=settings)


def _outbox(engine: Engine, *, settings: Settings) -> Any:
    from core.outbox import drain

    return drain(engine, settings=settings)


def _media(engine: Engine, *, settings: Settings) -> Any:
    from feedback.media import fetch_pending

    return fetch_pending(engine, settings=settings)


def _digest(engine: Engine, *, settings: Settings, period: str) -> Any:
    from feedback.digest import digest_job

    return digest_job(engine, settings=settings, period=period)


def _escalate(engine: Engine, *, settings: Settings, period: str) -> Any:
    from feedback.jobs import escalate_job

    return escalate_job(engine, settings=settings, period=period)


DEFAULT_JOBS: dict[str, Callable[..., Any]] = {
    COMPILE: _compile,
    FIXITY: _fixity,
    OUTBOX: _outbox,
    MEDIA: _media,
    DIGEST: _digest,
    ESCALATE: _escalate,
}


def job_table(jobs: JobTable | None = None) -> dict[str, Callable[..., Any]]:
    """The default job bodies, with any given in `jobs` (tests, tools) put in their place."""
    return {**DEFAULT_JOBS, **(jobs or {})}


# --- periods ------------------------------------------------------------------------------------------


def previous_month(day: date) -> str:
    """The month before `day`'s month, as YYYY-MM: the period a compile on `day` covers."""
    return recent_months(day, 1)[0]


def recent_months(day: date, months: int) -> list[str]:
    """The last `months` full months before `day`'s month, oldest first, as YYYY-MM."""
    index = day.year * 12 + day.month - 1  # months since year 0 of `day`'s own month
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - months, index)]


def iso_week(day: date) -> str:
    """`day`'s ISO week as YYYY-Www: the period of a fixity audit."""
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def _today(settings: Settings) -> date:
    return datetime.now(settings.tz).date()


# --- cron ---------------------------------------------------------------------------------------------

_WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 (and 7) = Sunday


def _crontab_weekdays(field: str) -> str:
    # APScheduler 3 numbers weekdays from Monday = 0, crontab from Sunday = 0 (its from_crontab warns
    # about it), so "0 3 * * 0" would audit on Mondays. Numbers are rewritten as names, which mean the
    # same to both.
    if field in ("*", "?"):
        return "*"
    names: list[str] = []
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        if re.fullmatch(r"[A-Za-z]{3}(-[A-Za-z]{3})?", span) and not step_text:
            names.append(span.lower())
            continue
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            a, b = span.split("-", 1)
            first, last = int(a), int(b)
        else:
            first = int(span)
            last = 6 if step_text else first
        step = int(step_text) if step_text else 1
        if not (0 <= first <= 7 and 0 <= last <= 7 and step >= 1):
            raise ValueError(f"day of week {part!r} is out of range 0-7")
        names.extend(_WEEKDAY_NAMES[n % 7] for n in range(first, last + 1, step))
    return ",".join(dict.fromkeys(names))


def cron_trigger(expr: str, *, tz: ZoneInfo, setting: str = "cron") -> CronTrigger:
    """A CronTrigger for a standard 5-field crontab line in local time (0 = Sunday, as in cron)."""
    try:
        fields = expr.split()
        if len(fields) != 5:
            raise ValueError(f"expected 5 fields, got {len(fields)}")
        fields[4] = _crontab_weekdays(fields[4])
        return CronTrigger.from_crontab(" ".join(fields), timezone=tz)
    except ValueError as exc:
        raise ConfigError(f"{setting} {expr!r} is not a valid crontab line: {exc}") from None


# --- job bodies as the scheduler runs them ----------------------------------------------------------------


def run_job(engine: Engine, settings: Settings, jobs: JobTable, *, job: str, period: str) -> RunOutcome:
    """Run job `job` for `period` through its claim row (core.jobs.run_claimed)."""
    fn = jobs[job]
    return run_claimed(
        engine, job=job, period=period, fn=lambda: fn(engine, settings=settings, period=period)
    )


def compile_tick(
    engine: Engine, settings: Settings, jobs: JobTable, *, today: date | None = None
) -> RunOutcome:
    """The monthly cron run: compile the previous local month."""
    day = today or _today(settings)
    return run_job(engine, settings, jobs, job=COMPILE, period=previous_month(day))


def fixity_tick(
    engine: Engine, settings: Settings, jobs: JobTable, *, today: date | None = None
) -> RunOutcome:
    """The weekly cron run: audit every bag once in the current ISO week."""
    day = today or _today(settings)
    return run_job(engine, settings, jobs, job=FIXITY, period=iso_week(day))


def digest_tick(
    engine: Engine, settings: Settings, jobs: JobTable, *, today: date | None = None
) -> RunOutcome:
    """The daily cron run: queue the managers' digest of the previous local day (claimed per day, so two
    schedulers or a restart never send it twice)."""
    day = today or _today(settings)
    return run_job(engine, settings, jobs, job=DIGEST, period=str(day - timedelta(days=1)))


def escalate_tick(
    engine: Engine, settings: Settings, jobs: JobTable, *, now: datetime | None = None
) -> RunOutcome:
    """The escalation cron run (HOUQIN_ESCALATE_CRON): claimed per local minute, so two schedulers never
    both run one slot."""
    local = (now or datetime.now(ZoneInfo(settings.timezone))).astimezone(ZoneInfo(settings.timezone))
    return run_job(engine, settings, jobs, job=ESCALATE, period=local.strftime("%Y-%m-%dT%H:%M"))


def outbox_tick(engine: Engine, settings: Settings, jobs: JobTable) -> None:
    """The 30-second run: send due outbox messages (no claim row: every tick is its own period)."""
    try:
        counts = jobs[OUTBOX](engine, settings=settings)
    except Exception:
        log.exception("outbox drain failed; the next tick tries again")
        return
    if counts and any(getattr(counts, k, 0) for k in ("sent", "retried", "undeliverable")):
        log.info("outbox: %s", counts)


def catch_up(
    engine: Engine,
    settings: Settings,
    jobs: JobTable | None = None,
    months: int = 3,
    today: date | None = None,
) -> list[RunOutcome]:
    """Run what was missed: compiles of the last `months` full months and this ISO week's fixity audit."""
    table = job_table(jobs)
    day = today or _today(settings)
    outcomes: list[RunOutcome] = []
    # Oldest first, and stop at a failure: each volume's seal chains to the previous one's.
    for period in recent_months(day, months):
        if status_of(engine, job=COMPILE, period=period) == "succeeded":
            continue
        outcome = run_job(engine, settings, table, job=COMPILE, period=period)
        outcomes.append(outcome)
        if outcome.status == "failed":
            log.error("catch-up: compile %s failed; later months wait for the next catch-up", period)
            break
    week = iso_week(day)
    if status_of(engine, job=FIXITY, period=week) != "succeeded":
        outcomes.append(run_job(engine, settings, table, job=FIXITY, period=week))
    return outcomes


def retry_failed_tick(
    engine: Engine, settings: Settings, jobs: JobTable, *, months: int = 3, today: date | None = None
) -> list[RunOutcome]:
    """The half-hourly run: try again the compiles of the last `months` months and this week's audit whose
    last run failed (a full disk, a database restart), oldest first, stopping at a month that fails again.
    Periods that never ran are left to their cron (or to the catch-up at start): never compiled early."""
    day = today or _today(settings)
    outcomes: list[RunOutcome] = []
    retried = False
    for period in recent_months(day, months):
        status = status_of(engine, job=COMPILE, period=period)
        if status == "failed" or (retried and status is None):
            # a month after a failed one waited for it (volumes chain): it is due now too
            outcome = run_job(engine, settings, jobs, job=COMPILE, period=period)
            outcomes.append(outcome)
            if outcome.status == "failed":
                log.error(
                    "retry: compile %s failed again; next try in %d min", period, RETRY_INTERVAL_S // 60
                )
                break
            retried = True
    week = iso_week(day)
    if status_of(engine, job=FIXITY, period=week) == "failed":
        outcomes.append(run_job(engine, settings, jobs, job=FIXITY, period=week))
    return outcomes


def build_scheduler(engine: Engine, settings: Settings, jobs: JobTable | None = None) -> BackgroundScheduler:
    """A BackgroundScheduler (not started) with the compile, fixity and outbox jobs in local time."""
    table = job_table(jobs)
    tz = settings.tz
    scheduler = BackgroundScheduler(
        timezone=tz, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
    )
    # APScheduler's default grace is 1 s: a run delayed longer (busy pool, suspended host) would be
    # dropped silently. A day is generous for a monthly or weekly job; the claim row keeps it single.
    scheduler.add_job(
        compile_tick,
        cron_trigger(settings.compile_cron, tz=tz, setting="HOUQIN_COMPILE_CRON"),
        args=(engine, settings, table),
        id=COMPILE,
        name="compile volumes of the previous month",
        misfire_grace_time=CRON_MISFIRE_GRACE_S,
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        fixity_tick,
        cron_trigger(settings.fixity_cron, tz=tz, setting="HOUQIN_FIXITY_CRON"),
        args=(engine, settings, table),
        id=FIXITY,
        name="fixity audit of every bag",
        misfire_grace_time=CRON_MISFIRE_GRACE_S,
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        digest_tick,
        cron_trigger(settings.digest_cron, tz=tz, setting="HOUQIN_DIGEST_CRON"),
        args=(engine, settings, table),
        id=DIGEST,
        name="daily digest to the managers",
        # a digest hours late is still worth having; one a day later is not (the next one is due)
        misfire_grace_time=12 * 3600,
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        escalate_tick,
        cron_trigger(settings.escalate_cron, tz=tz, setting="HOUQIN_ESCALATE_CRON"),
        args=(engine, settings, table),
        id=ESCALATE,
        name="escalate overdue feedback to the supervisors",
        misfire_grace_time=3600,
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        outbox_tick,
        IntervalTrigger(seconds=OUTBOX_INTERVAL_S, timezone=tz),
        args=(engine, settings, table),
        id=OUTBOX,
        name="send due outbox messages",
        next_run_time=datetime.now(tz),  # drain what piled up while no scheduler ran, at once
    )
    scheduler.add_job(
        retry_failed_tick,
        IntervalTrigger(seconds=RETRY_INTERVAL_S, timezone=tz),
        args=(engine, settings, table),
        id=RETRY,
        name="retry failed compiles and audits",
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        media_tick,
        IntervalTrigger(seconds=OUTBOX_INTERVAL_S, timezone=tz),
        args=(engine, settings, table),
        id=MEDIA,
        name="fetch photos and voice from WeChat",
        next_run_time=datetime.now(tz),
    )
    return scheduler


def media_tick(engine: Engine, settings: Settings, jobs: JobTable) -> None:
    """The 30-second run: download attachments before WeChat forgets them (about three days)."""
    try:
        counts = jobs[MEDIA](engine, settings=settings)
    except Exception:
        log.exception("media fetch failed; the next tick tries again")
        return
    if counts and (counts.fetched or counts.failed):
        log.info("media: %s", counts)


def run_scheduler(
    engine: Engine,
    settings: Settings,
    *,
    jobs: JobTable | None = None,
    stop: threading.Event | None = None,
    catch_up_months: int = 3,
    lock_poll: float = 1.0,
) -> None:
    """Run the scheduler until SIGTERM/SIGINT (or `stop` is set); a second one waits for the first."""
    stop = stop or threading.Event()
    restore: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def _on_signal(signum: int, _frame: Any) -> None:
            log.info("scheduler: %s received, stopping", signal.Signals(signum).name)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            restore[sig] = signal.signal(sig, _on_signal)
    try:
        with exclusive(
            engine,
            name="scheduler",
            settings=settings,
            wait=True,
            on_wait=lambda: log.warning(
                "waiting for the scheduler lock: another houqin scheduler is running; "
                "this one takes over when it stops"
            ),
            cancel=stop,
            poll=lock_poll,
        ) as held:
            if not held or stop.is_set():
                return
            scheduler = build_scheduler(engine, settings, jobs)
            scheduler.start()
            log.info(
                "scheduler started: compile %r, fixity %r, outbox every %d s (%s)",
                settings.compile_cron,
                settings.fixity_cron,
                OUTBOX_INTERVAL_S,
                settings.timezone,
            )
            try:
                # after start, so the outbox keeps draining while a long catch-up compiles
                try:
                    catch_up(engine, settings, jobs, months=catch_up_months)
                except Exception:
                    # e.g. the database was briefly unreachable: the cron runs still come, and the
                    # next start catches up again
                    log.exception("catch-up failed; the scheduler keeps running")
                stop.wait()
            finally:
                # let a running job finish: an interrupted one would sit "running" until it goes stale
                scheduler.shutdown(wait=True)
                log.info("scheduler stopped")
    finally:
        for sig, handler in restore.items():
            signal.signal(sig, handler)


def start_in_thread(
    engine: Engine, settings: Settings, *, jobs: JobTable | None = None
) -> tuple[threading.Thread, threading.Event]:
    """Run the scheduler in a daemon thread (inside `houqin serve`); set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_scheduler,
        args=(engine, settings),
        kwargs={"jobs": jobs, "stop": stop},
        name="houqin-scheduler",
        daemon=True,
    )
    thread.start()
    return thread, stop
