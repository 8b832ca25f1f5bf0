"""Writing the rows of a volume's two long sheets (卷内目录, 卷内文件) as XML text: the XML openpyxl's
write-only mode writes for the same rows (the same elements, attributes and text), without its cell objects.

Why: openpyxl serialises every cell through a cell object, its attribute checks and one lxml element
context each; at 10,000 items that was most of the workbook's time (docs/benchmarks.md, "Compile").
Here a sheet's writer is openpyxl's own, with one difference: its stream is a file we hold, so that rows
formatted here can be written between what openpyxl writes (the sheet's set-up and header row before them,
`</sheetData>` and the print settings after). A cell is formatted here when it is a string, an int or a
float (plain, or in a styled cell of `exports.sheets`); anything else, and any string holding a character
lxml escapes other than `&`, `<` and `>`, goes through openpyxl's own cell writer (`etree_write_cell`).
The one difference in the bytes: openpyxl writes non-ASCII text as character references (`&#26426;`), these
rows as UTF-8, the XML default — a third smaller, and read back without a reference to decode.
`tests/exports/test_xlsxwrite.py` checks the sheets are, in canonical XML (C14N), those openpyxl writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from lxml import etree
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell._writer import etree_write_cell
from openpyxl.compat import safe_string
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.xml.constants import SHEET_MAIN_NS

FLUSH_ROWS = 500  # rows formatted before they are handed to the file
# text formatted here: nothing lxml refuses (control characters, surrogates, U+FFFE/F) or writes as &#13; (CR)
_PLAIN = re.compile("[^\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]*").fullmatch


class _Writer(WorksheetWriter):
    """openpyxl's sheet writer, its XML stream on a file object this module writes rows into too."""

    def get_stream(self) -> Iterator[Any]:
        # openpyxl's get_stream, on a file object of our own instead of the path
        with open(self.out, "wb") as fh, etree.xmlfile(fh) as xf:
            self.fh, self.stream = fh, xf
            with xf.element("worksheet", xmlns=SHEET_MAIN_NS):
                try:
                    while True:
                        el = yield
                        if el is True:
                            yield xf
                        elif el is not None:
                            xf.write(el)
                except GeneratorExit:
                    pass


class _Into:
    """What `etree_write_cell` writes to: the cell's element, kept."""

    __slots__ = ("element",)

    def __init__(self) -> None:
        self.element: Any = None

    def write(self, element: Any) -> None:
        self.element = element


class RawRows:
    """The rows of a write-only sheet after its header row, formatted here (see the module docstring).

    Make it before the sheet's first `append`; append the header row(s) with `ws.append`, then every
    further row with `row`, and `close` before the workbook is saved. Rows are numbered by the caller.
    """

    def __init__(self, ws: Any) -> None:
        if ws._writer is not None:
            raise RuntimeError("RawRows must be made before the sheet's first append")
        ws._writer = _Writer(ws)
        ws._writer.write_top()
        self.ws = ws
        self._writer: _Writer = ws._writer
        self._rows: list[str] = []

    def row(self, row_idx: int, values: Sequence[Any], height: str | None = None) -> None:
        """Row `row_idx`: plain values and cells, as `ws.append` takes them (None: no cell); `height` in pt."""
        out = [f'<row r="{row_idx}" ht="{height}" customHeight="1">' if height else f'<row r="{row_idx}">']
        for col_idx, given in enumerate(values, 1):
            if given is None:
                continue
            if isinstance(given, Cell):
                style = f' s="{given.style_id}"' if given.has_style else ""
                kind, value = given.data_type, given._value
            else:
                style, kind, value = "", "s" if given.__class__ is str else "n", given
            cls = value.__class__
            coord = f'<c r="{get_column_letter(col_idx)}{row_idx}"{style}'
            if kind == "s" and cls is str and _PLAIN(value):
                if not value:
                    out.append(coord + ' t="inlineStr"></c>')
                    continue
                text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                space = ' xml:space="preserve"' if value != value.strip() else ""
                out.append(f'{coord} t="inlineStr"><is><t{space}>{text}</t></is></c>')
            elif kind == "n" and (cls is int or cls is float):
                out.append(f'{coord} t="n"><v>{safe_string(value)}</v></c>')
            else:
                out.append(self._by_openpyxl(row_idx, col_idx, given))
        out.append("</row>")
        self._rows.append("".join(out))
        if len(self._rows) >= FLUSH_ROWS:
            self._flush()

    def _by_openpyxl(self, row_idx: int, col_idx: int, given: Any) -> str:
        """One cell through openpyxl's own writer (dates, booleans, odd characters, an empty styled cell …)."""
        cell = given if isinstance(given, Cell) else WriteOnlyCell(self.ws, value=given)
        cell.row, cell.column = row_idx, col_idx
        into = _Into()
        etree_write_cell(into, self.ws, cell, styled=cell.has_style)
        return str(etree.tostring(into.element, encoding="unicode"))

    def _flush(self) -> None:
        self._writer.stream.flush()  # what openpyxl wrote so far, before these rows
        self._writer.fh.write("".join(self._rows).encode("utf-8"))
        self._rows.clear()

    def close(self) -> None:
        """Hand the last rows to the file (before the workbook is saved)."""
        if self._rows:
            self._flush()
