"""The version-2 volume workbook (GB/T 9705-2008 案卷, docs/archival.md): print-ready on A4.

Sheets: 案卷封面, 卷内目录, 卷内文件 (with the handling record), 统计汇总, 卷内备考表, 封卷信息 (machine data:
digests, chain, 生成程序). Every sheet has the 档号 and its name in the page header, page numbers, repeated
header rows and printed grid lines; machine columns (条目标识, digests) lie outside the print area. Row
heights are computed from the wrapped text (CJK characters count double); a text longer than a row can
hold continues in the rows below (顺序号 empty), which `read_lines` joins back, so nothing is cut.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from core.settings import Settings
from exports import texts
from exports.lines import ITEM_WIDTHS, PRINTED_V2, RECORDS, WRAPPED
from exports.records import ContentDigest, canonical
from exports.sheets import (
    HEAD_FONT,
    TITLE_FONT,
    Header,
    Stats,
    Styled,
    Written,
    as_written,
    bagged_attachments,
    cells,
    notes_summary,
    print_sheet,
    sanitised_notes,
    styled_row,
    use_default_font,
    write_stats,
)
from exports.source import Item, catalogue_row
from exports.xlsxread import open_read_only
from exports.xlsxwrite import RawRows

CATALOGUE_WIDTHS = (7, 17, 16, 56, 10, 6, 14, 30, 6)
LINE_PT = 14.0  # one wrapped line of 10 pt text (宋体 or the CJK font that stands in for it)
PAD_PT = 4.0
MAX_LINES = 26  # a row holds at most this many lines (Excel's row height limit is 409 pt)


def display_width(text: str) -> int:
    """Columns a text takes: CJK (3 UTF-8 bytes) counts two, ASCII one."""
    n = len(text)
    return n + (len(text.encode("utf-8")) - n) // 2


def line_count(text: str, width: float) -> int:
    """Lines a wrapped text needs in a column `width` characters wide."""
    cap = max(1, int(width) - 2)
    if "\n" not in text:
        return max(1, -(-display_width(text) // cap))
    return sum(max(1, -(-display_width(p) // cap)) for p in text.split("\n"))


def split_lines(text: str, width: float, lines: int) -> list[str]:
    """`text` cut (without losing a character) into pieces of at most `lines` wrapped lines each."""
    cap = max(1, int(width) - 2)
    pieces: list[str] = []
    cur: list[str] = []
    used = 0
    col = 0
    for ch in text:
        w = 1 if ch == "\n" else (2 if ord(ch) > 0x2E7F else 1)
        if ch == "\n":
            used += 1
            col = 0
        elif col + w > cap:
            used += 1
            col = w
        else:
            col += w
        if used >= lines:
            pieces.append("".join(cur))
            cur, used = [], 0
        cur.append(ch)
    pieces.append("".join(cur))
    return pieces


def _text_of(value: Any) -> str:
    return value if value.__class__ is str else str(value)


def height(lines: int) -> str:
    """A row height (pt) for so many lines."""
    return f"{lines * LINE_PT + PAD_PT:.0f}"


def _sheet(
    wb: Workbook, title: str, widths: Sequence[float], *, code: str, landscape: bool, header_rows: int
) -> Any:
    """A printed sheet of the GB/T 9705 workbook: the shared set-up, the margins, the header naming the
    volume and the sheet, and the ruled grid."""
    ws = print_sheet(wb, title, widths, landscape=landscape, header_rows=header_rows)
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.page_margins.top = ws.page_margins.bottom = 0.8
    ws.oddHeader.center.text = texts.TITLED.format(code=code, sheet=title)
    ws.oddHeader.center.font = "宋体"
    ws.oddHeader.center.size = 10
    ws.oddFooter.center.size = 10
    ws.print_options.gridLines = True  # the ruled form (卷内目录, 卷内文件) of GB/T 9705
    return ws


def _set_height(ws: Any, row: int, lines: int) -> None:
    ws.row_dimensions[row] = {"ht": height(lines), "customHeight": "1"}


def _labelled(ws: Any, rows: Iterable[tuple[str, Any]], value_width: float, start: int) -> int:
    """Label | value rows with computed heights; return the next row number."""
    r = start
    for label, value in rows:
        text = canonical(value)
        pieces = (
            split_lines(text, value_width, MAX_LINES) if line_count(text, value_width) > MAX_LINES else [text]
        )
        for k, piece in enumerate(pieces):
            _set_height(ws, r, line_count(piece, value_width))
            ws.append(
                cells(ws, [label if k == 0 else label + texts.CONTINUED], font=HEAD_FONT, border=True)
                + cells(ws, [piece if isinstance(value, str) or k else value], wrap=True, border=True)
            )
            del ws.row_dimensions[r]
            r += 1
    return r


def write_volume_v2(
    path: Path,
    *,
    header: Header,
    items: Iterable[Item],
    settings: Settings,
    compiler_unit: str,
    on_catalogue: Callable[[list[Any]], None] | None = None,
) -> Written:
    """Write the version-2 (or later: `header.line_version`) workbook to `path` (fsynced) in one pass over
    the items; each catalogue row goes to `on_catalogue` too (the bag's 文件目录.xml)."""
    code = header.archival_code
    item_w, wrapped, make_record = (
        ITEM_WIDTHS[header.line_version],
        WRAPPED[header.line_version],
        RECORDS[header.line_version],
    )
    wb = Workbook(write_only=True)
    use_default_font(wb)
    cover = _sheet(wb, texts.SHEET_COVER_V2, (16, 64), code=code, landscape=False, header_rows=0)
    catalogue = _sheet(wb, texts.SHEET_CATALOGUE, CATALOGUE_WIDTHS, code=code, landscape=True, header_rows=1)
    detail = _sheet(wb, texts.SHEET_ITEMS, item_w, code=code, landscape=True, header_rows=1)
    stats_ws = _sheet(wb, texts.SHEET_STATS, (30, 10, 12, 10, 14), code=code, landscape=False, header_rows=0)
    notes_ws = _sheet(wb, texts.SHEET_NOTES_V2, (16, 64), code=code, landscape=False, header_rows=0)
    seal_ws = _sheet(wb, texts.SHEET_SEAL, (16, 70), code=code, landscape=False, header_rows=0)

    _set_height(cover, 1, 2)
    cover.append(cells(cover, [header.title], font=TITLE_FONT))
    del cover.row_dimensions[1]
    cover.append([])
    _labelled(cover, cover_values(header, compiler_unit=compiler_unit), 64, 3)

    # the two long sheets' rows after their headers are written by exports.xlsxwrite (openpyxl's XML, faster)
    cat_rows, detail_rows = RawRows(catalogue), RawRows(detail)
    catalogue.append(cells(catalogue, texts.CATALOGUE_HEADERS_V2, font=HEAD_FONT, border=True))
    _set_height(detail, 1, 2)
    detail.append(cells(detail, texts.ITEM_HEADERS, font=HEAD_FONT, border=True, wrap=True))
    del detail.row_dimensions[1]
    digest = ContentDigest()
    stats = Stats()
    sanitised: list[tuple[str, str]] = []
    attachments: list[tuple[str, str]] = []
    cat_wrap = {i: Styled(catalogue, wrap=True) for i in (2, 3, 6)}  # 责任者, 题名, 备注
    wrap = {i: Styled(detail, wrap=True) for i in wrapped}
    cat_row = detail_row = 2
    cat_w = CATALOGUE_WIDTHS
    for item in items:
        cat = catalogue_row(item, settings=settings)
        if on_catalogue is not None:
            on_catalogue(cat)
        # 顺序号, 文号, 责任者, 题名, 日期, 页数, 备注 | 条目标识, 密级
        shown = [cat[0], cat[2], cat[3], cat[4], cat[5], cat[7], cat[8], cat[1], cat[6]]
        lines = max(line_count(str(shown[i]), cat_w[i]) for i in (2, 3, 6))
        cat_rows.row(cat_row, styled_row(catalogue, shown, cat_wrap), height(lines))
        cat_row += 1

        values, comment = make_record(item, settings=settings)
        item_hash = digest.add(values)
        lines = max(line_count(_text_of(values[i]), item_w[i]) for i in wrapped)
        if lines <= MAX_LINES:
            row = styled_row(detail, values, wrap)
            row.append(item_hash)
            detail_rows.row(detail_row, row, height(lines))
            detail_row += 1
        else:  # continuation rows: each wrapped column cut into pieces of at most MAX_LINES lines
            # (a number, 评分 without aspect scores, is one line and stays a number)
            parts = {
                i: split_lines(values[i], item_w[i], MAX_LINES) for i in wrapped if isinstance(values[i], str)
            }
            for k in range(max(len(p) for p in parts.values())):
                row = [*as_written(detail, values), item_hash] if k == 0 else [None] * len(values)
                for i, styled in wrap.items():
                    if i not in parts:
                        continue
                    piece = parts[i][k] if k < len(parts[i]) else None
                    row[i] = styled(piece) if piece else None
                if k:
                    row[0] = None
                lines = max(line_count(p[k], item_w[i]) for i, p in parts.items() if k < len(p))
                detail_rows.row(detail_row, row, height(lines))
                detail_row += 1
        stats.add(item)
        if comment.notes:
            sanitised += sanitised_notes(item, comment)
        if item.media:
            attachments += bagged_attachments(item)
    cat_rows.close()
    detail_rows.close()
    catalogue.print_area = f"A1:{get_column_letter(texts.CATALOGUE_PRINTED_V2)}{max(cat_row - 1, 1)}"
    detail.print_area = f"A1:{get_column_letter(PRINTED_V2)}{max(detail_row - 1, 1)}"

    write_stats(stats_ws, stats, title=header.title, count=digest.count, ruled=True)

    summary = notes_summary(
        header, count=digest.count, sanitised=len(sanitised), template=texts.NOTES_SUMMARY_V2
    )
    _set_height(notes_ws, 1, 2)
    notes_ws.append(cells(notes_ws, [texts.SHEET_NOTES_V2], font=TITLE_FONT))
    del notes_ws.row_dimensions[1]
    _labelled(notes_ws, notes_values(header, summary), 64, 2)
    if sanitised:
        notes_ws.append([])
        notes_ws.append(cells(notes_ws, texts.NOTES_TABLE, font=HEAD_FONT, border=True))
        for item_code, note in sanitised:
            notes_ws.append(cells(notes_ws, [item_code, note], wrap=True, border=True))
    _labelled(seal_ws, seal_values(header, sha256=digest.sha256, sm3=digest.sm3), 70, 1)
    with open(path, "wb") as fh:
        wb.save(fh)
        fh.flush()
        os.fsync(fh.fileno())
    return Written(digest.sha256, digest.sm3, digest.count, sanitised, attachments)


def cover_values(header: Header, *, compiler_unit: str) -> list[tuple[str, Any]]:
    """(label, value) of the 案卷封面, as the workbook and the PDF copy print it."""
    values = (
        header.fonds_name,
        texts.CATEGORY[header.channel],
        header.title,
        f"{header.date_from:%Y%m%d}—{header.date_to:%Y%m%d}",
        texts.RETENTION.get(header.retention, header.retention),
        "",
        header.item_count,
        header.archival_code,
        compiler_unit,
    )
    return list(zip(texts.COVER_LABELS_V2, values, strict=True))


def notes_values(header: Header, summary: str) -> list[tuple[str, Any]]:
    """(label, value) of the 卷内备考表 (before its table of sanitised texts)."""
    values = (summary, header.compiler, texts.NOTES_CHECKER, header.compiled_at)
    return list(zip(texts.NOTES_LABELS_V2, values, strict=True))


def seal_values(header: Header, *, sha256: str, sm3: str) -> list[tuple[str, Any]]:
    """(label, value) of the 封卷信息 sheet, given the content digests."""
    values = (
        header.archival_code,
        f"{header.first_item} — {header.last_item}",
        sha256,
        sm3,
        header.prev_archival_code or texts.NOTES_NO_PREV,
        header.prev_seal or texts.NOTES_NO_PREV,
        str(header.line_version),
        texts.GENERATOR_NOTE.format(generator=header.generator),
    )
    return list(zip(texts.SEAL_LABELS, values, strict=True))


def read_lines(path: Path) -> Iterator[tuple[list[Any], str]]:
    """Each 卷内文件 item as (line values, the 条目SHA-256 it carries), continuation rows joined back."""
    width = len(texts.ITEM_HEADERS)
    wb = open_read_only(path, data_only=False)
    try:
        ws = wb[texts.SHEET_ITEMS]
        cur: list[Any] | None = None
        for row in ws.iter_rows(min_row=2, values_only=True):
            values = list(row[:width]) + [None] * (width - len(row))
            if all(v is None for v in values):
                continue
            if values[0] is None and cur is not None:  # a continuation row
                for i in WRAPPED[3]:  # every version's wrapped columns (a version 2 has None in 评分)
                    if values[i] is not None:
                        cur[i] = canonical(cur[i]) + canonical(values[i])
                continue
            if cur is not None:
                yield cur[:-1], canonical(cur[-1])
            cur = values
        if cur is not None:
            yield cur[:-1], canonical(cur[-1])
    finally:
        wb.close()


def read_labels(path: Path, sheet: str) -> dict[str, Any]:
    """Label → value of a labelled sheet (封面, 备考表, 封卷信息), continuation rows joined."""
    wb = open_read_only(path)
    try:
        out: dict[str, Any] = {}
        for r in wb[sheet].iter_rows(values_only=True):
            if r and len(r) > 1 and r[0]:
                label = str(r[0])
                if label.endswith(texts.CONTINUED):
                    base = label[: -len(texts.CONTINUED)]
                    out[base] = canonical(out.get(base)) + canonical(r[1])
                else:
                    out[label] = r[1]
        return out
    finally:
        wb.close()
