"""Fixity audits and receipt of sealed volumes (DESIGN §6; the 四性 checks of GB/T 18894 / DA/T 70).

`verify` re-validates every sealed or received volume (or one): the BagIt bag and its External-Identifier,
the catalogue (文件目录.xml), the workbook's file digests against the database and the seal record, the seal record against its own
seal and the database, the content digests recomputed from the database and from reading the workbook
back, the numbering of items and of volumes, and the hash chain between volumes. `receive` runs the same
checks on one volume and, when they pass, records the archivist (检查人) and the time of receipt.

Problems are reported, never fixed. Every run leaves a FixityEvent per volume it looked at (and one per
chain or numbering problem that no existing volume carries). Items are streamed from the database and
from the workbook side by side, so memory stays flat however large a volume is.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any

from defusedxml.ElementTree import iterparse
from sqlalchemy import Engine, func, select, update
from sqlmodel import Session, col

from core.clock import to_local, utcnow
from core.db import reader, unit_of_work
from core.models import Counter
from core.settings import Settings
from exports.bagging import external_identifier, validate_bag
from exports.fourfold import Checks, code_problems, file_checks, metadata_problems
from exports.lines import CODE_AT, RECORDS
from exports.models import FixityEvent, Volume, VolumeItem, VolumeStatus
from exports.plan import archival_code as make_archival_code
from exports.plan import transfer_dir
from exports.records import ContentDigest, canonical, file_digests, seal_of
from exports.source import iter_items
from exports.workbook import read_records
from feedback.models import Feedback

# ---- what people read: every problem and refusal, Chinese first, English after ----------------------
TEXT = {
    "bag_missing": "案卷包缺失 / bag missing: {path}",
    "bag_invalid": "案卷包校验不通过 / bag invalid: {detail}",
    "bag_id": "案卷包外部标识与档号不符 / bag External-Identifier is {found!r}, not the 档号",
    "file_missing": "电子文件缺失 / workbook missing: {path}",
    "pdf_missing": "版式文件缺失 / PDF copy missing: {path}",
    "pdf_db": "版式文件摘要与数据库不符（{algos}）：{name} / {name} {algos} differs from the database",
    "pdf_seal": "版式文件摘要与封卷记录不符（{algos}）：{name} / {name} {algos} differs from the seal record",
    "file_db": "电子文件摘要与数据库不符（{algos}）：{name} / workbook {name} {algos} differs from the database",
    "file_seal": "电子文件摘要与封卷记录不符（{algos}）：{name} / workbook {name} {algos} differs from the seal record",
    "file_unreadable": "电子文件无法读取 / workbook unreadable: {detail}",
    "catalogue_bad": "文件目录无法解析 / 文件目录.xml is not well-formed: {detail}",
    "catalogue": "文件目录与案卷不符：{what} / 文件目录.xml disagrees with the volume: {what}",
    "seal_missing": "封卷记录缺失或无法读取 / seal record missing or unreadable: {detail}",
    "seal_recompute": "封卷记录被改动：封卷摘要复算不符 / seal record altered: its seal does not recompute",
    "seal_db": "封卷摘要与数据库不符 / seal differs from the database",
    "seal_field": "封卷记录与数据库不符：{field} / seal record {field} differs from the database",
    "content_db": "由数据库复算的内容摘要不符（{algos}），入卷后数据被改动 / content {algos} recomputed from the database differs",
    "content_wb": "由电子文件读回的内容摘要不符（{algos}） / content {algos} read back from the workbook differs",
    "item_changed": "条目{item}的数据库内容与封存内容不符 / item {item} changed in the database since sealing",
    "item_digest": "条目{item}的条目SHA-256与其内容不符 / item {item}: row does not match its 条目SHA-256",
    "item_row": "电子文件第{n}条的条目序号或标识不符（{found}） / workbook row {n} numbered {found}",
    "more": "……另有{n}处同类问题 / … and {n} more like it",
    "seq": "条目序号不连续：应为{expected}，实为{found} / item numbers not contiguous: expected {expected}, found {found}",
    "item_code": "条目标识不符：{found}，应为{expected} / item code {found} should be {expected}",
    "item_count": "条目数不符：登记{expected}，{where}实有{found} / item count: recorded {expected}, {where_en} has {found}",
    "unbound": "条目{item}的反馈未绑定本卷 / item {item}: its feedback is not bound to this volume",
    "extra_bound": "另有{n}条反馈标为本卷但不在卷内 / {n} feedback rows point at this volume but are not items",
    "volume_gap": "件号缺失：{code}（案卷记录已不存在） / volume number missing: {code} (its row is gone)",
    "chain_broken": "链断裂：上一卷{prev}已不存在 / chain broken: previous volume {prev} no longer exists",
    "chain_order": "链不符：上一卷记为{found}，应为{expected} / chain mismatch: previous volume is {found}, expected {expected}",
    "chain_seal": "链不符：上一卷封卷摘要与{prev}的封卷摘要不符 / chain mismatch: prev_seal is not {prev}'s seal",
    "unknown": "无此档号：{code} / no volume {code}",
    "not_sealed": "案卷{code}尚未封卷 / volume {code} is not sealed yet",
    "already_received": "案卷{code}已于{at}由{by}接收，不能重复接收 / volume {code} was already received by {by} at {at}",
    "no_receiver": "请写明检查人（至多100字） / say who receives the volume (检查人, at most 100 characters)",
}
WHERE = {"db": ("数据库", "the database"), "wb": ("电子文件", "the workbook")}
# ------------------------------------------------------------------------------------------------------

MAX_ITEM_PROBLEMS = 5  # per kind and volume; the rest are counted, not listed
CHECKED_STATUSES = (VolumeStatus.sealed, VolumeStatus.received)


class FixityError(Exception):
    """A fixity or receipt request that cannot be carried out; the message is for people."""


class UnknownVolume(FixityError, LookupError):
    """No volume has this 档号."""


class ReceiptRefused(FixityError):
    """The volume cannot be received (already received, or not sealed)."""


@dataclass
class Report:
    """What a verify or receive run found: volumes checked and problems as (档号, text)."""

    checked: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    received: bool = False
    reports: list[dict[str, Any]] = field(default_factory=list)  # the 四性检测 report of each volume

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return not self.problems

    @property
    def failed(self) -> int:
        """How many 档号 (existing or missing) have problems."""
        return len({code for code, _ in self.problems})

    def counts(self) -> dict[str, int]:
        """For the JobRun record."""
        return {"checked": self.checked, "failed": self.failed}


class _Capped:
    """Problems of one kind on one volume: the first few listed, the rest counted."""

    def __init__(self) -> None:
        self.listed: list[str] = []
        self.n = 0

    def add(self, text: str) -> None:
        self.n += 1
        if self.n <= MAX_ITEM_PROBLEMS:
            self.listed.append(text)

    def lines(self) -> list[str]:
        more = self.n - len(self.listed)
        return self.listed + ([TEXT["more"].format(n=more)] if more else [])


def _algos(pairs: list[tuple[str, str | None, str | None]]) -> str:
    """Names of the digests whose two values differ, e.g. 'SHA-256、SM3'; '' when all agree."""
    return "、".join(name for name, a, b in pairs if a != b)


def _bag_problems(bag: Path, code: str) -> list[str]:
    if not bag.is_dir():
        return [TEXT["bag_missing"].format(path=bag)]
    out = [TEXT["bag_invalid"].format(detail=d) for d in validate_bag(bag)]
    found = external_identifier(bag)
    if found != code:
        out.append(TEXT["bag_id"].format(found=found))
    return out


def _catalogue_problems(bag: Path, vol: Volume) -> list[str]:
    """文件目录.xml parses, names this volume and lists its items in order (streamed)."""
    path = bag / "data" / "文件目录.xml"
    code = vol.archival_code
    wrong: list[str] = []
    n = 0
    root = None
    try:
        for event, elem in iterparse(str(path), events=("start", "end")):
            if event == "start" and elem.tag == "文件目录":
                root = elem
                if elem.get("档号") != code or elem.get("条目数") != str(vol.item_count):
                    wrong.append(f"档号/条目数 {elem.get('档号')}/{elem.get('条目数')}")
            elif event == "end" and elem.tag == "条目":
                n += 1
                if elem.findtext("档号") != f"{code}/{n:04d}" and len(wrong) < MAX_ITEM_PROBLEMS:
                    wrong.append(f"第{n}条 {elem.findtext('档号')}")
                if root is not None:
                    root.remove(elem)  # keep memory flat
    except Exception as exc:  # missing, not XML, or refused by defusedxml: one problem
        return [TEXT["catalogue_bad"].format(detail=f"{type(exc).__name__}: {exc}")]
    if n != vol.item_count:
        wrong.append(f"条目 {n}/{vol.item_count}")
    return [TEXT["catalogue"].format(what=w) for w in wrong]


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
        out.append(TEXT["seal_recompute"])
    if rec.get("seal") != vol.seal:
        out.append(TEXT["seal_db"])
    names = SEAL_FIELDS + (SEAL_FIELDS_V2 if (vol.line_version or 1) >= 2 else ())
    for name in names:
        if rec.get(name) != getattr(vol, name):
            out.append(TEXT["seal_field"].format(field=name))
    return out


def _file_problems(vol: Volume, xlsx: Path, rec: dict[str, Any] | None) -> list[str]:
    if not xlsx.is_file():
        return [TEXT["file_missing"].format(path=xlsx)]
    sha, sm3 = file_digests(str(xlsx))
    out = []
    algos = _algos([("SHA-256", sha, vol.file_sha256), ("SM3", sm3, vol.file_sm3)])
    if algos:
        out.append(TEXT["file_db"].format(name=xlsx.name, algos=algos))
    if rec is not None:
        algos = _algos([("SHA-256", sha, rec.get("file_sha256")), ("SM3", sm3, rec.get("file_sm3"))])
        if algos:
            out.append(TEXT["file_seal"].format(name=xlsx.name, algos=algos))
    return out


def _workbook_rows(xlsx: Path, errors: list[str], version: int = 1) -> Iterator[tuple[list[Any], str]]:
    """The workbook's 明细 rows; an unreadable file ends the stream with a problem, never an exception."""
    if not xlsx.is_file():
        return
    try:
        yield from read_records(xlsx, version)
    except Exception as exc:  # a damaged .xlsx fails in zipfile, zlib, XML or openpyxl: all are one problem
        errors.append(TEXT["file_unreadable"].format(detail=f"{type(exc).__name__}: {exc}"))


def _content_problems(engine: Engine, *, settings: Settings, vol: Volume, xlsx: Path, checks: Checks) -> None:
    """Recompute the content digests from the database and from the workbook in one streamed pass."""
    assert vol.id is not None
    code = vol.archival_code
    version = vol.line_version or 1
    make_record = RECORDS[version]
    seq_at, code_at = CODE_AT[version]
    out: list[str] = []  # numbering problems (完整性)
    digests: list[str] = []  # content problems (真实性)
    wb_errors: list[str] = []
    db_digest, wb_digest = ContentDigest(), ContentDigest()
    seq_bad, code_bad, unbound, changed, row_digest, row_number = (_Capped() for _ in range(6))
    last_seq = 0
    with Session(engine) as session:
        items = iter_items(session, volume_id=vol.id)
        for n, (item, wb_row) in enumerate(
            zip_longest(items, _workbook_rows(xlsx, wb_errors, version)), start=1
        ):
            carried: str | None = None
            if wb_row is not None:
                values, carried = wb_row
                if wb_digest.add(values) != carried:
                    row_digest.add(TEXT["item_digest"].format(item=f"{code}/{n:04d}"))
                found = f"{canonical(values[seq_at])} {canonical(values[code_at])}"
                if found != f"{n} {code}/{n:04d}":
                    row_number.add(TEXT["item_row"].format(n=n, found=found))
            if item is None:
                continue
            if item.seq != last_seq + 1:
                seq_bad.add(TEXT["seq"].format(expected=last_seq + 1, found=item.seq))
            last_seq = item.seq
            if item.item_code != f"{code}/{item.seq:04d}":
                code_bad.add(
                    TEXT["item_code"].format(found=item.item_code, expected=f"{code}/{item.seq:04d}")
                )
            if item.feedback.volume_id != vol.id:
                unbound.add(TEXT["unbound"].format(item=item.item_code))
            db_hash = db_digest.add(make_record(item, settings=settings)[0])
            if carried is not None and db_hash != carried:
                changed.add(TEXT["item_changed"].format(item=item.item_code))
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
    if rows != vol.item_count or db_digest.count != vol.item_count:
        db_zh, db_en = WHERE["db"]
        out.append(
            TEXT["item_count"].format(
                expected=vol.item_count,
                where=db_zh,
                where_en=db_en,
                found=rows if rows != vol.item_count else db_digest.count,
            )
        )
    if bound > rows:
        out.append(TEXT["extra_bound"].format(n=bound - rows))
    algos = _algos(
        [("SHA-256", db_digest.sha256, vol.content_sha256), ("SM3", db_digest.sm3, vol.content_sm3)]
    )
    if algos:
        digests.append(TEXT["content_db"].format(algos=algos))
    checks.add("KY-01", wb_errors)
    if xlsx.is_file() and not wb_errors:
        if wb_digest.count != vol.item_count:
            wb_zh, wb_en = WHERE["wb"]
            out.append(
                TEXT["item_count"].format(
                    expected=vol.item_count, where=wb_zh, where_en=wb_en, found=wb_digest.count
                )
            )
        algos = _algos(
            [("SHA-256", wb_digest.sha256, vol.content_sha256), ("SM3", wb_digest.sm3, vol.content_sm3)]
        )
        if algos:
            digests.append(TEXT["content_wb"].format(algos=algos))
    checks.add("WZ-03", out)
    checks.add("ZS-03", digests)


@dataclass(frozen=True)
class _Link:
    """What the chain check needs of a volume."""

    id: int
    archival_code: str
    seal: str | None
    series: str | None = None


def _chain(session: Session) -> tuple[dict[str, _Link], list[_Link]]:
    """Every volume (any status) by 档号 and in creation order."""
    links = [
        _Link(id=i, archival_code=c, seal=s, series=r)
        for i, c, s, r in session.execute(
            select(col(Volume.id), col(Volume.archival_code), col(Volume.seal), col(Volume.series)).order_by(
                col(Volume.id)
            )
        ).all()
    ]
    return {link.archival_code: link for link in links}, links


def _chain_problems(vol: Volume, by_code: dict[str, _Link], ordered: list[_Link]) -> list[str]:
    if (vol.line_version or 1) >= 2:  # a chain per series (全宗 + 门类 + channel)
        ordered = [link for link in ordered if link.series == vol.series]
    at = bisect_left([link.id for link in ordered], vol.id or 0)
    expected = ordered[at - 1] if at > 0 else None
    if vol.prev_archival_code is None:
        if expected is not None:
            return [TEXT["chain_order"].format(found="—", expected=expected.archival_code)]
        return []
    prev = by_code.get(vol.prev_archival_code)
    if prev is None:
        return [TEXT["chain_broken"].format(prev=vol.prev_archival_code)]
    out = []
    if expected is None or expected.archival_code != prev.archival_code:
        out.append(
            TEXT["chain_order"].format(
                found=prev.archival_code, expected=expected.archival_code if expected else "—"
            )
        )
    if vol.prev_seal != prev.seal:
        out.append(TEXT["chain_seal"].format(prev=prev.archival_code))
    return out


def _scope_gaps(session: Session) -> list[tuple[str, str]]:
    """Volume numbers missing from a scope (1 … the counter's value): rows that were deleted."""
    # Counters first: a volume row and its counter step commit together, so every number up to the value
    # read here is visible to the next statement, even under READ COMMITTED with a compile running.
    tops = {
        name.removeprefix("vol:"): value
        for name, value in session.execute(
            select(col(Counter.name), col(Counter.value)).where(col(Counter.name).startswith("vol:"))
        ).all()
    }
    numbers: dict[str, set[int]] = {scope: set() for scope in tops}
    for scope, no in session.execute(select(col(Volume.scope), col(Volume.volume_no))).all():
        numbers.setdefault(scope, set()).add(no)
    out = []
    for scope in sorted(numbers):
        top = max([tops.get(scope, 0), *numbers[scope]])
        for n in range(1, top + 1):
            if n not in numbers[scope]:
                code = make_archival_code(scope, n)
                out.append((code, TEXT["volume_gap"].format(code=code)))
    return out


def _check_volume(
    engine: Engine, *, settings: Settings, vol: Volume, by_code: dict[str, _Link], ordered: list[_Link]
) -> Checks:
    # every problem of one sealed volume, sorted under the 四性 check codes: bag, file digests, seal record,
    # content, numbering, chain, formats, security
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
            checks.add("ZS-02", TEXT["seal_missing"].format(detail=why))
        else:
            checks.add("ZS-02", _seal_problems(vol, rec))
    checks.add("ZS-01", _file_problems(vol, xlsx, rec))
    if pdf is not None:
        checks.add("ZS-01", _pdf_digest_problems(vol, pdf, rec))
    _content_problems(engine, settings=settings, vol=vol, xlsx=xlsx, checks=checks)
    checks.add("ZS-04", _chain_problems(vol, by_code, ordered))
    checks.add("ZS-05", code_problems(code))
    checks.add("WZ-02", metadata_problems(vol))
    file_checks(checks, files=[xlsx], pdf=pdf)
    return checks


def _pdf_digest_problems(vol: Volume, pdf: Path, rec: dict[str, Any] | None) -> list[str]:
    """The PDF/A copy's digests against the database and the seal record, naming the file."""
    if not pdf.is_file():
        return [TEXT["pdf_missing"].format(path=pdf)]
    sha, sm3 = file_digests(str(pdf))
    out = []
    algos = _algos([("SHA-256", sha, vol.pdf_sha256), ("SM3", sm3, vol.pdf_sm3)])
    if algos:
        out.append(TEXT["pdf_db"].format(name=pdf.name, algos=algos))
    if rec is not None:
        algos = _algos([("SHA-256", sha, rec.get("pdf_sha256")), ("SM3", sm3, rec.get("pdf_sm3"))])
        if algos:
            out.append(TEXT["pdf_seal"].format(name=pdf.name, algos=algos))
    return out


def _log_checks(session: Session, *, vol: Volume, checks: Checks, stage: str, agent: str) -> dict[str, Any]:
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


def _find(session: Session, code: str) -> Volume:
    vol = session.execute(select(Volume).where(col(Volume.archival_code) == code)).scalar_one_or_none()
    if vol is None:
        raise UnknownVolume(TEXT["unknown"].format(code=code))
    return vol


def verify(
    engine: Engine, *, settings: Settings, archival_code: str | None = None, agent: str = ""
) -> Report:
    """Re-validate every sealed or received volume (or the one named) and log a fixity_check event each."""
    report = Report()
    agent = agent or settings.fixity_agent
    with Session(engine, expire_on_commit=False) as session:
        by_code, ordered = _chain(session)
        if archival_code is not None:
            one = _find(session, archival_code)
            if one.status not in CHECKED_STATUSES:
                raise FixityError(TEXT["not_sealed"].format(code=archival_code))
            volumes = [one]
            loose: list[tuple[str, str]] = []
        else:
            volumes = list(
                session.execute(
                    select(Volume).where(col(Volume.status).in_(CHECKED_STATUSES)).order_by(col(Volume.id))
                ).scalars()
            )
            loose = _scope_gaps(session)
        session.expunge_all()
    for vol in volumes:
        with reader(engine) as ro:
            checks = _check_volume(ro, settings=settings, vol=vol, by_code=by_code, ordered=ordered)
        problems = checks.flat()
        report.checked += 1
        report.problems += [(vol.archival_code, p) for p in problems]
        with unit_of_work(engine) as session:
            report.reports.append(_log_checks(session, vol=vol, checks=checks, stage="preserve", agent=agent))
            session.add(
                FixityEvent(
                    volume_id=vol.id,
                    archival_code=vol.archival_code,
                    event_type="fixity_check",
                    outcome="fail" if problems else "pass",
                    detail="\n".join(problems),
                    agent=agent,
                )
            )
    if loose:
        report.problems += loose
        with unit_of_work(engine) as session:
            for code, problem in loose:
                session.add(
                    FixityEvent(
                        volume_id=None,
                        archival_code=code,
                        event_type="fixity_check",
                        outcome="fail",
                        detail=problem,
                        agent=agent,
                    )
                )
    return report


def _refuse_if_not_sealed(vol: Volume, settings: Settings) -> None:
    if vol.status == VolumeStatus.received:
        at = to_local(vol.received_at, settings.tz).strftime("%Y-%m-%d %H:%M") if vol.received_at else "?"
        raise ReceiptRefused(
            TEXT["already_received"].format(code=vol.archival_code, at=at, by=vol.received_by)
        )
    if vol.status != VolumeStatus.sealed:
        raise ReceiptRefused(TEXT["not_sealed"].format(code=vol.archival_code))


def receive(engine: Engine, *, settings: Settings, archival_code: str, by: str) -> Report:
    """Check one sealed volume and, when it passes, record its receipt by archivist `by` (检查人)."""
    by = by.strip()
    if not by or len(by) > 100:
        raise FixityError(TEXT["no_receiver"])
    with Session(engine, expire_on_commit=False) as session:
        vol = _find(session, archival_code)
        _refuse_if_not_sealed(vol, settings)
        by_code, ordered = _chain(session)
        session.expunge_all()
    assert vol.id is not None
    with reader(engine) as ro:
        checks = _check_volume(ro, settings=settings, vol=vol, by_code=by_code, ordered=ordered)
    problems = checks.flat()
    report = Report(checked=1, problems=[(archival_code, p) for p in problems])
    with unit_of_work(engine) as session:
        report.reports.append(_log_checks(session, vol=vol, checks=checks, stage="receipt", agent=by))
        if not problems:
            # conditional on still being sealed: of two archivists receiving at once, exactly one wins
            won = session.execute(
                update(Volume)
                .where(col(Volume.id) == vol.id, col(Volume.status) == VolumeStatus.sealed)
                .values(status=VolumeStatus.received, received_by=by, received_at=utcnow())
                .returning(col(Volume.id))
            ).scalar_one_or_none()
            if won is None:
                session.rollback()
                current = _find(session, archival_code)
                _refuse_if_not_sealed(current, settings)
                raise ReceiptRefused(TEXT["not_sealed"].format(code=archival_code))  # pragma: no cover
            report.received = True
        session.add(
            FixityEvent(
                volume_id=vol.id,
                archival_code=archival_code,
                event_type="receipt",
                outcome="fail" if problems else "pass",
                detail="\n".join(problems),
                agent=by,
            )
        )
    return report
