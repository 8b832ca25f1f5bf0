"""The 查阅登记簿 workbook (the register's yearly export), print-ready on A4 landscape (issue 14).

Twelve columns (texts.REGISTER_PRINT_HEADERS; related values share a cell, one per line). Widths come from
the content: short values (登记号, times, 利用方式, 审批, 次数, 利用效果) take their longest line, the 档号 two
lines, free text (查阅人/部门, 查阅目的, 题名, 利用条件, 说明) its longest line up to a cap, shrunk together
to what the page has left, so the row fits one page wide with the body at least 9 pt after LibreOffice's or
Excel's fit-to-width scaling. Text wraps in its cell; each row's height is computed from its wrapped text
(CJK counted double, exports.book); a text longer than a row can hold continues in the rows below (登记号
empty), so nothing is cut. Ruled grid (cell borders), the title and the register year in the page header,
the title and column headers repeated on every page, page numbers in the footer. The layout helpers are
the volumes' (exports.book, exports.sheets).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from exports.book import MAX_LINES, display_width, height, line_count, split_lines
from exports.sheets import HEAD_FONT, TITLE_FONT, cells, print_sheet, use_default_font
from lookups import texts

# the printed columns by kind (texts.REGISTER_PRINT_HEADERS): short values take their longest line (a time
# wraps at its space, so it takes the date's width); the 档号 takes two lines (it breaks after a 「-」); free
# text takes its longest line up to a cap, and the free columns share what the page has left
SHORT = frozenset({0, 1, 4, 7, 9, 10})
CODE = 5
FREE = {2: 12, 3: 24, 6: 24, 8: 18, 11: 24}  # column: its widest (characters of the 10 pt body font)
FREE_MIN = 8
# A4 landscape within 0.4-inch margins holds 123 character widths of the 10 pt body at 100 % (one width is
# 6.35 pt in LibreOffice); a row up to PAGE_WIDTH / MIN_SCALE is scaled to no less than 92 %: body ≥ 9.2 pt
PAGE_WIDTH = 123.0
MIN_SCALE = 0.92
PAD = 1  # character widths a column adds to its longest line (LibreOffice pads a cell by 4 pt in all)
_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


def _longest_line(value: Any) -> int:
    if not isinstance(value, str):
        return len(str(value))
    return max(10 if _TIME.fullmatch(line) else display_width(line) for line in value.split("\n"))


def column_widths(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[float]:
    """Widths from the content (see the kinds above); a header prints each 「/」 part whole on its own line,
    a header of one part on at most two (查阅/次数)."""
    widths: list[float] = []
    for i, head in enumerate(headers):
        longest = max((_longest_line(r[i]) for r in rows if r[i] not in (None, "")), default=0)
        parts = head.split("/")
        head_need = max(map(display_width, parts)) if len(parts) > 1 else -(-display_width(head) // 2)
        if i == CODE:
            longest = -(-longest // 2) + 1
        elif i in FREE:
            longest = min(longest, FREE[i])
        widths.append(float(max(longest, head_need, FREE_MIN if i in FREE else 0) + PAD))
    over = sum(widths) - PAGE_WIDTH / MIN_SCALE
    while over > 0:
        free = [i for i in FREE if widths[i] > FREE_MIN + PAD]
        if not free:
            break  # the short columns alone are wider than the page: it scales further down
        widest = max(free, key=lambda i: widths[i])
        cut = min(over, widths[widest] - FREE_MIN - PAD, 1.0)
        widths[widest] -= cut
        over -= cut
    return widths


def _lines(i: int, value: Any, width: float) -> int:
    """Lines a cell's text takes (exports.book.line_count with one character width of padding, not two: a
    10 pt CJK character is 1.6 widths and counts 2, an ASCII one is at most one); the 档号 gets one more
    once it wraps (it breaks only after a 「-」)."""
    if not isinstance(value, str):
        return 1
    n = line_count(value, width + 1)
    return n + 1 if i == CODE and n > 1 else n


def _pieces(row: Sequence[Any], widths: Sequence[float]) -> list[list[Any]]:
    """The printed rows of one register row: one, or more when a text needs more than MAX_LINES lines
    (continuation rows carry only the rest of the long texts)."""
    parts = {
        i: split_lines(v, widths[i] + 1, MAX_LINES)  # the padding of _lines
        for i, v in enumerate(row)
        if isinstance(v, str) and _lines(i, v, widths[i]) > MAX_LINES
    }
    if not parts:
        return [list(row)]
    out = []
    for k in range(max(len(p) for p in parts.values())):
        if k == 0:
            first = list(row)
            for i, p in parts.items():
                first[i] = p[0]
            out.append(first)
        else:
            out.append(
                [
                    "" if i not in parts else (parts[i][k] if k < len(parts[i]) else "")
                    for i in range(len(row))
                ]
            )
    return out


def _set_height(ws: Any, row: int, lines: int) -> None:
    ws.row_dimensions[row] = {"ht": height(lines), "customHeight": "1"}


def write_register(path: Path, *, title: str, rows: Sequence[Sequence[Any]]) -> None:
    """Write the register rows (values in texts.REGISTER_PRINT_HEADERS order) as the printed 查阅登记簿."""
    headers = texts.REGISTER_PRINT_HEADERS
    widths = column_widths(headers, rows)
    wb = Workbook(write_only=True)
    use_default_font(wb)
    ws = print_sheet(wb, texts.REGISTER_SHEET, widths, landscape=True, header_rows=2)
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.7
    ws.oddHeader.center.text = title
    ws.oddHeader.center.font = "宋体"
    ws.oddHeader.center.size = 10
    ws.oddFooter.center.text = texts.REGISTER_FOOTER
    ws.oddFooter.center.size = 10
    _set_height(ws, 1, 2)
    ws.append(cells(ws, [title], font=TITLE_FONT))
    del ws.row_dimensions[1]
    printed = [h.replace("/", "\n") for h in headers]  # each part on its own line, never broken inside
    _set_height(ws, 2, max(_lines(-1, h, w) for h, w in zip(printed, widths, strict=True)))
    ws.append(cells(ws, printed, font=HEAD_FONT, wrap=True, border=True))
    del ws.row_dimensions[2]
    r = 3
    for row in rows:
        for piece in _pieces(row, widths):
            lines = max(_lines(i, v, widths[i]) for i, v in enumerate(piece))
            _set_height(ws, r, lines)
            ws.append(cells(ws, piece, wrap=True, border=True))
            del ws.row_dimensions[r]
            r += 1
    ws.print_area = f"A1:{get_column_letter(len(headers))}{max(r - 1, 2)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
