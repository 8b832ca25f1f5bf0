"""The fast read-back of workbooks (exports.xlsxread): the same rows as openpyxl's own read-only reader for
any workbook — our write-only form read by regular expression, anything else by lxml or openpyxl itself —
and the 归档 checks at seal reading the database only for the numbering while still refusing a bad volume.
"""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from sqlalchemy import Engine

import exports.seal
from core.settings import Settings
from exports import verify as volume_checks
from exports.fixity import verify
from exports.seal import SealRefused, compile_locked
from exports.xlsxread import _in_order, _NotStrict, _strict_rows, open_read_only
from tests.support.volume_data import fill_period

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _theirs(path: Path, sheet: str, min_row: int = 1) -> list[tuple[Any, ...]]:
    """openpyxl's own rows (its read-only class, not ours)."""
    wb = open_read_only(path, data_only=False)
    try:
        return list(ReadOnlyWorksheet._cells_by_row(wb[sheet], 1, min_row, None, None, values_only=True))
    finally:
        wb.close()


def _ours(path: Path, sheet: str, min_row: int = 1) -> list[tuple[Any, ...]]:
    wb = open_read_only(path, data_only=False)
    try:
        return list(wb[sheet].iter_rows(min_row=min_row, values_only=True))
    finally:
        wb.close()


def _strict(path: Path, sheet: str) -> list[tuple[Any, ...]]:
    wb = open_read_only(path, data_only=False)
    try:
        return list(_in_order(_strict_rows(wb[sheet]), 1, 1))
    finally:
        wb.close()


TEXT = st.text(
    st.characters(
        blacklist_categories=["Cs"], blacklist_characters=[chr(c) for c in range(32) if c not in (9, 10, 13)]
    ),
    max_size=40,
) | st.sampled_from(
    ["", " ", "  lead", "trail  ", "a&b<c>d\"e'", "]]>", "x\r\ny\rz", "红烧肉偏咸 #1", "=1+1"]
)
VALUE = TEXT | st.integers(-(10**12), 10**12) | st.floats(allow_nan=False, allow_infinity=False) | st.none()


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(VALUE, max_size=8), max_size=12))
def test_write_only_sheets_read_as_openpyxl_reads_them(tmp_path: Path, rows: list[list[Any]]) -> None:
    path = tmp_path / "w.xlsx"
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("s")
    for row in rows:
        cells = []
        for v in row:
            cell = WriteOnlyCell(ws, value=v)
            if isinstance(v, str):
                cell.data_type = "s"  # as our sheets force text: never a formula
            cells.append(cell)
        ws.append(cells)
    wb.save(path)
    theirs = _theirs(path, "s")
    assert _strict(path, "s") == theirs  # our own form: read on the fast path, no fallback
    assert _ours(path, "s") == theirs
    assert _ours(path, "s", min_row=2) == _theirs(path, "s", min_row=2)


def _with_sheet(tmp_path: Path, sheet_xml: str, name: str = "odd.xlsx") -> Path:
    """A write-only workbook whose one sheet's XML is replaced by `sheet_xml`."""
    src, out = tmp_path / "src.xlsx", tmp_path / name
    wb = Workbook(write_only=True)
    wb.create_sheet("s").append([1])
    wb.save(src)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = sheet_xml.encode() if item.filename == "xl/worksheets/sheet1.xml" else zin.read(item)
            zout.writestr(item, data)
    return out


def _sheet(rows: str, *, before: str = "", after: str = "") -> str:
    return f'<worksheet xmlns="{MAIN}">{before}<sheetData>{rows}</sheetData>{after}</worksheet>'


ODD = {
    "gaps and repeats": '<row r="2"><c r="B2" t="n"><v>1</v></c></row><row r="5"><c r="A5" t="n"><v>2.5</v></c>'
    '</row><row r="4"><c r="A4" t="n"><v>3</v></c></row><row r="7"/>',
    "no coordinates": '<row><c t="n"><v>1</v></c><c t="inlineStr"><is><t>a</t></is></c></row><row><c/></row>',
    "formula": '<row r="1"><c r="A1"><f>1+1</f><v>2</v></c><c r="B1" t="str"><f>"a"</f><v>a</v></c></row>',
    "boolean and error": '<row r="1"><c r="A1" t="b"><v>1</v></c><c r="B1" t="e"><v>#N/A</v></c></row>',
    "rich text": '<row r="1"><c r="A1" t="inlineStr"><is><r><t>红</t></r><r><t>烧</t></r></is></c>'
    '<c r="B1" t="inlineStr"><is><t/></is></c><c r="C1" t="inlineStr"><is/></c>'
    '<c r="D1" t="inlineStr"></c><c r="E1" t="n"><v></v></c></row>',
    "references": '<row r="1"><c r="A1" t="inlineStr"><is><t xml:space="preserve"> &#x7EA2;&amp;&lt;&#13;x </t>'
    '</is></c><c r="C1" t="inlineStr"><is><t>a\r\nb</t></is></c></row>',
    "out of order cells": '<row r="1"><c r="C1" t="n"><v>3</v></c><c r="A1" t="n"><v>1</v></c></row>',
    "comment between rows": '<row r="1"><c r="A1" t="n"><v>1</v></c></row><!-- <row r="2"><c r="A2" t="n">'
    '<v>9</v></c></row> --><row r="3"><c r="A3" t="n"><v>3</v></c></row>',
    "whitespace between rows": '<row r="1"><c r="A1" t="n"><v>1</v></c></row>\n  <row r="2"><c r="A2" t="n">'
    "<v>2</v></c></row>\n",
    "other row attributes": '<row r="1" spans="1:2" ht="20" customHeight="1" hidden="1"><c r="A1" t="n">'
    "<v>1</v></c></row>",
}


@pytest.mark.parametrize("rows", ODD.values(), ids=ODD.keys())
def test_other_forms_read_as_openpyxl_reads_them(tmp_path: Path, rows: str) -> None:
    path = _with_sheet(tmp_path, _sheet(rows))
    assert _ours(path, "s") == _theirs(path, "s")
    assert _ours(path, "s", min_row=2) == _theirs(path, "s", min_row=2)


def test_a_date_styled_number_is_a_date(tmp_path: Path) -> None:
    path = tmp_path / "d.xlsx"
    wb = Workbook(write_only=True)
    wb.create_sheet("s").append([datetime(2026, 10, 1, 12, 0), 3])
    wb.save(path)
    assert _ours(path, "s") == _theirs(path, "s") == [(datetime(2026, 10, 1, 12, 0), 3)]


def test_a_form_left_half_way_continues_with_the_rows_not_yet_given(tmp_path: Path) -> None:
    rows = "".join(f'<row r="{i}"><c r="A{i}" t="n"><v>{i}</v></c></row>' for i in range(1, 40000))
    odd = rows + '<row r="40000"><c r="A40000"><f>1</f><v>1</v></c></row>'  # past the first chunks read
    path = _with_sheet(tmp_path, _sheet(odd))
    with pytest.raises(_NotStrict):
        _strict(path, "s")
    ours = _ours(path, "s")
    assert ours == _theirs(path, "s") and len(ours) == 40000


@pytest.mark.parametrize(
    "xml",
    [
        _sheet('<row r="1"><c r="A1" t="inlineStr"><is><t>a &amp b</t></is></c></row>'),  # a bad reference
        _sheet(
            '<row r="1"><c r="A1" t="n"><v>1</v></c></row>', after="<broken>"
        ),  # ill-formed after the rows
        f'<!DOCTYPE worksheet [<!ENTITY e "x">]><worksheet xmlns="{MAIN}"><sheetData><row r="1">'
        '<c r="A1" t="inlineStr"><is><t>&e;</t></is></c></row></sheetData></worksheet>',  # entities
    ],
    ids=["bad reference", "ill-formed tail", "entity"],
)
def test_a_sheet_openpyxl_refuses_is_refused(tmp_path: Path, xml: str) -> None:
    path = _with_sheet(tmp_path, xml)
    with pytest.raises(Exception):  # noqa: B017 — openpyxl's and lxml's errors differ; both refuse
        _theirs(path, "s")
    with pytest.raises(Exception):  # noqa: B017
        _ours(path, "s")


def test_the_seal_reads_only_the_numbering_from_the_database(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_period(engine, n=12)

    def no_second_pass(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the database streamed again at seal")

    with monkeypatch.context() as m:
        m.setattr(volume_checks, "iter_items", no_second_pass)
        (code,) = compile_locked(engine, settings=settings, period="2026-10").volumes
    assert verify(engine, settings=settings, archival_code=code).ok  # the audit recomputes it all


def test_a_workbook_not_matching_the_builds_digest_is_not_sealed(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_period(engine, n=12)
    build = exports.seal.build

    def wrong_digest(*args: Any, **kwargs: Any) -> Any:
        built = build(*args, **kwargs)
        built.record["content_sha256"] = "0" * 64  # what the build says it streamed, not what it wrote
        return built

    monkeypatch.setattr(exports.seal, "build", wrong_digest)
    with pytest.raises(SealRefused) as refused:
        compile_locked(engine, settings=settings, period="2026-10")
    text = str(refused.value)
    assert "SHA-256" in text and "content" in text  # the full comparison ran for the report
