"""Opening our workbooks read-only without openpyxl parsing every whole sheet first.

openpyxl's read-only loader learns each sheet's size from its `<dimension>` element, and its look for it
(`WorkSheetParser.parse_dimensions`) takes iterparse's *end* events: when a sheet has no `<dimension>` —
ours are written write-only, which writes none — it finds `<sheetData>` only once the whole sheet is
parsed. That made every `load_workbook` of a volume parse each sheet once in full before reading any of it
(about 60 % of a 10k volume's 归档 checks). Here the look stops at the start of `<sheetData>`, which the
schema puts after `<dimension>`: the same answer for every workbook, without the scan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.reader import excel
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import DATA_TAG, DIMENSION_TAG
from openpyxl.worksheet.dimensions import SheetDimension
from openpyxl.xml.functions import iterparse  # defusedxml's when installed, as openpyxl's own


class _Sheet(ReadOnlyWorksheet):
    def _get_size(self) -> None:
        src = self._get_source()
        try:
            for _event, element in iterparse(src, events=("start",)):
                if element.tag == DIMENSION_TAG:
                    bounds = SheetDimension.from_tree(element).boundaries
                    self._min_column, self._min_row, self._max_column, self._max_row = bounds
                    return
                if element.tag == DATA_TAG:  # no dimension: the size stays unknown, rows are read as found
                    return
        finally:
            src.close()


# openpyxl builds its read-only sheets by this name at load: set once, at import (the same answer as its own
# class for every workbook, so other readers in the process lose nothing)
excel.ReadOnlyWorksheet = _Sheet


def open_read_only(path: Path, **options: Any) -> Any:
    """`openpyxl.load_workbook(path, read_only=True, …)` without the whole-sheet dimension scan."""
    return load_workbook(path, read_only=True, **options)
