"""Verification of one sealed volume: every check of its bag and files against the database, sorted under the
四性 check codes (DA/T 70-2018, `exports.fourfold`; the regime: docs/archival.md).

`check_volume` looks at the BagIt bag and its External-Identifier, the catalogue (文件目录.xml), the
workbook's and the PDF copy's file digests against the database and the seal record, the seal record
against its own seal and the database, the content digests recomputed from the database and from reading
the workbook back (once, `exports.xlsxread`), the numbering of the items and the hash chain between
volumes. At the 归档 stage (`built`) the database side's content digests are the build's, computed from the
rows it streamed; the audit and the receipt recompute them from the database. Problems are reported, never
fixed. Items are streamed from the database and from the workbook side by side, so memory stays
flat however large a volume is. The audit (`exports.fixity`) and the receipt (`exports.receive`) both
run these checks.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from core.settings import Settings
from exports.bagging import external_identifier, validate_bag
from exports.fourfold import Checks, code_problems, file_checks, metadata_problems
from exports.lines import CODE_AT, RECORDS
from exports.models import FixityEvent, Volume, VolumeItem
from exports.plan import transfer_dir
from exports.readback import read_records
from exports.records import ContentDigest, canonical, file_digests, seal_of
from exports.source import iter_items
from exports.texts import PROBLEM_WHERE, PROBLEMS
from exports.xlsxread import refuse_dtd, safe_iterparse
from feedback.models import Feedback

MAX_ITEM_PROBLEMS = 5  # per kind and volume; the rest are counted, not listed


class _Capped:
    """Problems of one kind on one volume: the first few listed, the rest counted."""

    def __init__(self) -> None:
        self.listed: list[str] = []
        self.n = 0

    def add(self, text: str) -> None:
        """Count a problem; list it while fewer than MAX_ITEM_PROBLEMS are listed."""
        self.n += 1
        if self.n <= MAX_ITEM_PROBLEMS:
            self.listed.append(text)

    def lines(self) -> list[str]:
        """The listed problems, and how many more there were."""
        more = self.n - len(self.listed)
        return self.listed + ([PROBLEMS["more"].format(n=more)] if more else [])


def _algos(pairs: list[tuple[str, str | None, str | None]]) -> str:
    """Names of the digests whose two values differ, e.g. 'SHA-256、SM3'; '' when all agree."""
    return "、".join(name for name, a, b in pairs if a != b)


def _bag_problems(bag: Path, code: str) -> list[str]:
    if not bag.is_dir():
        return [PROBLEMS["bag_missing"].format(path=bag)]
    out = [PROBLEMS["bag_invalid"].format(detail=d) for d in validate_bag(bag)]
    found = external_identifier(bag)
    if found != code:
        out.append(PROBLEMS["bag_id"].format(found=found))
    return out


def _catalogue_problems(bag: Path, vol: Volume) -> list[str]:
    """文件目录.xml parses, names this volume and lists its items in order (streamed, by lxml hardened as
    defusedxml hardens ElementTree: no entity, no DTD, no network)."""
    path = bag / "data" / "文件目录.xml"
    code = vol.archival_code
    wrong: list[str] = []
    n = 0
    root = None
    try:
        for event, elem in safe_iterparse(str(path), events=("start", "end"), tag=("文件目录", "条目")):
            if event == "start" and elem.tag == "文件目录":
                refuse_dtd(elem)
                root = elem
                if elem.get("档号") != code or elem.get("条目数") != str(vol.item_count):
                    wrong.append(f"档号/条目数 {elem.get('档号')}/{elem.get('条目数')}")
            elif event == "end" and elem.tag == "条目":
                n += 1
                if elem.findtext("档号") != f"{code}/{n:04d}" and len(wrong) < MAX_ITEM_PROBLEMS:
                    wrong.append(f"第{n}条 {elem.findtext('档号')}")
                if root is not None and elem.getparent() is root:
                    root.remove(elem)  # keep memory flat
    except Exception as exc:  # missing, not XML, or a refused DTD: one problem
        return [PROBLEMS["catalogue_bad"].format(detail=f"{type(exc).__name__}: {exc}")]
    if n != vol.item_count:
        wrong.append(f"条目 {n}/{vol.item_count}")
    return [PROBLEMS["catalogue"].format(what=w) for w in wrong]


def _seal_record(bag: Path) -> tuple[dict[str, Any] | None, str]:
    path = bag / "data" / "其他" / "封卷记录.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"{path.name}: {exc}"
    if not isinstance(data, dict):
        return None, f"{path.name}: not a JSON object"
    return data, ""


SEAL_FIELDS = (
    "archival_code",
    "item_count",
    "content_sha256",
    "content_sm3",
    "file_sha256",
    "file_sm3",
    "prev_archival_code",
    "prev_seal",
)


SEAL_FIELDS_V2 = ("line_version", "series", "compiler_unit", "pdf_sha256", "pdf_sm3")


def _seal_problems(vol: Volume, rec: dict[str, Any]) -> list[str]:
    out = []
    if seal_of(rec) != rec.get("seal"):
        out.append(PROBLEMS["seal_recompute"])
    if rec.get("seal") != vol.seal:
        out.append(PROBLEMS["seal_db"])
    names = SEAL_FIELDS + (SEAL_FIELDS_V2 if (vol.line_version or 1) >= 2 else ())
    for name in names:
        if rec.get(name) != getattr(vol, name):
            out.append(PROBLEMS["seal_field"].format(field=name))
    return out


def _file_problems(vol: Volume, xlsx: Path, rec: dict[str, Any] | None) -> list[str]:
    if not xlsx.is_file():
        return [PROBLEMS["file_missing"].format(path=xlsx)]
    sha, sm3 = file_digests(str(xlsx))
    out = []
    algos = _algos([("SHA-256", sha, vol.file_sha256), ("SM3", sm3, vol.file_sm3)])
    if algos:
        out.append(PROBLEMS["file_db"].format(name=xlsx.name, algos=algos))
    if rec is not None:
        algos = _algos([("SHA-256", sha, rec.get("file_sha256")), ("SM3", sm3, rec.get("file_sm3"))])
        if algos:
            out.append(PROBLEMS["file_seal"].format(name=xlsx.name, algos=algos))
    return out


def _workbook_rows(xlsx: Path, errors: list[str], version: int = 1) -> Iterator[tuple[list[Any], str]]:
    """The workbook's 明细 rows; an unreadable file ends the stream with a problem, never an exception."""
    if not xlsx.is_file():
        return
    try:
        yield from read_records(xlsx, version)
    except Exception as exc:  # a damaged .xlsx fails in zipfile, zlib, XML or openpyxl: all are one problem
        errors.append(PROBLEMS["file_unreadable"].format(detail=f"{type(exc).__name__}: {exc}"))


_CONTENT_CODES = ("KY-01", "WZ-03", "ZS-03")


def _db_side(
    session: Session, *, settings: Settings, vol: Volume
) -> Iterator[tuple[int, str, Any, list[Any] | None]]:
    """Each item from the database, streamed: (seq, item code, the volume its feedback is bound to, the item
    digest of its line recomputed), feeding the database side's content digest."""
    assert vol.id is not None
    make_record = RECORDS[vol.line_version or 1]
    for item in iter_items(session, volume_id=vol.id):
        yield item.seq, item.item_code, item.feedback.volume_id, make_record(item, settings=settings)[0]


def _numbering(
    session: Session, *, volume_id: int, chunk: int = 5000
) -> Iterator[tuple[int, str, Any, list[Any] | None]]:
    """Each item's numbering from the database, streamed in chunks (no line: its digest is the build's)."""
    last = 0
    while True:
        rows = session.execute(
            select(col(VolumeItem.seq), col(VolumeItem.item_code), col(Feedback.volume_id))
            .join(Feedback, col(Feedback.id) == col(VolumeItem.feedback_id))
            .where(col(VolumeItem.volume_id) == volume_id, col(VolumeItem.seq) > last)
            .order_by(col(VolumeItem.seq))
            .limit(chunk)
        ).all()
        if not rows:
            return
        for seq, item_code, bound_to in rows:
            yield seq, item_code, bound_to, None
        last = rows[-1][0]


def _content_problems(
    engine: Engine, *, settings: Settings, vol: Volume, xlsx: Path, checks: Checks, built: bool = False
) -> None:
    """The content and numbering checks: the workbook read back once, its lines' digests against the
    content digests `vol` carries and against the database's, side by side.

    `built` (the 归档 stage, just after the build): the database side's content digests are those `vol`
    carries, which the build computed from the very rows it streamed into the workbook, so only the
    numbering is read from the database; on any problem the full comparison runs for the itemised report.
    """
    if built:
        quick = Checks()
        _compare(engine, settings=settings, vol=vol, xlsx=xlsx, checks=quick, recompute=False)
        if not any(quick.problems.get(c) for c in _CONTENT_CODES):
            for c in _CONTENT_CODES:
                checks.add(c, [])
            return
    _compare(engine, settings=settings, vol=vol, xlsx=xlsx, checks=checks, recompute=True)


def _compare(
    engine: Engine, *, settings: Settings, vol: Volume, xlsx: Path, checks: Checks, recompute: bool
) -> None:
    """Stream the workbook's lines and the database's items side by side (`recompute`: the items' lines
    and content digests recomputed from the database too; else only their numbering)."""
    assert vol.id is not None
    code = vol.archival_code
    version = vol.line_version or 1
    seq_at, code_at = CODE_AT[version]
    out: list[str] = []  # numbering problems (完整性)
    digests: list[str] = []  # content problems (真实性)
    wb_errors: list[str] = []
    db_digest, wb_digest = ContentDigest(), ContentDigest()
    seq_bad, code_bad, unbound, changed, row_digest, row_number = (_Capped() for _ in range(6))
    last_seq = 0
    db_count = 0
    with Session(engine) as session:
        items = (
            _db_side(session, settings=settings, vol=vol)
            if recompute
            else _numbering(session, volume_id=vol.id)
        )
        for n, (item, wb_row) in enumerate(
            zip_longest(items, _workbook_rows(xlsx, wb_errors, version)), start=1
        ):
            carried: str | None = None
            if wb_row is not None:
                values, carried = wb_row
                if wb_digest.add(values) != carried:
                    row_digest.add(PROBLEMS["item_digest"].format(item=f"{code}/{n:04d}"))
                found = f"{canonical(values[seq_at])} {canonical(values[code_at])}"
                if found != f"{n} {code}/{n:04d}":
                    row_number.add(PROBLEMS["item_row"].format(n=n, found=found))
            if item is None:
                continue
            seq, item_code, bound_to, line_values = item
            db_count += 1
            if seq != last_seq + 1:
                seq_bad.add(PROBLEMS["seq"].format(expected=last_seq + 1, found=seq))
            last_seq = seq
            if item_code != f"{code}/{seq:04d}":
                code_bad.add(PROBLEMS["item_code"].format(found=item_code, expected=f"{code}/{seq:04d}"))
            if bound_to != vol.id:
                unbound.add(PROBLEMS["unbound"].format(item=item_code))
            if line_values is not None:
                db_hash = db_digest.add(line_values)
                if carried is not None and db_hash != carried:
                    changed.add(PROBLEMS["item_changed"].format(item=item_code))
        for capped in (seq_bad, code_bad, unbound, row_number):
            out += capped.lines()
        for capped in (changed, row_digest):
            digests += capped.lines()
        rows = session.execute(
            select(func.count()).select_from(VolumeItem).where(col(VolumeItem.volume_id) == vol.id)
        ).scalar_one()
        bound = session.execute(
            select(func.count()).select_from(Feedback).where(col(Feedback.volume_id) == vol.id)
        ).scalar_one()
    if rows != vol.item_count or db_count != vol.item_count:
        db_zh, db_en = PROBLEM_WHERE["db"]
        out.append(
            PROBLEMS["item_count"].format(
                expected=vol.item_count,
                where=db_zh,
                where_en=db_en,
                found=rows if rows != vol.item_count else db_count,
            )
        )
    if bound > rows:
        out.append(PROBLEMS["extra_bound"].format(n=bound - rows))
    if recompute:
        algos = _algos(
            [("SHA-256", db_digest.sha256, vol.content_sha256), ("SM3", db_digest.sm3, vol.content_sm3)]
        )
        if algos:
            digests.append(PROBLEMS["content_db"].format(algos=algos))
    checks.add("KY-01", wb_errors)
    if xlsx.is_file() and not wb_errors:
        if wb_digest.count != vol.item_count:
            wb_zh, wb_en = PROBLEM_WHERE["wb"]
            out.append(
                PROBLEMS["item_count"].format(
                    expected=vol.item_count, where=wb_zh, where_en=wb_en, found=wb_digest.count
                )
            )
        algos = _algos(
            [("SHA-256", wb_digest.sha256, vol.content_sha256), ("SM3", wb_digest.sm3, vol.content_sm3)]
        )
        if algos:
            digests.append(PROBLEMS["content_wb"].format(algos=algos))
    checks.add("WZ-03", out)
    checks.add("ZS-03", digests)


@dataclass(frozen=True)
class Link:
    """What the chain check needs of a volume."""

    id: int
    archival_code: str
    seal: str | None
    series: str | None = None


def chain(session: Session) -> tuple[dict[str, Link], list[Link]]:
    """Every volume (any status) by 档号 and in creation order."""
    fields = [Volume.__table__.c[name] for name in Link.__dataclass_fields__]  # type: ignore[attr-defined]
    links = [Link(**row) for row in session.execute(select(*fields).order_by(col(Volume.id))).mappings()]
    return {link.archival_code: link for link in links}, links


def _chain_problems(vol: Volume, by_code: dict[str, Link], ordered: list[Link]) -> list[str]:
    if (vol.line_version or 1) >= 2:  # a chain per series (全宗 + 门类 + channel)
        ordered = [link for link in ordered if link.series == vol.series]
    at = bisect_left([link.id for link in ordered], vol.id or 0)
    expected = ordered[at - 1] if at > 0 else None
    if vol.prev_archival_code is None:
        if expected is not None:
            return [PROBLEMS["chain_order"].format(found="—", expected=expected.archival_code)]
        return []
    prev = by_code.get(vol.prev_archival_code)
    if prev is None:
        return [PROBLEMS["chain_broken"].format(prev=vol.prev_archival_code)]
    out = []
    if expected is None or expected.archival_code != prev.archival_code:
        out.append(
            PROBLEMS["chain_order"].format(
                found=prev.archival_code, expected=expected.archival_code if expected else "—"
            )
        )
    if vol.prev_seal != prev.seal:
        out.append(PROBLEMS["chain_seal"].format(prev=prev.archival_code))
    return out


def check_volume(
    engine: Engine,
    *,
    settings: Settings,
    vol: Volume,
    by_code: dict[str, Link],
    ordered: list[Link],
    built: bool = False,
) -> Checks:
    """Every problem of one sealed volume, sorted under the 四性 check codes: bag, catalogue, file digests,
    seal record, content, numbering, chain, 档号, metadata, formats, security (`built`: the 归档 stage, `vol`
    carrying the digests its build computed, see `_content_problems`)."""
    code = vol.archival_code
    bag = transfer_dir(settings, code)
    xlsx = settings.data_dir / vol.file_name
    pdf = xlsx.with_suffix(".pdf") if (vol.line_version or 1) >= 2 else None
    checks = Checks()
    checks.add("WZ-01", _bag_problems(bag, code))
    rec: dict[str, Any] | None = None
    if bag.is_dir():
        checks.add("WZ-04", _catalogue_problems(bag, vol))
        rec, why = _seal_record(bag)
        if rec is None:
            checks.add("ZS-02", PROBLEMS["seal_missing"].format(detail=why))
        else:
            checks.add("ZS-02", _seal_problems(vol, rec))
    checks.add("ZS-01", _file_problems(vol, xlsx, rec))
    if pdf is not None:
        checks.add("ZS-01", _pdf_digest_problems(vol, pdf, rec))
    _content_problems(engine, settings=settings, vol=vol, xlsx=xlsx, checks=checks, built=built)
    checks.add("ZS-04", _chain_problems(vol, by_code, ordered))
    checks.add("ZS-05", code_problems(code))
    checks.add("WZ-02", metadata_problems(vol))
    file_checks(checks, files=[xlsx], pdf=pdf)
    return checks


def _pdf_digest_problems(vol: Volume, pdf: Path, rec: dict[str, Any] | None) -> list[str]:
    """The PDF/A copy's digests against the database and the seal record, naming the file."""
    if not pdf.is_file():
        return [PROBLEMS["pdf_missing"].format(path=pdf)]
    sha, sm3 = file_digests(str(pdf))
    out = []
    algos = _algos([("SHA-256", sha, vol.pdf_sha256), ("SM3", sm3, vol.pdf_sm3)])
    if algos:
        out.append(PROBLEMS["pdf_db"].format(name=pdf.name, algos=algos))
    if rec is not None:
        algos = _algos([("SHA-256", sha, rec.get("pdf_sha256")), ("SM3", sm3, rec.get("pdf_sm3"))])
        if algos:
            out.append(PROBLEMS["pdf_seal"].format(name=pdf.name, algos=algos))
    return out


def log_checks(session: Session, *, vol: Volume, checks: Checks, stage: str, agent: str) -> dict[str, Any]:
    """One FixityEvent per 四性 check with its result; return the report."""
    report = checks.report(volume=vol.archival_code, stage=stage)
    for c in report["checks"]:
        session.add(
            FixityEvent(
                volume_id=vol.id,
                archival_code=vol.archival_code,
                event_type=f"4x:{stage}",
                outcome=c["result"],
                detail=json.dumps({**c, "stage": report["stage"]}, ensure_ascii=False),
                agent=agent,
            )
        )
    return report
