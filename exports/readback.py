"""Reading a sealed workbook back, whichever its version: the lines with the digests they carry (for the
fixity checks) and the labelled sheets (cover, notes, seal).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exports import texts
from exports.book import read_labels, read_lines
from exports.workbook import read_cover_and_notes, read_rows
from exports.xlsxread import open_read_only


@dataclass
class ReadBack:
    """What a sealed workbook says, read back with openpyxl (read-only)."""

    cover: dict[str, Any]
    notes: dict[str, Any]
    sheets: list[str]


def read_records(path: Path, line_version: int = 1) -> Iterator[tuple[list[Any], str]]:
    """Each item as (line values, the 条目SHA-256 it carries): 明细 rows (version 1), 卷内文件 lines (2)."""
    return read_lines(path) if line_version >= 2 else read_rows(path)


def read_back(path: Path) -> ReadBack:
    """The cover and notes of a workbook (a version-2 one's 封卷信息 with its notes), and its sheet names."""
    wb = open_read_only(path)
    sheets = list(wb.sheetnames)
    wb.close()
    if texts.SHEET_COVER_V2 in sheets:  # a version-2 (GB/T 9705) workbook
        notes = {**read_labels(path, texts.SHEET_NOTES_V2), **read_labels(path, texts.SHEET_SEAL)}
        return ReadBack(cover=read_labels(path, texts.SHEET_COVER_V2), notes=notes, sheets=sheets)
    cover, notes = read_cover_and_notes(path)
    return ReadBack(cover=cover, notes=notes, sheets=sheets)
