"""What both workbook versions (`exports.workbook`, `exports.book`) and the PDF copy (`exports.pdfcopy`)
share: the volume's header and the result of writing it, the 统计汇总 tallies, and the write-only sheet
helpers (fonts, text cells, one styled cell per column, the cells-first append, the stats sheet, the
sanitising notes and the attachments to bag).

User text is always written as text, never a formula. Why the helpers look as they do (one reused styled
cell per column, the cells-first append): docs/benchmarks.md.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.utils.indexed_list import IndexedList

from exports import texts
from exports.records import Sanitised
from exports.source import Item, attachment_names

BODY_FONT = Font(name="宋体", size=10)
HEAD_FONT = Font(name="黑体", size=10, bold=True)
TITLE_FONT = Font(name="黑体", size=16, bold=True)
DIGEST_FONT = Font(name="宋体", size=6)
WRAP = Alignment(wrap_text=True, vertical="top")
# a rate written as text (「40.0%」) stands at the right like the numbers beside it: left-aligned after a
# right-aligned 平均分 it read as one figure (「3 40.0%」 printed 「340.0%」)
FIGURE = Alignment(horizontal="right")
THIN = Border(*(Side(style="thin"),) * 4)


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
    line_version: int = 2  # the canonical line format (exports/lines.py) of a version-2-or-later workbook


@dataclass
class Written:
    """The result of writing a volume: content digests, sanitised entries, attachments to bag."""

    content_sha256: str
    content_sm3: str
    count: int
    sanitised: list[tuple[str, str]]
    attachments: list[tuple[str, str]]  # (local path under DATA_DIR, path inside the bag's data/)


class Stats:
    """Counts, mean score and satisfaction by group, response rate and handling time, fed item by item."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, list[int]]] = {k: {} for k in texts.STATS_BY}
        self.total = [0, 0, 0, 0]
        self.replied = 0
        self.hours: list[float] = []
        self.weeks: dict[date, str] = {}

    def add(self, item: Item) -> None:
        """Tally one item under its site, meal, week and topics, and in total."""
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
        """A 统计汇总 row: label, items, scored, mean score, 满意率 (score 4 or 5)."""
        mean = round(acc[2] / acc[1], 2) if acc[1] else ""
        csat = f"{acc[3] / acc[1]:.1%}" if acc[1] else ""
        return [label, acc[0], acc[1], mean, csat]


def use_default_font(wb: Workbook) -> None:
    """Make 宋体 the workbook's font 0, which every unstyled cell takes: the body needs no style per cell."""
    wb._fonts = IndexedList([BODY_FONT])


def cells(
    ws: Any, values: Iterable[Any], *, font: Font | None = None, wrap: bool = False, border: bool = False
) -> list[Any]:
    """A cell per value, styled alike (headings, labels, short tables: a new cell each)."""
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
    cell forced to text; every other value is appended as is, without a cell object (docs/benchmarks.md)."""
    if isinstance(value, str) and value.startswith("="):
        c = WriteOnlyCell(ws, value=value)
        c.data_type = "s"
        return c
    return value


def as_written(ws: Any, values: list[Any]) -> list[Any]:
    """A row's values as appended: `_text` only for the strings that need it (most rows have none)."""
    return [_text(ws, v) if isinstance(v, str) and v[:1] == "=" else v for v in values]


class _FixedStyleCell(Cell):
    """A cell whose style is set once and never changes: its style id is looked up once, not each time
    the cell is written (openpyxl hashes the whole style array for every write)."""

    __slots__ = ("_fixed_style_id",)

    @property
    def style_id(self) -> int:
        return self._fixed_style_id


class Styled:
    """One styled cell per column, filled anew for each row.

    A write-only sheet serialises a row while it is appended, so the same cell object can carry the value
    of every row's column: no new cell and no copy of the style per value. A Styled must therefore fill
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


def cells_first(ws: Any) -> None:
    """Make `ws.append` take the cells in a row without a failed conversion each.

    openpyxl's write-only append first tries each value as a plain value and takes it as a cell only when
    that fails, and the failure formats the cell's repr into an exception (docs/benchmarks.md). This is openpyxl 3.1's own `_values_to_row` with the cell check first; rows come out the same.
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


def styled_row(ws: Any, values: list[Any], styled: dict[int, Styled]) -> list[Any]:
    """A row as appended: the values as written, the columns in `styled` in their column's styled cell."""
    row = as_written(ws, values)
    for i, style in styled.items():
        row[i] = style(values[i])
    return row


def sanitised_notes(item: Item, comment: Sanitised) -> list[tuple[str, str]]:
    """(条目标识, note) for each thing done to an item's comment, for the 备考表 and the seal record."""
    out = []
    for kind, n in comment.notes:
        if kind == "control":
            note = texts.SANITISED_CONTROL.format(n=n)
        elif kind == "truncated":
            note = texts.SANITISED_TRUNCATED.format(n=n, limit=len(comment.text))
        else:
            note = texts.SANITISED_FORMULA.format(c=chr(n))
        out.append((item.item_code, note))
    return out


def bagged_attachments(item: Item) -> list[tuple[str, str]]:
    """(local path under DATA_DIR, path inside the bag's data/) of each downloaded attachment of an item."""
    return [(media.local_path, name) for media, name in attachment_names(item) if media.local_path]


def write_stats(ws: Any, stats: Stats, *, title: str, count: int, ruled: bool) -> None:
    """The 统计汇总 sheet: the tallies by group and in total, then the response rate and handling time;
    `ruled` borders the tallies' rows too (version 2)."""
    ws.append(cells(ws, [texts.STATS_TITLE.format(title=title)], font=HEAD_FONT))
    for by, label in texts.STATS_BY.items():
        ws.append([])
        ws.append(cells(ws, [label, *texts.STATS_HEADERS[1:]], font=HEAD_FONT, border=True))
        for key in sorted(stats.groups[by]):
            ws.append(_rate_right(cells(ws, Stats.row(key, stats.groups[by][key]), border=ruled), -1))
    ws.append([])
    ws.append(
        _rate_right(cells(ws, Stats.row(texts.STATS_TOTALS, stats.total), font=HEAD_FONT, border=ruled), -1)
    )
    median_hours = round(statistics.median(stats.hours), 1) if stats.hours else ""
    rate = f"{stats.replied / count:.1%}" if count else ""
    ws.append(cells(ws, list(texts.STATS_RESPONSE), font=HEAD_FONT, border=True))
    ws.append(_rate_right(cells(ws, [stats.replied, rate, median_hours], border=True), 1))


def _rate_right(row: list[Any], at: int) -> list[Any]:
    """`row` with its rate cell (at `at`) right-aligned (FIGURE)."""
    row[at].alignment = FIGURE
    return row


def notes_summary(header: Header, *, count: int, sanitised: int, template: str) -> str:
    """本卷情况说明: what the volume holds (`template`, by version), the items left open, the sanitised."""
    year, month = header.period.split("-")
    summary = template.format(
        period_text=texts.PERIOD_TEXT.format(year=year, month=int(month)),
        what=texts.WHAT[header.channel],
        count=count,
        first=header.first_item,
        last=header.last_item,
    )
    if header.open_refs:
        summary += texts.NOTES_OPEN.format(n=len(header.open_refs), refs="、".join(header.open_refs))
    else:
        summary += texts.NOTES_NO_OPEN
    summary += texts.NOTES_SANITISED.format(n=sanitised) if sanitised else texts.NOTES_NONE_SANITISED
    return summary


def print_sheet(
    wb: Workbook, title: str, widths: Iterable[float], *, landscape: bool, header_rows: int = 1
) -> Any:
    """A new sheet set up for printing: column widths, A4 fitted to the page width, the footer, and the
    header rows repeated on every page and frozen on screen (both workbook versions start from this)."""
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
