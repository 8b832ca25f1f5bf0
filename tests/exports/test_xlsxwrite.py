"""exports.xlsxwrite: rows formatted as XML text make the sheets openpyxl's write-only mode makes (in
canonical XML), and read back to the same values."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from exports.sheets import Styled, as_written, cells_first
from exports.xlsxwrite import FLUSH_ROWS, RawRows

HEADER = ["序号", "题名", "评分"]

# what openpyxl accepts in a cell: anything but the control characters it refuses (CR, tab, newline stay)
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)).filter(lambda c: not ILLEGAL_CHARACTERS_RE.match(c)),
    max_size=40,
)
values = st.one_of(
    st.none(),
    texts,
    st.sampled_from(
        ["", " 前后空格 ", "a & b < c > d", "=SUM(A1:A2)", "行一\r\n行二", "红烧肉偏咸，希望改进"]
    ),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)  # no plain dates: openpyxl's one plain cell per row then carries the date's format to the row's later
# cells (a volume's rows hold dates as text; a datetime in a styled column is in the flush test)
rows = st.lists(
    st.tuples(st.lists(values, min_size=1, max_size=6), st.sampled_from([None, "18", "30"])), max_size=30
)


def _write(path: Path, body: list[tuple[list[Any], str | None]], *, raw: bool) -> None:
    """The same sheet written by `ws.append` (openpyxl) or by RawRows, styled cells in columns 2 and 4."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("卷内目录")
    writer = RawRows(ws) if raw else None
    if writer is None:
        cells_first(ws)
    styled = {1: Styled(ws, wrap=True), 3: Styled(ws, wrap=True)}
    ws.append(HEADER)
    for r, (cells, height) in enumerate(body, start=2):
        row = as_written(ws, list(cells))
        for i, style in styled.items():
            if i < len(row) and cells[i] is not None:
                row[i] = style(cells[i])
        if writer is not None:
            writer.row(r, row, height)
        else:
            if height:
                ws.row_dimensions[r] = {"ht": height, "customHeight": "1"}
            ws.append(row)
            ws.row_dimensions.pop(r, None)
    if writer is not None:
        writer.close()
    wb.save(path)


def _sheet_xml(path: Path) -> bytes:
    with zipfile.ZipFile(path) as z:
        return bytes(etree.tostring(etree.fromstring(z.read("xl/worksheets/sheet1.xml")), method="c14n"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=rows)
def test_rows_make_the_sheet_openpyxl_makes(tmp_path: Path, body: list[tuple[list[Any], str | None]]) -> None:
    ours, theirs = tmp_path / "ours.xlsx", tmp_path / "theirs.xlsx"
    _write(ours, body, raw=True)
    _write(theirs, body, raw=False)
    assert _sheet_xml(ours) == _sheet_xml(theirs)
    a = list(load_workbook(ours, read_only=True)["卷内目录"].iter_rows(values_only=True))
    b = list(load_workbook(theirs, read_only=True)["卷内目录"].iter_rows(values_only=True))
    assert a == b


def test_more_rows_than_one_flush_keep_their_order(tmp_path: Path) -> None:
    body: list[tuple[list[Any], str | None]] = [
        ([i, f"第{i}条 & 备注", i * 0.5, datetime(2026, 10, 1, 12, i % 60)], "30" if i % 7 == 0 else None)
        for i in range(1, 2 * FLUSH_ROWS + 17)
    ]
    ours, theirs = tmp_path / "ours.xlsx", tmp_path / "theirs.xlsx"
    _write(ours, body, raw=True)
    _write(theirs, body, raw=False)
    assert _sheet_xml(ours) == _sheet_xml(theirs)
    got = list(load_workbook(ours, read_only=True)["卷内目录"].iter_rows(values_only=True))
    assert len(got) == len(body) + 1 and got[-1][0] == len(body) and got[-1][1] == f"第{len(body)}条 & 备注"


def test_made_after_the_first_append_is_refused() -> None:
    ws = Workbook(write_only=True).create_sheet("卷内目录")
    ws.append(HEADER)
    with pytest.raises(RuntimeError):
        RawRows(ws)
    ws.close()  # the sheet openpyxl began is still whole
    assert ws.closed
