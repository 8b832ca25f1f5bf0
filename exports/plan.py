"""Step 1 of a compile, the plan (the run as a whole: `exports.seal`).

One short transaction: pick a period's closed, unbound feedback, allocate each volume's 件号 from its
scope's counter and each item's 条目序号, insert the volume (status building) and its items, and bind the
feedback (from then on read-only). Also the names a volume is known by (档号, scope, series, retention)
and where its bag lives.
"""

from __future__ import annotations

from array import array
from datetime import date
from pathlib import Path

from sqlalchemy import literal, select
from sqlmodel import Session, col

from core.clock import utcnow
from core.counters import next_value
from core.settings import Settings
from exports import texts
from exports.lines import CURRENT
from exports.models import Volume, VolumeItem
from exports.source import snapshot_names
from feedback.models import Action, Feedback, FeedbackEvent, Status

_ITEMS = VolumeItem.__table__  # type: ignore[attr-defined]
_EVENTS = FeedbackEvent.__table__  # type: ignore[attr-defined]
_FEEDBACK = Feedback.__table__  # type: ignore[attr-defined]

GENERATOR = "houqin 0.1.0 (openpyxl write-only, reportlab + pikepdf PDF/A-2b, bagit)"
BOUND_STATUSES = (Status.closed,)


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


def plan(
    session: Session, *, settings: Settings, period: str, channel: str, compiler: str
) -> tuple[list[int], int]:
    """Create the building volumes for a period and channel; return their ids and the open-item count."""
    start, end = month_bounds(period)
    in_period = (
        col(Feedback.channel) == channel,
        col(Feedback.service_date) >= start,
        col(Feedback.service_date) < end,
        col(Feedback.volume_id).is_(None),
        col(Feedback.misuse).is_(False),
    )
    size = max(1, settings.volume_max_items)
    # The ids in a compact array and only each volume's first and last date, streamed: a period's rows as
    # Python objects were the compile's peak memory at 100k items. Table columns: plain rows, without the
    # ORM's per-row loading.
    closed = array("q")
    spans: list[list[date]] = []  # [first, last] service date of each volume-to-be
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
    retention = retention_for(settings, channel)
    problem = settings.channel_codes[channel]
    scope = scope_of(settings, year=start.year, retention=retention, problem_code=problem)
    chunks = [(closed[i : i + size], spans[k]) for k, i in enumerate(range(0, len(closed), size))]
    earlier = len(
        session.execute(
            select(col(Volume.id)).where(col(Volume.period) == period, col(Volume.channel) == channel)
        ).all()
    )
    series = series_of(settings, channel)
    # the chain runs per series (全宗 + 门类 + channel); volumes before 0012 got their series from it
    prev = session.execute(
        select(col(Volume.archival_code))
        .where(col(Volume.series) == series)
        .order_by(col(Volume.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    names = snapshot_names(
        session,
        meeting_ids=session.execute(
            select(_FEEDBACK.c.meeting_id)
            .where(*in_period, col(Feedback.status).in_(BOUND_STATUSES), _FEEDBACK.c.meeting_id.is_not(None))
            .distinct()
        ).scalars(),
    )
    title = texts.TITLE[channel].format(fonds=settings.fonds_name, year=start.year, month=start.month)
    ids = []
    now = utcnow()
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
        # Core statements on the tables, not the ORM's bulk path (docs/benchmarks.md), the items in bounded
        # batches so memory stays flat at 100k items
        for i in range(0, len(feedback_ids), 1000):
            session.execute(
                _ITEMS.insert(),
                [
                    {
                        "volume_id": vol.id,
                        "seq": i + k,
                        "item_code": f"{code}/{i + k:04d}",
                        "feedback_id": fid,
                    }
                    for k, fid in enumerate(feedback_ids[i : i + 1000], 1)
                ],
            )
        in_volume = select(_ITEMS.c.feedback_id).where(_ITEMS.c.volume_id == vol.id)
        # then the feedback's archived events and its binding, each one statement over the volume's items
        session.execute(
            _EVENTS.insert().from_select(
                ["feedback_id", "at", "actor", "action", "detail"],
                in_volume.add_columns(
                    literal(now, _EVENTS.c.at.type),
                    literal(compiler, _EVENTS.c.actor.type),
                    literal(Action.archived.value, _EVENTS.c.action.type),
                    literal(code, _EVENTS.c.detail.type),
                ).order_by(_ITEMS.c.seq),
            )
        )
        session.execute(
            _FEEDBACK.update()
            .where(_FEEDBACK.c.id.in_(in_volume), _FEEDBACK.c.volume_id.is_(None))
            .values(volume_id=vol.id)
        )
        ids.append(vol.id)
        prev = code
    return ids, len(open_refs)
