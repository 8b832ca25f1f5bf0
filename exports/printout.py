"""Small printed tables in an ordinary (not write-only) workbook: the 四性检测 report sheet
(`exports.fourfold_report`) and the meeting report (`exports.meeting_report`).

Built on the volume's print set-up (`exports.sheets.print_sheet`: A4, fit to the page width, footer,
repeated header rows) and its row-height helpers (`exports.book.line_count`: CJK characters count double):
every cell is wrapped text with a ruled border, every row is as high as its longest cell needs, and a text
longer than a row can hold (Excel's 409 pt) continues in the rows below, so nothing is cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font

from exports import texts
from exports.book import MAX_LINES, height, line_count, split_lines
from exports.records import canonical
from exports.sheets import BODY_FONT, HEAD_FONT, THIN, TITLE_FONT, print_sheet, use_default_font

TITLE_LINE_PT = 22.0  # one line of the 16 pt title
TITLE_SCALE = 10 / 16  # a 16 pt character is 1.6 times as wide as a 10 pt one
LEFT = Alignment(wrap_text=True, vertical="top", horizontal="left")  # numbers too: beside their label


def workbook() -> Workbook:
    """An empty workbook (its default sheet removed)."""
    wb = Workbook()
    wb.remove(wb.active)
    use_default_font(wb)  # column widths count in the body font's characters, as in the volume
    return wb


def sheet(
    wb: Workbook, title: str, widths: Sequence[float], *, landscape: bool, header_rows: int, heading: str
) -> Any:
    """A printed sheet: the shared set-up, the margins, `heading` in the page header."""
    ws = print_sheet(wb, title, widths, landscape=landscape, header_rows=header_rows)
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.page_margins.top = ws.page_margins.bottom = 0.8
    ws.oddHeader.center.text = heading
    ws.oddHeader.center.font = "宋体"
    ws.oddHeader.center.size = 10
    ws.oddFooter.center.size = 10
    return ws


def clean(value: Any) -> Any:
    """A value a cell can hold: control characters dropped (openpyxl refuses them)."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def _put(ws: Any, row: int, column: int, value: Any, font: Font, border: bool) -> None:
    c = ws.cell(row=row, column=column)
    c.value = clean(value)
    if isinstance(value, str):
        c.data_type = "s"  # user text stays text, even when it starts with "="
    c.font = font
    c.alignment = LEFT
    if border:
        c.border = THIN


def title(ws: Any, row: int, text: str, widths: Sequence[float]) -> int:
    """The sheet's title across the sheet's width, wrapped, as high as it needs; return the next row."""
    _put(ws, row, 1, text, TITLE_FONT, False)
    if len(widths) > 1:
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=len(widths))
    lines = line_count(text, sum(widths) * TITLE_SCALE)
    ws.row_dimensions[row].height = lines * TITLE_LINE_PT + 6
    return row + 1


def line(ws: Any, row: int, text: str, widths: Sequence[float]) -> int:
    """One wrapped line of text across the sheet's width (a subtitle); return the next row."""
    _put(ws, row, 1, text, BODY_FONT, False)
    if len(widths) > 1:
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=len(widths))
    ws.row_dimensions[row].height = float(height(line_count(text, sum(widths))))
    return row + 1


def table_row(
    ws: Any,
    row: int,
    values: Sequence[Any],
    widths: Sequence[float],
    *,
    font: Font = BODY_FONT,
    head: Sequence[int] = (),
) -> int:
    """A ruled row of wrapped cells (columns in `head` in the heading font), as high as its text needs; a
    text too long for one row continues in the rows below. Return the next row."""
    shown = [canonical(v) if v is not None else "" for v in values]
    lines = max(line_count(s, w) for s, w in zip(shown, widths, strict=False))
    if lines <= MAX_LINES:
        pieces = [[v] for v in values]
    else:
        pieces = [
            split_lines(s, w, MAX_LINES) if isinstance(v, str) else [v]
            for v, s, w in zip(values, shown, widths, strict=False)
        ]
    for k in range(max(len(p) for p in pieces)):
        cells = [p[k] if k < len(p) else None for p in pieces]
        if k and cells and cells[0] is None and isinstance(values[0], str):
            cells[0] = canonical(values[0]) + texts.CONTINUED
        for c, v in enumerate(cells, start=1):
            _put(ws, row, c, v, HEAD_FONT if (c - 1) in head else font, True)
        n = max(
            line_count(canonical(v) if v is not None else "", w) for v, w in zip(cells, widths, strict=False)
        )
        ws.row_dimensions[row].height = float(height(n))
        row += 1
    return row


def labelled(ws: Any, row: int, pairs: Sequence[tuple[str, Any]], widths: Sequence[float]) -> int:
    """Label | value rows, the value left-aligned right beside its label; return the next row."""
    for label, value in pairs:
        row = table_row(ws, row, [label, value], widths, head=(0,))
    return row


def header(ws: Any, row: int, names: Sequence[str], widths: Sequence[float]) -> int:
    """The table's header row (repeated on every page by the sheet's print titles); return the next row."""
    return table_row(ws, row, list(names), widths, font=HEAD_FONT)
