"""Reading our workbooks read-only fast: openpyxl's answers, without its slow paths.

Two of openpyxl's read-only costs are removed, both with the same values for every workbook:
- its look for a sheet's `<dimension>` (`WorkSheetParser.parse_dimensions`) takes iterparse's *end* events:
  when a sheet has none — ours are written write-only, which writes none — it found `<sheetData>` only once
  the whole sheet was parsed, so each load parsed every sheet in full. Here the look stops at the start of
  `<sheetData>`, which the schema puts after `<dimension>`.
- its rows (`iter_rows(values_only=True)` of a sheet without a dimension) are parsed here with lxml from
  that sheet's XML: strings, numbers and empty cells — all our sheets hold — on a fast path, any other cell
  (formulas, date-styled numbers, booleans, errors, rich text) by openpyxl's own parser. openpyxl's
  ElementTree parsing and per-cell objects were most of the 归档 checks' time (docs/benchmarks.md).
The XML is parsed as defusedxml would allow (no entities expanded, no network; a DTD is refused).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lxml import etree
from openpyxl import load_workbook
from openpyxl.cell.text import Text
from openpyxl.reader import excel
from openpyxl.utils.cell import column_index_from_string, coordinate_to_tuple
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import DATA_TAG, DIMENSION_TAG, WorkSheetParser, _cast_number
from openpyxl.worksheet.dimensions import SheetDimension
from openpyxl.xml.functions import iterparse  # defusedxml's when installed, as openpyxl's own

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _VALUE, _FORMULA, _INLINE, _TEXT = (_MAIN + t for t in ("row", "v", "f", "is", "t"))
_COORD = re.compile(r"([A-Z]{1,3})\d+").fullmatch
_Numbered = tuple[int, list[tuple[int, Any]]]  # a row's number and its (column, value) cells
_FAST = frozenset(("n", "s", "inlineStr"))  # cell types read here; the others by openpyxl's parse_cell


def safe_iterparse(source: Any, **options: Any) -> Any:
    """lxml's iterparse hardened as defusedxml hardens ElementTree: no entity expanded, no network, no
    comments or processing instructions (call `refuse_dtd` on the first element)."""
    return etree.iterparse(
        source,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
        **options,
    )


def refuse_dtd(element: Any) -> None:
    """Raise ValueError when the document of `element` has a DTD (whose entities would stay unexpanded)."""
    info = element.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise ValueError("a DTD in the document is refused")


class _Columns(dict[str, int]):
    """Column letters → index, computed once per letters (a sheet has a handful)."""

    def __missing__(self, letters: str) -> int:
        self[letters] = index = column_index_from_string(letters)
        return index


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

    def _cells_by_row(
        self, min_col: int, min_row: int, max_col: int | None, max_row: int | None, values_only: bool = False
    ) -> Iterator[Any]:
        if not values_only or (max_col or self.max_column) or (max_row or self.max_row):
            yield from super()._cells_by_row(min_col, min_row, max_col, max_row, values_only)
            return
        done = 0
        try:
            for row in _in_order(_strict_rows(self), min_col, min_row):
                yield row
                done += 1
            return
        except _NotStrict:  # not (or no longer) our plain form: lxml from the start, past the rows given
            pass
        for k, row in enumerate(_in_order(self._values_by_row(), min_col, min_row)):
            if k >= done:
                yield row

    def _values_by_row(self) -> Iterator[_Numbered]:
        """openpyxl's `_cells_by_row(values_only=True)` of a sheet of unknown size, parsed by lxml."""
        wb = self.parent
        shared = self._shared_strings
        dates = wb._date_formats
        slow = WorkSheetParser(
            None,
            shared,
            data_only=wb.data_only,
            epoch=wb.epoch,
            date_formats=dates,
            timedelta_formats=wb._timedelta_formats,
        )
        columns = _Columns()
        row_no = 0
        with self._get_source() as src:
            for _event, row in safe_iterparse(src, events=("end",), tag=_ROW):
                if row_no == 0:
                    refuse_dtd(row)
                r = row.get("r")
                row_no = _row_number(r) if r is not None else row_no + 1
                col_no = 0
                found: list[tuple[int, Any]] = []
                for c in row:
                    kind = c.get("t", "n")
                    style = c.get("s")
                    if (
                        kind not in _FAST
                        or c.find(_FORMULA) is not None
                        or (kind == "n" and style and int(style) in dates)
                    ):
                        slow.row_counter, slow.col_counter = row_no, col_no
                        value = slow.parse_cell(c)["value"]
                        col_no = slow.col_counter
                        found.append((col_no, value))
                        continue
                    coord = c.get("r")
                    if coord is None:
                        col_no += 1
                    else:
                        m = _COORD(coord)
                        col_no = columns[m.group(1)] if m else coordinate_to_tuple(coord)[1]
                    if kind == "inlineStr":
                        found.append((col_no, _inline(c)))
                        continue
                    text = c.findtext(_VALUE) or None
                    if text is None:
                        found.append((col_no, None))
                    elif kind == "s":
                        found.append((col_no, shared[int(text)]))
                    else:
                        found.append((col_no, _cast_number(text)))
                row.clear()
                while row.getprevious() is not None:  # keep memory flat: drop the rows already read
                    del row.getparent()[0]
                yield row_no, found


def _in_order(rows: Iterator[_Numbered], min_col: int, min_row: int) -> Iterator[Sequence[Any]]:
    """Numbered rows as openpyxl's `_cells_by_row(values_only=True)` gives them from `min_row`: an empty
    list for a row missing from the sheet, a row numbered before one already given skipped."""
    counter = min_row
    for row_no, found in rows:
        for _ in range(counter, row_no):
            counter += 1
            yield []
        if counter <= row_no:
            counter += 1
            yield _values(found, min_col)


def _row_number(r: str) -> int:
    """A `<row r=…>` number, as openpyxl reads it."""
    try:
        return int(r)
    except ValueError:
        val = float(r)
        if not val.is_integer():
            raise ValueError(f"{r} is not a valid row number") from None
        return int(val)


def _inline(c: Any) -> str | None:
    """An inline string's text as openpyxl's `Text.content` gives it (plain, or its runs joined)."""
    child = c.find(_INLINE)
    if child is None:
        return None
    if len(child) == 1 and child[0].tag == _TEXT:
        return child[0].text or ""
    return Text.from_tree(child).content  # rich text or phonetic runs: openpyxl's own reading


def _values(found: list[tuple[int, Any]], min_col: int) -> tuple[Any, ...]:
    """A row's values by column, as openpyxl's `_get_row`: up to its last cell's column."""
    if not found:
        return ()
    last = found[-1][0]
    out: list[Any] = [None] * (last + 1 - min_col)
    for col_no, value in found:
        if min_col <= col_no <= last:
            out[col_no - min_col] = value
    return tuple(out)


class _NotStrict(Exception):
    """The sheet's XML leaves the plain form `_strict_rows` reads."""


# The plain form openpyxl's write-only mode writes: `<row r=…>` of `<c r=… s=… t=…>` with a `<v>` number or an
# inline `<is><t>` string, nothing between rows. Texts are `[^<]*`: those with a reference, a CR or anything
# XML forbids go through libxml2 (which decodes them, or refuses them as it would in the sheet).
_CELL = (
    r'<c r="([A-Z]{1,3})[1-9][0-9]{0,6}"(?: s="([0-9]{1,5})")?(?: t="(n|s|inlineStr)")?'
    r"(?:/>|>(?:<v>(-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)?</v>"
    r'|(<is>(?:<t(?: xml:space="preserve")?>([^<]*)</t>|<t/>)?</is>|<is/>))?</c>)'
)
_STRICT_ROW = re.compile(
    r'<row r="([1-9][0-9]{0,6})"(?: spans="[0-9:]{1,15}")?(?: ht="[0-9.]{1,10}")?(?: customHeight="[01]")?>'
    rf"((?:{_CELL})*)</row>"
).match
_STRICT_CELLS = re.compile(_CELL).finditer
_ODD_TEXT = re.compile("[&\\r\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\ufffe\\uffff]|]]>").search
_TEXTS = etree.XPath("/a/text()", smart_strings=False)
_CHUNK = 1 << 20
_MAX_ROW = 1 << 24  # characters: a row of 16,384 cells of 32,767 characters would not fit, ours do


def _strict_rows(ws: ReadOnlyWorksheet) -> Iterator[_Numbered]:
    """The rows of `ws` as openpyxl's `_cells_by_row(values_only=True)` gives them, read by regular expression
    from a sheet in the plain form; `_NotStrict` as soon as the XML leaves it (nothing is guessed)."""
    shared = ws._shared_strings
    dates = ws.parent._date_formats
    columns = _Columns()
    decoder = codecs.getincrementaldecoder("utf-8")()
    with ws._get_source() as src:

        def more() -> str:
            try:
                return decoder.decode(src.read(_CHUNK), final=False)
            except UnicodeDecodeError:
                raise _NotStrict from None

        buf = more()
        while "<sheetData>" not in buf:
            chunk = more()
            if not chunk or len(buf) > _CHUNK:
                raise _NotStrict
            buf += chunk
        at = buf.index("<sheetData>") + len("<sheetData>")
        prelude = buf[:at]
        if "<!" in prelude or "<?" in prelude[2:]:
            raise _NotStrict
        _reduced(prelude, "</worksheet>")
        pos = at
        while True:
            rows: list[tuple[int, list[tuple[int, Any]]]] = []
            texts: list[tuple[list[tuple[int, Any]], int, str]] = []
            while m := _STRICT_ROW(buf, pos):
                pos = m.end()
                found: list[tuple[int, Any]] = []
                for c in _STRICT_CELLS(m.group(2)):
                    letters, style, kind, number, inline, text = c.groups()
                    col_no = columns[letters]
                    if kind == "inlineStr":
                        if inline is None:
                            found.append((col_no, None))
                        elif text and _ODD_TEXT(text):
                            texts.append((found, len(found), text))
                            found.append((col_no, None))
                        else:
                            found.append((col_no, text or ""))
                    elif number is None:
                        found.append((col_no, None))
                    elif kind == "s":
                        found.append((col_no, shared[int(number)]))
                    elif style and int(style) in dates:
                        raise _NotStrict  # a date: openpyxl's conversion
                    else:
                        found.append((col_no, _cast_number(number)))
                rows.append((int(m.group(1)), found))
            if texts:
                for (found, i, _), value in zip(texts, _decoded([t for _, _, t in texts]), strict=True):
                    found[i] = (found[i][0], value)
            yield from rows
            if buf.startswith("</sheetData>", pos):
                break
            chunk = more()
            if not chunk or len(buf) - pos > _MAX_ROW or buf.find("</row>", pos) != -1:
                raise _NotStrict  # the end, a row too long, or a whole row not in the plain form
            buf = buf[pos:] + chunk
            pos = 0
        tail = buf[pos + len("</sheetData>") :]
        while chunk := more():
            tail += chunk
            if len(tail) > _CHUNK:
                raise _NotStrict
        _reduced(prelude, tail)


def _reduced(prelude: str, tail: str) -> None:
    """The sheet without its rows must be well-formed, one `worksheet` of the main namespace with
    `sheetData` its child (`tail`: what follows `</sheetData>`); else `_NotStrict`."""
    try:
        root = etree.fromstring((prelude + "</sheetData>" + tail).encode("utf-8"), _PARSER)
        refuse_dtd(root)
    except (etree.XMLSyntaxError, ValueError):
        raise _NotStrict from None
    data = root.find(DATA_TAG)
    info = root.getroottree().docinfo
    if (
        root.tag != _MAIN + "worksheet"
        or data is None
        or len(data)
        or (info.encoding or "").lower() != "utf-8"
    ):
        raise _NotStrict


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _decoded(raw: list[str]) -> list[str]:
    """Cell texts as libxml2 reads them (references decoded, newlines normalised), in one parse."""
    try:
        root = etree.fromstring(("<a>" + "<s/>".join(raw) + "</a>").encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError:
        raise _NotStrict from None  # lxml's reading of the sheet then fails where openpyxl's would
    out = _TEXTS(root)
    if len(out) != len(raw):  # every text is non-empty: one text node each
        raise _NotStrict
    return list(out)


# openpyxl builds its read-only sheets by this name at load: set once, at import (the same answers as its
# own class for every workbook, so other readers in the process lose nothing)
excel.ReadOnlyWorksheet = _Sheet


def open_read_only(path: Path, **options: Any) -> Any:
    """`openpyxl.load_workbook(path, read_only=True, …)`, with this module's faster sheet reading."""
    return load_workbook(path, read_only=True, **options)
