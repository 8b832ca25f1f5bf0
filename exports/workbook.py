"""The bound volume as an Excel workbook (openpyxl, write-only so memory stays flat), and reading it back.

Sheets: 封面, 卷内目录, 明细, 统计汇总, 备考表 — A4, page numbers, repeated header rows, 宋体 body and
黑体 headings, widths that fit CJK text. User text is always written as text (never a formula).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.utils.indexed_list import IndexedList

from core.settings import Settings
from exports import texts
from exports.records import ContentDigest, canonical
from exports.source import Item, attachment_names, catalogue_row, record

BODY_FONT = Font(name="宋体", size=10)
HEAD_FONT = Font(name="黑体", size=10, bold=True)
TITLE_FONT = Font(name="黑体", size=16, bold=True)
DIGEST_FONT = Font(name="宋体", size=6)
WRAP = Alignment(wrap_text=True, vertical="top")
THIN = Border(*(Side(style="thin"),) * 4)
CATALOGUE_WIDTHS = (6, 30, 17, 14, 52, 10, 6, 8, 10)
DETAIL_WIDTHS = (6, 30, 15, 5, 12, 18, 8, 5, 40, 14, 7, 24, 8, 15, 38)


@dataclass
class Header:
    """What the cover, the notes sheet and the seal say about a volume."""

    archival_code: str
    title: str
    channel: str
    period: str
    retention: str
    date_from: date
    date_to: date
    item_count: int
    fonds_name: str
    compiled_at: str  # local time, as printed
    compiler: str
    generator: str
    first_item: str
    last_item: str
    prev_archival_code: str | None
    prev_seal: str | None
    open_refs: list[str] = field(default_factory=list)


@dataclass
class Written:
    """The result of writing a volume: content digests, sanitised entries, attachments to bag."""

    content_sha256: str
    content_sm3: str
    count: int
    sanitised: list[tuple[str, str]]
    attachments: list[tuple[str, str]]  # (local path under DATA_DIR, path inside the bag's data/)


class _Stats:
    """Counts, mean score and satisfaction by group, response rate and handling time, fed item by item."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, list[int]]] = {k: {} for k in texts.STATS_BY}
        self.total = [0, 0, 0, 0]
        self.replied = 0
        self.hours: list[float] = []
        self.weeks: dict[date, str] = {}

    def add(self, item: Item) -> None:
        fb = item.feedback
        week = self.weeks.get(fb.service_date)
        if week is None:
            iso = fb.service_date.isocalendar()
            week = self.weeks[fb.service_date] = f"{iso.year}年第{iso.week:02d}周"
        score = fb.score
        where = item.where.split(" · ")[0]
        self._bump(self.groups["site"].setdefault(where, [0, 0, 0, 0]), score)
        self._bump(self.groups["meal"].setdefault(item.meal or "—", [0, 0, 0, 0]), score)
        self._bump(self.groups["week"].setdefault(week, [0, 0, 0, 0]), score)
        for topic in (fb.topics or texts.UNCLASSIFIED).split(","):
            self._bump(self.groups["topic"].setdefault(topic, [0, 0, 0, 0]), score)
        self._bump(self.total, fb.score)
        if item.reply is not None:
            self.replied += 1
        if item.closed_at is not None:
            self.hours.append((item.closed_at - fb.created_at).total_seconds() / 3600)

    @staticmethod
    def _bump(acc: list[int], score: int | None) -> None:
        acc[0] += 1
        if score is not None:
            acc[1] += 1
            acc[2] += score
            acc[3] += int(score >= 4)

    @staticmethod
    def row(label: str, acc: list[int]) -> list[Any]:
        mean = round(acc[2] / acc[1], 2) if acc[1] else ""
        csat = f"{acc[3] / acc[1]:.1%}" if acc[1] else ""
        return [label, acc[0], acc[1], mean, csat]


def _use_default_font(wb: Workbook) -> None:
    # Every unstyled cell takes font 0; making it 宋体 styles the body without a style per cell, which in
    # write-only mode would cost more than writing the values.
    wb._fonts = IndexedList([BODY_FONT])


def _sheet(
    wb: Workbook, title: str, widths: Iterable[float], *, landscape: bool, header_rows: int = 1
) -> Any:
    ws = wb.create_sheet(title)
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.page_setup.paperSize = "9"  # A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.oddFooter.center.text = texts.FOOTER
    ws.oddFooter.center.font = "宋体"
    if header_rows:
        ws.print_title_rows = f"1:{header_rows}"
        ws.freeze_panes = f"A{header_rows + 1}"
    return ws


def _cells(
    ws: Any, values: Iterable[Any], *, font: Font | None = None, wrap: bool = False, border: bool = False
) -> list[Any]:
    out = []
    for v in values:
        c = WriteOnlyCell(ws, value=v)
        if isinstance(v, str):
            c.data_type = "s"  # user text is text, even when it starts with "="
        if font is not None:
            c.font = font
        if wrap:
            c.alignment = WRAP
        if border:
            c.border = THIN
        out.append(c)
    return out


def _text(ws: Any, value: Any) -> Any:
    """A value as written: openpyxl reads a string starting with "=" as a formula, so only those get a
    cell forced to text; every other value is appended as is (a cell object per value costs more than
    writing it)."""
    if isinstance(value, str) and value.startswith("="):
        c = WriteOnlyCell(ws, value=value)
        c.data_type = "s"
        return c
    return value


def _as_written(ws: Any, values: list[Any]) -> list[Any]:
    """A row's values as appended: `_text` only for the strings that need it (most rows have none)."""
    return [_text(ws, v) if isinstance(v, str) and v[:1] == "=" else v for v in values]


class _FixedStyleCell(Cell):
    """A cell whose style is set once and never changes: its style id is looked up once, not each time
    the cell is written (openpyxl hashes the whole style array for every write)."""

    __slots__ = ("_fixed_style_id",)

    @property
    def style_id(self) -> int:
        return self._fixed_style_id


class _Styled:
    """One styled cell per column, filled anew for each row.

    A write-only sheet serialises a row while it is appended, so the same cell object can carry the value
    of every row's column: no new cell and no copy of the style per value. A _Styled must therefore fill
    at most one cell of a row.
    """

    def __init__(self, ws: Any, *, font: Font | None = None, wrap: bool = False) -> None:
        self.cell = _FixedStyleCell(ws, row=1, column=1, value="")
        if font is not None:
            self.cell.font = font
        if wrap:
            self.cell.alignment = WRAP
        self.cell._fixed_style_id = Cell.style_id.fget(self.cell)

    def __call__(self, value: Any) -> Any:
        c = self.cell
        c.value = value
        if isinstance(value, str):
            c.data_type = "s"  # user text is text, even when it starts with "="
        return c


def _cells_first(ws: Any) -> None:
    """Make `ws.append` take the cells in a row without a failed conversion each.

    openpyxl's write-only append first tries each value as a plain value and takes it as a cell only when
    that fails: the failure formats the cell's repr into an exception, which cost more than writing the
    cell. This is openpyxl 3.1's own `_values_to_row` with the cell check first; rows come out the same.
    Were the private method renamed, openpyxl would simply not call this one.
    """
    if not hasattr(ws, "_values_to_row"):
        return

    def values_to_row(values: Iterable[Any], row_idx: int) -> Iterator[Cell]:
        plain = WriteOnlyCell(ws)  # never styled: one serves every plain value of the row
        for col_idx, value in enumerate(values, 1):
            if value is None:
                continue
            if isinstance(value, Cell):
                cell = value
            else:
                cell = plain
                cell.value = value
            cell.column = col_idx
            cell.row = row_idx
            if cell.hyperlink is not None:
                cell.hyperlink.ref = cell.coordinate
            yield cell

    ws._values_to_row = values_to_row


def write_volume(
    path: Path,
    *,
    header: Header,
    items: Iterable[Item],
    settings: Settings,
    on_catalogue: Callable[[list[Any]], None] | None = None,
) -> Written:
    """Write the workbook to `path` (flushed and fsynced) in one pass over the items; each catalogue row
    is also handed to `on_catalogue` (the bag's 文件目录.xml)."""
    wb = Workbook(write_only=True)
    _use_default_font(wb)
    cover = _sheet(wb, texts.SHEET_COVER, (16, 70), landscape=False, header_rows=0)
    catalogue = _sheet(wb, texts.SHEET_CATALOGUE, CATALOGUE_WIDTHS, landscape=True)
    detail = _sheet(wb, texts.SHEET_DETAIL, DETAIL_WIDTHS, landscape=True)
    stats_ws = _sheet(wb, texts.SHEET_STATS, (30, 10, 12, 10, 14), landscape=False)
    notes_ws = _sheet(wb, texts.SHEET_NOTES, (18, 90), landscape=False, header_rows=0)

    cover.append(_cells(cover, [header.title], font=TITLE_FONT))
    cover.append([])
    retention = texts.RETENTION.get(header.retention, header.retention)
    values = (
        header.fonds_name,
        texts.CATEGORY[header.channel],
        header.title,
        f"{header.date_from:%Y%m%d}—{header.date_to:%Y%m%d}",
        retention,
        "",
        header.item_count,
        header.archival_code,
        header.fonds_name,
        header.compiled_at,
    )
    for label, value in zip(texts.COVER_LABELS, values, strict=True):
        cover.append(
            _cells(cover, [label], font=HEAD_FONT, border=True) + _cells(cover, [value], border=True)
        )

    _cells_first(catalogue)
    _cells_first(detail)
    catalogue.append(_cells(catalogue, texts.CATALOGUE_HEADERS, font=HEAD_FONT, border=True))
    detail.append(_cells(detail, texts.DETAIL_HEADERS, font=HEAD_FONT, border=True))
    digest = ContentDigest()
    stats = _Stats()
    sanitised: list[tuple[str, str]] = []
    attachments: list[tuple[str, str]] = []
    wrap_cat, wrap_detail, small = (
        _Styled(catalogue, wrap=True),
        _Styled(detail, wrap=True),
        _Styled(detail, font=DIGEST_FONT),
    )
    for item in items:
        cat = catalogue_row(item, settings=settings)
        if on_catalogue is not None:
            on_catalogue(cat)
        row = _as_written(catalogue, cat)
        row[4] = wrap_cat(cat[4])
        catalogue.append(row)
        values_, comment = record(item, settings=settings)
        row = _as_written(detail, values_)
        row[8] = wrap_detail(values_[8])
        row.append(small(digest.add(values_)))  # 64 hex digits on one printed line
        detail.append(row)
        stats.add(item)
        for kind, n in comment.notes:
            if kind == "control":
                note = texts.SANITISED_CONTROL.format(n=n)
            elif kind == "truncated":
                note = texts.SANITISED_TRUNCATED.format(n=n, limit=len(comment.text))
            else:
                note = texts.SANITISED_FORMULA.format(c=chr(n))
            sanitised.append((item.item_code, note))
        for media, name in attachment_names(item):
            if media.local_path:
                attachments.append((media.local_path, name))

    stats_ws.append(_cells(stats_ws, [texts.STATS_TITLE.format(title=header.title)], font=HEAD_FONT))
    for by, label in texts.STATS_BY.items():
        stats_ws.append([])
        stats_ws.append(_cells(stats_ws, [label, *texts.STATS_HEADERS[1:]], font=HEAD_FONT, border=True))
        for key in sorted(stats.groups[by]):
            stats_ws.append(_cells(stats_ws, _Stats.row(key, stats.groups[by][key])))
    stats_ws.append([])
    stats_ws.append(_cells(stats_ws, _Stats.row(texts.STATS_TOTALS, stats.total), font=HEAD_FONT))
    median_hours = round(statistics.median(stats.hours), 1) if stats.hours else ""
    rate = f"{stats.replied / digest.count:.1%}" if digest.count else ""
    stats_ws.append(_cells(stats_ws, list(texts.STATS_RESPONSE), font=HEAD_FONT, border=True))
    stats_ws.append(_cells(stats_ws, [stats.replied, rate, median_hours], border=True))

    year, month = header.period.split("-")
    summary = texts.NOTES_SUMMARY.format(
        period_text=texts.PERIOD_TEXT.format(year=year, month=int(month)),
        what=texts.WHAT[header.channel],
        count=digest.count,
        first=header.first_item,
        last=header.last_item,
    )
    if header.open_refs:
        summary += texts.NOTES_OPEN.format(n=len(header.open_refs), refs="、".join(header.open_refs))
    else:
        summary += texts.NOTES_NO_OPEN
    summary += texts.NOTES_SANITISED.format(n=len(sanitised)) if sanitised else texts.NOTES_NONE_SANITISED
    notes_values = (
        summary,
        header.compiler,
        texts.NOTES_CHECKER,
        header.compiled_at,
        f"{header.first_item} — {header.last_item}",
        digest.sha256,
        digest.sm3,
        header.prev_archival_code or texts.NOTES_NO_PREV,
        header.prev_seal or texts.NOTES_NO_PREV,
        header.generator,
    )
    notes_ws.append(_cells(notes_ws, [texts.NOTES_TITLE], font=TITLE_FONT))
    for label, value in zip(texts.NOTES_LABELS, notes_values, strict=True):
        notes_ws.append(
            _cells(notes_ws, [label], font=HEAD_FONT, border=True)
            + _cells(notes_ws, [value], wrap=True, border=True)
        )
    if sanitised:
        notes_ws.append([])
        notes_ws.append(_cells(notes_ws, texts.NOTES_TABLE, font=HEAD_FONT, border=True))
        for code, note in sanitised:
            notes_ws.append(_cells(notes_ws, [code, note], border=True))

    with open(path, "wb") as fh:
        wb.save(fh)
        fh.flush()
        os.fsync(fh.fileno())
    return Written(digest.sha256, digest.sm3, digest.count, sanitised, attachments)


@dataclass
class ReadBack:
    """What a sealed workbook says, read back with openpyxl (read-only)."""

    cover: dict[str, Any]
    notes: dict[str, Any]
    sheets: list[str]


def read_records(path: Path, line_version: int = 1) -> Iterator[tuple[list[Any], str]]:
    """Each 明细 row as (record values, the 条目SHA-256 it carries); version-2 workbooks' 卷内文件 lines."""
    if line_version >= 2:
        from exports.book import read_lines

        yield from read_lines(path)
        return
    wb = load_workbook(path, read_only=True, data_only=False)
    try:
        ws = wb[texts.SHEET_DETAIL]
        width = len(texts.DETAIL_HEADERS)
        for row in ws.iter_rows(min_row=2, values_only=True):
            values = list(row[:width]) + [None] * (width - len(row))
            if all(v is None for v in values):
                continue
            yield values[:-1], canonical(values[-1])
    finally:
        wb.close()


def read_back(path: Path) -> ReadBack:
    """The cover and notes of a workbook, and its sheet names."""
    wb = load_workbook(path, read_only=True)
    if texts.SHEET_COVER_V2 in wb.sheetnames:  # a version-2 (GB/T 9705) workbook
        sheets = list(wb.sheetnames)
        wb.close()
        from exports.book import read_labels

        notes = {**read_labels(path, texts.SHEET_NOTES_V2), **read_labels(path, texts.SHEET_SEAL)}
        return ReadBack(cover=read_labels(path, texts.SHEET_COVER_V2), notes=notes, sheets=sheets)
    try:
        cover = {
            r[0]: r[1] for r in wb[texts.SHEET_COVER].iter_rows(min_row=3, values_only=True) if r and r[0]
        }
        notes = {
            r[0]: r[1]
            for r in wb[texts.SHEET_NOTES].iter_rows(min_row=2, values_only=True)
            if r and len(r) > 1 and r[0]
        }
        return ReadBack(cover=cover, notes=notes, sheets=list(wb.sheetnames))
    finally:
        wb.close()
