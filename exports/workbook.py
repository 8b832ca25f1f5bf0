"""The version-1 volume workbook (volumes planned before migration 0012 keep it), and reading it back.

openpyxl, write-only so memory stays flat. Sheets: 封面, 卷内目录, 明细, 统计汇总, 备考表 — A4, page numbers,
repeated header rows, 宋体 body and 黑体 headings, widths that fit CJK text. User text is always written as
text (never a formula). Both versions are read back through `exports.readback`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from core.settings import Settings
from exports import texts
from exports.records import ContentDigest, canonical
from exports.sheets import (
    DIGEST_FONT,
    HEAD_FONT,
    TITLE_FONT,
    Header,
    Stats,
    Styled,
    Written,
    bagged_attachments,
    cells,
    cells_first,
    notes_summary,
    print_sheet,
    sanitised_notes,
    styled_row,
    use_default_font,
    write_stats,
)
from exports.source import Item, catalogue_row, record
from exports.xlsxread import open_read_only

CATALOGUE_WIDTHS = (6, 30, 17, 14, 52, 10, 6, 8, 10)
DETAIL_WIDTHS = (6, 30, 15, 5, 12, 18, 8, 5, 40, 14, 7, 24, 8, 15, 38)


def write_volume(
    path: Path,
    *,
    header: Header,
    items: Iterable[Item],
    settings: Settings,
    on_catalogue: Callable[[list[Any]], None] | None = None,
) -> Written:
    """Write the version-1 workbook to `path` (flushed and fsynced) in one pass over the items; each
    catalogue row is also handed to `on_catalogue` (the bag's 文件目录.xml)."""
    wb = Workbook(write_only=True)
    use_default_font(wb)
    cover = print_sheet(wb, texts.SHEET_COVER, (16, 70), landscape=False, header_rows=0)
    catalogue = print_sheet(wb, texts.SHEET_CATALOGUE, CATALOGUE_WIDTHS, landscape=True)
    detail = print_sheet(wb, texts.SHEET_DETAIL, DETAIL_WIDTHS, landscape=True)
    stats_ws = print_sheet(wb, texts.SHEET_STATS, (30, 10, 12, 10, 14), landscape=False)
    notes_ws = print_sheet(wb, texts.SHEET_NOTES, (18, 90), landscape=False, header_rows=0)

    cover.append(cells(cover, [header.title], font=TITLE_FONT))
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
        cover.append(cells(cover, [label], font=HEAD_FONT, border=True) + cells(cover, [value], border=True))

    cells_first(catalogue)
    cells_first(detail)
    catalogue.append(cells(catalogue, texts.CATALOGUE_HEADERS, font=HEAD_FONT, border=True))
    detail.append(cells(detail, texts.DETAIL_HEADERS, font=HEAD_FONT, border=True))
    digest = ContentDigest()
    stats = Stats()
    sanitised: list[tuple[str, str]] = []
    attachments: list[tuple[str, str]] = []
    cat_wrap = {4: Styled(catalogue, wrap=True)}  # 题名
    detail_wrap = {8: Styled(detail, wrap=True)}  # 反馈内容
    small = Styled(detail, font=DIGEST_FONT)
    for item in items:
        cat = catalogue_row(item, settings=settings)
        if on_catalogue is not None:
            on_catalogue(cat)
        catalogue.append(styled_row(catalogue, cat, cat_wrap))
        line, comment = record(item, settings=settings)
        row = styled_row(detail, line, detail_wrap)
        row.append(small(digest.add(line)))  # 64 hex digits on one printed line
        detail.append(row)
        stats.add(item)
        if comment.notes:
            sanitised += sanitised_notes(item, comment)
        if item.media:
            attachments += bagged_attachments(item)

    write_stats(stats_ws, stats, title=header.title, count=digest.count, ruled=False)
    summary = notes_summary(
        header, count=digest.count, sanitised=len(sanitised), template=texts.NOTES_SUMMARY
    )
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
    notes_ws.append(cells(notes_ws, [texts.NOTES_TITLE], font=TITLE_FONT))
    for label, value in zip(texts.NOTES_LABELS, notes_values, strict=True):
        notes_ws.append(
            cells(notes_ws, [label], font=HEAD_FONT, border=True)
            + cells(notes_ws, [value], wrap=True, border=True)
        )
    if sanitised:
        notes_ws.append([])
        notes_ws.append(cells(notes_ws, texts.NOTES_TABLE, font=HEAD_FONT, border=True))
        for code, note in sanitised:
            notes_ws.append(cells(notes_ws, [code, note], border=True))

    with open(path, "wb") as fh:
        wb.save(fh)
        fh.flush()
        os.fsync(fh.fileno())
    return Written(digest.sha256, digest.sm3, digest.count, sanitised, attachments)


def read_rows(path: Path) -> Iterator[tuple[list[Any], str]]:
    """Each 明细 row of a version-1 workbook as (record values, the 条目SHA-256 it carries)."""
    wb = open_read_only(path, data_only=False)
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


def read_cover_and_notes(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Label → value of a version-1 workbook's 封面 and 备考表."""
    wb = open_read_only(path)
    try:
        cover = {
            r[0]: r[1] for r in wb[texts.SHEET_COVER].iter_rows(min_row=3, values_only=True) if r and r[0]
        }
        notes = {
            r[0]: r[1]
            for r in wb[texts.SHEET_NOTES].iter_rows(min_row=2, values_only=True)
            if r and len(r) > 1 and r[0]
        }
        return cover, notes
    finally:
        wb.close()
