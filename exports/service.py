"""Compiling a period's closed feedback into sealed volumes (DESIGN §6).

Three steps, so that a crash at any point leaves no half volume and no gap in the numbers:
1. plan — one short transaction: pick the period's closed, unbound feedback, allocate each volume's
   件号 from its scope's counter and each item's 条目序号, insert the volume (status building) and its
   items, and bind the feedback (from then on read-only);
2. build — outside any transaction: write the workbook (as `.part`, fsynced, renamed), copy
   attachments, write the catalogue XML, the description and the seal record into a staging folder
   under `transfer/.staging/`, make it a BagIt bag, and rename it into `transfer/<档号>/`;
3. seal — one short transaction: store the digests and the seal, mark the volume sealed, log the event
   and queue notices to archivists.
A volume left in building by a crash is rebuilt from the database by the next run (`resume`), with the
same numbers and the same content. Re-running a period whose feedback is all bound creates nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from array import array
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import Engine, literal, select
from sqlmodel import Session, col

from core.clock import to_local, utcnow
from core.counters import next_value
from core.db import reader, unit_of_work
from core.settings import Settings
from exports import texts
from exports.bagging import Bagger
from exports.book import write_volume_v2
from exports.lines import CURRENT
from exports.models import FixityEvent, Volume, VolumeItem, VolumeStatus
from exports.records import file_digests, seal_of
from exports.source import iter_items, snapshot_names
from exports.workbook import Header, write_volume
from feedback.models import Action, Feedback, FeedbackEvent, Person, Status

_ITEMS = VolumeItem.__table__  # type: ignore[attr-defined]
_EVENTS = FeedbackEvent.__table__  # type: ignore[attr-defined]
_FEEDBACK = Feedback.__table__  # type: ignore[attr-defined]

GENERATOR = "houqin 0.1.0 (openpyxl write-only, reportlab + pikepdf PDF/A-2b, bagit)"
BOUND_STATUSES = (Status.closed,)


@dataclass
class CompileResult:
    """What one compile run did."""

    period: str
    volumes: list[str] = field(default_factory=list)  # 档号 sealed by this run (resumed ones included)
    items: int = 0
    open_items: int = 0

    def counts(self) -> dict[str, Any]:
        """For the JobRun record."""
        return {
            "volumes": len(self.volumes),
            "items": self.items,
            "open": self.open_items,
            "codes": self.volumes,
        }


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
    for fid, day in session.execute(
        select(_FEEDBACK.c.id, _FEEDBACK.c.service_date)
        .where(*in_period, col(Feedback.status).in_(BOUND_STATUSES))
        .order_by(_FEEDBACK.c.service_date, _FEEDBACK.c.created_at, _FEEDBACK.c.id)
        .execution_options(yield_per=5000)
    ):
        if len(closed) % size == 0:
            spans.append([day, day])
        else:
            spans[-1][1] = day
        closed.append(fid)
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
        # Core statements on the tables (the ORM's bulk path cost more than the rows), the items in bounded
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


_MARKUP = re.compile("[&<>]").search  # what escape() replaces: most values have none, numbers never


class _CatalogueXml:
    """文件目录.xml, streamed item by item."""

    def __init__(self, path: Path, vol: Volume) -> None:
        self.fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 — closed in close()
        self.fh.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        self.fh.write(
            f"<文件目录 档号={quoteattr(vol.archival_code)} 题名={quoteattr(vol.title)} 条目数={quoteattr(str(vol.item_count))}>\n"
        )

    TAGS = ("序号", "档号", "文号", "责任者", "题名", "日期", "密级", "条目数", "备注")
    ROW = "  <条目>" + "".join(f"<{tag}>{{}}</{tag}>" for tag in TAGS) + "</条目>\n"

    def add(self, row: list[Any]) -> None:
        if len(row) != len(self.TAGS):
            raise ValueError(f"a catalogue row has {len(self.TAGS)} fields, not {len(row)}")
        self.fh.write(self.ROW.format(*[escape(v) if isinstance(v, str) and _MARKUP(v) else v for v in row]))

    def close(self) -> None:
        self.fh.write("</文件目录>\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build_and_seal(engine: Engine, *, settings: Settings, volume_id: int) -> str:
    """Write, bag and seal one building volume; return its 档号."""
    with Session(engine) as session:
        vol = session.get(Volume, volume_id)
        assert vol is not None and vol.status == VolumeStatus.building
        prev = (
            session.execute(
                select(Volume).where(col(Volume.archival_code) == vol.prev_archival_code)
            ).scalar_one_or_none()
            if vol.prev_archival_code
            else None
        )
        if prev is not None and prev.status == VolumeStatus.building:
            raise RuntimeError(f"previous volume {prev.archival_code} is not sealed yet")
        session.expunge(vol)
    code = vol.archival_code
    final = transfer_dir(settings, code)
    staging = settings.data_dir / "transfer" / ".staging" / code
    shutil.rmtree(staging, ignore_errors=True)  # a crashed attempt's leftovers
    if final.exists():
        shutil.rmtree(final)  # renamed but never sealed: rebuilt from the database below
    (staging / "电子档案").mkdir(parents=True)
    (staging / "其他").mkdir()
    compiled_at = to_local(utcnow(), settings.tz).strftime("%Y-%m-%d %H:%M")
    header = Header(
        archival_code=code,
        title=vol.title,
        channel=vol.channel,
        period=vol.period,
        retention=vol.retention,
        date_from=vol.date_from,
        date_to=vol.date_to,
        item_count=vol.item_count,
        fonds_name=settings.fonds_name,
        compiled_at=compiled_at,
        compiler=vol.compiler,
        generator=vol.generator,
        first_item=f"{code}/0001",
        last_item=f"{code}/{vol.item_count:04d}",
        prev_archival_code=vol.prev_archival_code,
        prev_seal=prev.seal if prev else None,
        open_refs=[r for r in vol.open_items.splitlines() if r],
    )
    with Bagger() as bagger:  # started now, so that its start-up overlaps the workbook's writing
        seal_record, seal = _stage(engine, settings=settings, vol=vol, header=header, staging=staging)
        bagger.make(
            staging,
            {
                "External-Identifier": code,
                "Source-Organization": settings.fonds_name,
                "Internal-Sender-Description": vol.title,
                "Bag-Group-Identifier": vol.period,
            },
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, final)
    _fsync_dir(final.parent)
    _seal(engine, settings=settings, volume_id=volume_id, record=seal_record, seal=seal)
    return code


def _stage(
    engine: Engine, *, settings: Settings, vol: Volume, header: Header, staging: Path
) -> tuple[dict[str, Any], str]:
    """Write the bag's payload into `staging`: the workbook, attachments, catalogue, seal record and
    description; return the seal record and its seal."""
    assert vol.id is not None
    volume_id = vol.id
    code = vol.archival_code
    compiled_at = header.compiled_at
    xlsx = staging / "电子档案" / f"{code}.xlsx"
    part = xlsx.with_name(xlsx.name + ".part")
    catalogue = _CatalogueXml(staging / "文件目录.xml", vol)
    with reader(engine) as ro, Session(ro) as session:  # never hold SQLite's write lock while writing files
        if vol.line_version >= 2:
            written = write_volume_v2(
                part,
                header=header,
                items=iter_items(session, volume_id=volume_id),
                settings=settings,
                compiler_unit=vol.compiler_unit,
                on_catalogue=catalogue.add,
            )
        else:  # a volume planned before 0012 and rebuilt after a crash keeps its format
            written = write_volume(
                part,
                header=header,
                items=iter_items(session, volume_id=volume_id),
                settings=settings,
                on_catalogue=catalogue.add,
            )
    catalogue.close()
    os.replace(part, xlsx)
    pdf_fields: dict[str, Any] = {}
    if vol.line_version >= 2:
        pdf = staging / "电子档案" / f"{code}.pdf"
        write_pdf_copy(engine, settings=settings, vol=vol, header=header, written=written, path=pdf)
        pdf_sha256, pdf_sm3 = file_digests(str(pdf))
        pdf_fields = {
            "line_version": vol.line_version,
            "series": vol.series,
            "compiler_unit": vol.compiler_unit,
            "pdf": f"电子档案/{code}.pdf",
            "pdf_sha256": pdf_sha256,
            "pdf_sm3": pdf_sm3,
        }
    if written.count != vol.item_count:
        raise RuntimeError(f"{code}: wrote {written.count} items, planned {vol.item_count}")
    missing = []
    for local, name in written.attachments:
        source = settings.data_dir / local
        if source.is_file():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / name)
        else:
            missing.append(name)
    file_sha256, file_sm3 = file_digests(str(xlsx))
    seal_record: dict[str, Any] = {
        "archival_code": code,
        "title": vol.title,
        "fonds_code": settings.fonds_code,
        "fonds_name": settings.fonds_name,
        "period": vol.period,
        "channel": vol.channel,
        "retention": vol.retention,
        "item_count": written.count,
        "item_range": [header.first_item, header.last_item],
        "content_sha256": written.content_sha256,
        "content_sm3": written.content_sm3,
        "file": f"电子档案/{code}.xlsx",
        "file_sha256": file_sha256,
        "file_sm3": file_sm3,
        "prev_archival_code": vol.prev_archival_code,
        "prev_seal": header.prev_seal,
        "compiled_at": compiled_at,
        "compiler": vol.compiler,
        "generator": vol.generator,
        "open_items": header.open_refs,
        "sanitised": [list(x) for x in written.sanitised],
        "missing_attachments": missing,
        **pdf_fields,
    }
    seal = seal_of(seal_record)
    (staging / "其他" / "封卷记录.json").write_text(
        json.dumps({**seal_record, "seal": seal}, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    (staging / "说明文件.txt").write_text(_description(vol, seal_record, seal), encoding="utf-8")
    return seal_record, seal


def write_pdf_copy(
    engine: Engine, *, settings: Settings, vol: Volume, header: Header, written: Any, path: Path
) -> int:
    """The volume's PDF/A-2b copy, rendered from the database records (a step of its own: bench.compile
    measures it apart); return its page count."""
    from exports.pdfcopy import SealInfo, write_pdf

    assert vol.id is not None
    volume_id = vol.id
    with reader(engine) as ro, Session(ro) as session:
        return write_pdf(
            path,
            header=header,
            items=lambda: iter_items(session, volume_id=volume_id),
            settings=settings,
            compiler_unit=vol.compiler_unit,
            seal=SealInfo(written.content_sha256, written.content_sm3),
            sanitised=len(written.sanitised),
        )


def _description(vol: Volume, record: dict[str, Any], seal: str) -> str:
    lines = [
        f"档号：{vol.archival_code}",
        f"题名：{vol.title}",
        f"条目数：{record['item_count']}（{record['item_range'][0]} — {record['item_range'][1]}）",
        f"电子文件：data/{record['file']}（SHA-256 {record['file_sha256']}，SM3 {record['file_sm3']}）",
        f"内容摘要：SHA-256 {record['content_sha256']}，SM3 {record['content_sm3']}",
        f"上一卷：{record['prev_archival_code'] or '无'}（封卷摘要 {record['prev_seal'] or '无'}）",
        f"封卷摘要：{seal}（data/其他/封卷记录.json 去掉 seal 字段后的规范 JSON 的 SHA-256）",
        "目录：data/文件目录.xml；附件：data/附件/",
    ]
    return "\n".join(lines) + "\n"


def _seal(engine: Engine, *, settings: Settings, volume_id: int, record: dict[str, Any], seal: str) -> None:
    with unit_of_work(engine) as session:
        vol = session.get(Volume, volume_id)
        assert vol is not None
        vol.content_sha256 = record["content_sha256"]
        vol.content_sm3 = record["content_sm3"]
        vol.file_sha256 = record["file_sha256"]
        vol.file_sm3 = record["file_sm3"]
        vol.prev_seal = record["prev_seal"]
        vol.pdf_sha256 = record.get("pdf_sha256")
        vol.pdf_sm3 = record.get("pdf_sm3")
        vol.seal = seal
        vol.status = VolumeStatus.sealed
        vol.sealed_at = utcnow()
        session.add(vol)
        session.add(
            FixityEvent(
                volume_id=volume_id,
                archival_code=vol.archival_code,
                event_type="compile",
                outcome="pass",
                detail=seal,
            )
        )
        notify_archivists(session, settings=settings, volume=vol)


def notify_archivists(session: Session, *, settings: Settings, volume: Volume) -> int:
    """Queue a notice to every archivist (by WeChat or WeCom) that a volume awaits receipt."""
    text = f"新案卷待接收：{volume.archival_code}\n{volume.title}\n条目数：{volume.item_count}\n请在控制台或用 houqin receive 核验接收。"
    sent = 0
    for person in session.execute(select(Person)).scalars():
        if "archivist" not in person.roles.split(","):
            continue
        from core.outbox import enqueue_to

        key = f"sealed:{volume.archival_code}:{person.id}"
        if (
            enqueue_to(
                session, wecom_userid=person.wecom_userid, openid=person.openid, text=text, dedupe_key=key
            )
            is False
        ):
            continue
        sent += 1
    return sent


def resume(engine: Engine, *, settings: Settings) -> list[str]:
    """Finish every volume a crash left in building, oldest first."""
    with Session(engine) as session:
        ids = list(
            session.execute(
                select(col(Volume.id))
                .where(col(Volume.status) == VolumeStatus.building)
                .order_by(col(Volume.id))
            ).scalars()
        )
    return [build_and_seal(engine, settings=settings, volume_id=i) for i in ids if i is not None]


def compile_locked(
    engine: Engine, *, settings: Settings, period: str, channel: str | None = None, compiler: str = ""
) -> CompileResult:
    """Compile a period (both channels unless one is named); the caller holds the compile lock."""
    month_bounds(period)
    result = CompileResult(period=period)
    result.volumes += resume(engine, settings=settings)
    for ch in [channel] if channel else list(settings.channel_codes):
        with unit_of_work(engine) as session:
            ids, open_count = plan(session, settings=settings, period=period, channel=ch, compiler=compiler)
        result.open_items += open_count
        for volume_id in ids:
            result.volumes.append(build_and_seal(engine, settings=settings, volume_id=volume_id))
    with Session(engine) as session:
        if result.volumes:
            result.items = sum(
                v.item_count
                for v in session.execute(
                    select(Volume).where(col(Volume.archival_code).in_(result.volumes))
                ).scalars()
            )
    return result


def compile_period(
    engine: Engine, *, settings: Settings, period: str, channel: str | None = None, compiler: str = ""
) -> CompileResult:
    """Compile a period under the cross-process compile lock (one compile at a time)."""
    from core.locks import exclusive

    with exclusive(engine, name="compile", settings=settings):
        return compile_locked(engine, settings=settings, period=period, channel=channel, compiler=compiler)
