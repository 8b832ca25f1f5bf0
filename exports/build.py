"""Step 2 of a compile, the build (the run as a whole: `exports.seal`), outside any transaction.

Into a staging folder under `transfer/.staging/`: the workbook (written as `.part`, fsynced, renamed), the
PDF/A copy (version-2 volumes), the attachments, the catalogue XML (文件目录.xml), the seal record and the
description; the folder is then made a BagIt bag and renamed into `transfer/<档号>/`. Everything is read
from the database, so a volume a crash left in building is rebuilt with the same content.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from core.clock import to_local, utcnow
from core.db import reader
from core.settings import Settings
from exports import texts
from exports.bagging import Bagger
from exports.book import write_volume_v2
from exports.models import Volume, VolumeStatus
from exports.plan import transfer_dir
from exports.records import file_digests, seal_of
from exports.sheets import Header, Written
from exports.source import iter_items
from exports.workbook import write_volume


@dataclass(frozen=True)
class Built:
    """A volume's bag, in place under `transfer/<档号>/`: its 档号, seal record and seal."""

    archival_code: str
    record: dict[str, Any]
    seal: str


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
        """Write one catalogue row (the nine 卷内目录 fields) as an 条目."""
        if len(row) != len(self.TAGS):
            raise ValueError(f"a catalogue row has {len(self.TAGS)} fields, not {len(row)}")
        self.fh.write(self.ROW.format(*[escape(v) if isinstance(v, str) and _MARKUP(v) else v for v in row]))

    def close(self) -> None:
        """End the document and fsync it."""
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


def build(engine: Engine, *, settings: Settings, volume_id: int) -> Built:
    """Write and bag one building volume into `transfer/<档号>/` (replacing what a crashed attempt left)."""
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
        line_version=vol.line_version,
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
    return Built(code, seal_record, seal)


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
    engine: Engine, *, settings: Settings, vol: Volume, header: Header, written: Written, path: Path
) -> int:
    """The volume's PDF/A-2b copy at `path`, rendered from the database records in a read session of its
    own (after the workbook, whose digests its 封卷信息 page prints); return its page count."""
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
    return texts.DESCRIPTION.format(
        code=vol.archival_code,
        title=vol.title,
        count=record["item_count"],
        first=record["item_range"][0],
        last=record["item_range"][1],
        file=record["file"],
        file_sha256=record["file_sha256"],
        file_sm3=record["file_sm3"],
        content_sha256=record["content_sha256"],
        content_sm3=record["content_sm3"],
        prev=record["prev_archival_code"] or "无",
        prev_seal=record["prev_seal"] or "无",
        seal=seal,
    )
