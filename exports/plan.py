"""Step 1 of a compile, the plan (the run as a whole: `exports.seal`).

Pick a period's closed, unbound feedback (read outside any write transaction), then in one short
transaction allocate each volume's 件号 from its scope's counter, insert the volume (status building) and
its plan: the feedback ids in 条目 order (`VolumePlan`). Then bind them in chunks, each chunk one short
transaction of its own: insert the items (条目序号 in order) and their archived events and bind the feedback
(from then on read-only), and move the plan's cursor. So SQLite's one write lock is never held for long at
100,000 items: the webhook's ingest gets it between chunks (issue 11). The last chunk's transaction deletes
the plan. A crash between chunks leaves a building volume with its plan: `finish` (run by
`exports.seal.resume`) binds the rest, exactly once, with the same numbers. A planned feedback reopened or
marked misuse before its chunk is skipped and the volume's item count and dates follow what was bound.
Also the names a volume is known by (档号, scope, series, retention) and where its bag lives.
"""

from __future__ import annotations

import sys
import time
from array import array
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlmodel import Session, col

from core.clock import utcnow
from core.counters import next_value
from core.db import read_unit, unit_of_work
from core.settings import Settings
from exports import texts
from exports.lines import CURRENT
from exports.models import Volume, VolumeItem, VolumePlan
from exports.source import snapshot_names
from feedback.models import Action, Feedback, FeedbackEvent, Status

_ITEMS = VolumeItem.__table__  # type: ignore[attr-defined]
_EVENTS = FeedbackEvent.__table__  # type: ignore[attr-defined]
_FEEDBACK = Feedback.__table__  # type: ignore[attr-defined]
_PLAN = VolumePlan.__table__  # type: ignore[attr-defined]

GENERATOR = "houqin 0.1.0 (openpyxl write-only, reportlab + pikepdf PDF/A-2b, bagit)"
BOUND_STATUSES = (Status.closed,)
# Feedback bound per transaction: at 100,000 items one transaction held SQLite's write lock past the
# webhook's 3 s spool deadline; a chunk of this size holds it for tens of milliseconds (docs/benchmarks.md).
CHUNK = 2000
# After each chunk on SQLite the plan waits as long as the chunk held the lock (within these bounds), so
# that a writer polling in its busy handler finds the lock free and ingest is never starved.
YIELD_S = (0.01, 0.2)
# The databases whose plan yields between chunks: only SQLite has one writer at a time (a test adds PostgreSQL
# to hold its plan open between chunks).
YIELD_ON: tuple[str, ...] = ("sqlite",)


def month_bounds(period: str) -> tuple[date, date]:
    """[first day, first day of the next month) of 'YYYY-MM'."""
    try:
        year, month = (int(p) for p in period.split("-"))
        start = date(year, month, 1)
    except ValueError:
        raise ValueError(f"period must be YYYY-MM, got {period!r}") from None
    return start, date(year + month // 12, month % 12 + 1, 1)


def scope_of(settings: Settings, *, year: int, retention: str, problem_code: str) -> str:
    """The 件号 sequence a volume draws from: fonds, class WS, year, retention, problem code."""
    return f"{settings.fonds_code}-WS·{year}-{retention}-{problem_code}"


def archival_code(scope: str, volume_no: int) -> str:
    """档号 {全宗号}-WS·{年度}-{保管期限}-{问题代码}-{件号:04d}."""
    return f"{scope}-{volume_no:04d}"


def series_of(settings: Settings, channel: str) -> str:
    """The hash chain a channel's volumes form: 全宗号 + 门类 (WS) + channel."""
    return f"{settings.fonds_code}-WS-{channel}"


def retention_for(settings: Settings, channel: str) -> str:
    """The retention code (保管期限) of a channel's volumes."""
    return settings.retention_by_channel.get(channel, settings.retention_code)


def transfer_dir(settings: Settings, code: str) -> Path:
    """Where a volume's bag lives."""
    return settings.data_dir / "transfer" / code


def _period_filter(period: str, channel: str) -> tuple[Any, ...]:
    start, end = month_bounds(period)
    return (
        col(Feedback.channel) == channel,
        col(Feedback.service_date) >= start,
        col(Feedback.service_date) < end,
        col(Feedback.volume_id).is_(None),
        col(Feedback.misuse).is_(False),
    )


def plan(
    engine: Engine,
    *,
    settings: Settings,
    period: str,
    channel: str,
    compiler: str,
    chunk: int = CHUNK,
) -> tuple[list[int], int]:
    """Create and bind the building volumes of a period and channel in short transactions; return their ids
    and the open-item count."""
    ids, open_count = create(engine, settings=settings, period=period, channel=channel, compiler=compiler)
    for volume_id in ids:
        finish(engine, volume_id=volume_id, chunk=chunk)
    return ids, open_count


def create(
    engine: Engine, *, settings: Settings, period: str, channel: str, compiler: str
) -> tuple[list[int], int]:
    """Insert the building volumes of a period and channel with their plans, nothing bound yet (one short
    transaction); return their ids and the open-item count."""
    start, _end = month_bounds(period)
    in_period = _period_filter(period, channel)
    size = max(1, settings.volume_max_items)
    # Read without the write lock (a WAL reader on SQLite): at 100,000 items the ordered pass is long.
    # The ids in a compact array and only each volume's first and last date, streamed: a period's rows as
    # Python objects were the compile's peak memory at 100k items. Table columns: plain rows, without the
    # ORM's per-row loading.
    closed = array("q")
    spans: list[list[date]] = []  # [first, last] service date of each volume-to-be
    with read_unit(engine) as session:
        for row in session.execute(
            select(_FEEDBACK.c.id, _FEEDBACK.c.service_date)
            .where(*in_period, col(Feedback.status).in_(BOUND_STATUSES))
            .order_by(_FEEDBACK.c.service_date, _FEEDBACK.c.created_at, _FEEDBACK.c.id)
            .execution_options(yield_per=5000)
        ):
            if len(closed) % size == 0:
                spans.append([row.service_date, row.service_date])
            else:
                spans[-1][1] = row.service_date
            closed.append(row.id)
        open_refs = list(
            session.execute(
                select(col(Feedback.reference))
                .where(*in_period, col(Feedback.status).not_in(BOUND_STATUSES))
                .order_by(col(Feedback.reference))
            ).scalars()
        )
        if not closed:
            return [], len(open_refs)
        names = snapshot_names(
            session,
            meeting_ids=session.execute(
                select(_FEEDBACK.c.meeting_id)
                .where(
                    *in_period, col(Feedback.status).in_(BOUND_STATUSES), _FEEDBACK.c.meeting_id.is_not(None)
                )
                .distinct()
            ).scalars(),
        )
    retention = retention_for(settings, channel)
    problem = settings.channel_codes[channel]
    scope = scope_of(settings, year=start.year, retention=retention, problem_code=problem)
    chunks = [(closed[i : i + size], spans[k]) for k, i in enumerate(range(0, len(closed), size))]
    series = series_of(settings, channel)
    title = texts.TITLE[channel].format(fonds=settings.fonds_name, year=start.year, month=start.month)
    ids = []
    now = utcnow()
    with unit_of_work(engine) as session:
        earlier = len(
            session.execute(
                select(col(Volume.id)).where(col(Volume.period) == period, col(Volume.channel) == channel)
            ).all()
        )
        # the chain runs per series (全宗 + 门类 + channel); volumes before 0012 got their series from it
        prev = session.execute(
            select(col(Volume.archival_code))
            .where(col(Volume.series) == series)
            .order_by(col(Volume.id).desc())
            .limit(1)
        ).scalar_one_or_none()
        for n, (feedback_ids, (date_from, date_to)) in enumerate(chunks, start=earlier + 1):
            volume_no = next_value(session, name=f"vol:{scope}")
            code = archival_code(scope, volume_no)
            vol = Volume(
                archival_code=code,
                scope=scope,
                volume_no=volume_no,
                period=period,
                channel=channel,
                retention=retention,
                problem_code=problem,
                part=n,
                title=title + (texts.PART.format(part=n) if len(chunks) > 1 or earlier else ""),
                item_count=len(feedback_ids),
                date_from=date_from,
                date_to=date_to,
                file_name=f"transfer/{code}/data/电子档案/{code}.xlsx",
                open_items="\n".join(open_refs),
                prev_archival_code=prev,
                compiler=compiler or settings.compiler_name,
                compiler_unit=settings.compiler_unit,
                generator=GENERATOR,
                line_version=CURRENT,
                series=series,
                names=names,
            )
            session.add(vol)
            session.flush()
            assert vol.id is not None
            session.execute(
                _PLAN.insert().values(
                    volume_id=vol.id,
                    feedback_ids=_pack(feedback_ids),
                    taken=0,
                    bound=0,
                    actor=compiler,
                    at=now,
                )
            )
            ids.append(vol.id)
            prev = code
    return ids, len(open_refs)


def _pack(ids: array[int]) -> bytes:
    out = array("q", ids)
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


def _unpack(data: bytes) -> array[int]:
    out = array("q")
    out.frombytes(data)
    if sys.byteorder != "little":
        out.byteswap()
    return out


def pending(session: Session, volume_id: int) -> bool:
    """Whether a building volume's plan is still to be finished (some of its feedback not yet bound)."""
    return session.get(VolumePlan, volume_id) is not None


def finish(engine: Engine, *, volume_id: int, chunk: int = CHUNK) -> int:
    """Bind the rest of a building volume's planned feedback, one short transaction per chunk, and delete the
    plan; return how many chunks it took (0: the volume was fully planned already)."""
    with read_unit(engine) as session:
        row = session.get(VolumePlan, volume_id)
        vol = session.get(Volume, volume_id)
        if row is None or vol is None:
            return 0
        planned = _unpack(row.feedback_ids)
        taken, bound, actor, at = row.taken, row.bound, row.actor, row.at
        code, period, channel, expected = vol.archival_code, vol.period, vol.channel, vol.item_count
    eligible = (*_period_filter(period, channel), col(Feedback.status).in_(BOUND_STATUSES))
    yields = engine.dialect.name in YIELD_ON
    runs = 0
    while True:
        part = list(planned[taken : taken + chunk])
        last = taken + len(part) >= len(planned)
        t0 = time.monotonic()
        with unit_of_work(engine) as session:
            bound_now = _bind(session, volume_id, code, part, eligible, seq=bound, actor=actor, at=at)
            taken, bound = taken + len(part), bound + bound_now
            if last:
                _complete(session, volume_id, bound=bound, expected=expected)
            else:
                session.execute(
                    update(_PLAN).where(_PLAN.c.volume_id == volume_id).values(taken=taken, bound=bound)
                )
        runs += 1
        if last:
            return runs
        if yields:  # give the write lock away as long as it was held (bounded), see YIELD_S
            time.sleep(min(max(time.monotonic() - t0, YIELD_S[0]), YIELD_S[1]))


def _bind(
    session: Session,
    volume_id: int,
    code: str,
    part: list[int],
    eligible: tuple[Any, ...],
    *,
    seq: int,
    actor: str,
    at: datetime,
) -> int:
    """Bind the chunk's feedback that is still closed and unbound, insert its items from 条目序号 seq + 1 and
    its archived events, in plan order; return how many were bound."""
    if not part:
        return 0
    # Core statements on the tables, not the ORM's bulk path (docs/benchmarks.md)
    got = set(
        session.execute(
            update(_FEEDBACK)
            .where(_FEEDBACK.c.id.in_(part), *eligible)
            .values(volume_id=volume_id)
            .returning(_FEEDBACK.c.id)
        ).scalars()
    )
    fids = [fid for fid in part if fid in got]
    if not fids:
        return 0
    session.execute(
        _ITEMS.insert(),
        [
            {"volume_id": volume_id, "seq": seq + k, "item_code": f"{code}/{seq + k:04d}", "feedback_id": fid}
            for k, fid in enumerate(fids, 1)
        ],
    )
    session.execute(
        _EVENTS.insert(),
        [
            {"feedback_id": fid, "at": at, "actor": actor, "action": Action.archived.value, "detail": code}
            for fid in fids
        ],
    )
    return len(fids)


def _complete(session: Session, volume_id: int, *, bound: int, expected: int) -> None:
    """The plan's last transaction: delete the plan; if some planned feedback was skipped, the volume's
    item count and dates follow what was bound."""
    session.execute(delete(_PLAN).where(_PLAN.c.volume_id == volume_id))
    if bound == expected:
        return
    first, last = session.execute(
        select(func.min(_FEEDBACK.c.service_date), func.max(_FEEDBACK.c.service_date)).where(
            _FEEDBACK.c.volume_id == volume_id
        )
    ).one()
    values: dict[str, Any] = {"item_count": bound}
    if first is not None:
        values.update(date_from=first, date_to=last)
    session.execute(update(Volume).where(col(Volume.id) == volume_id).values(**values))
