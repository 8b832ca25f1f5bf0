"""What an item approval gives (issue 11): an extract (摘录) of one sealed item — its row's values (明细 or 卷内文件, by the volume's line format), its
canonical line and that line's SHA-256, which is the item's 条目SHA-256 in the sealed workbook — as a
small workbook marked with the requester's name and the request number. Nothing else of the volume.

How to check an extract against the seal: the SHA-256 of the canonical line (UTF-8, no newline) must
equal the digest listed beside it, and the same digest stands in the 条目SHA-256 column of the item's row
in the sealed workbook, whose file digest `houqin verify <档号>` checks against the seal record."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from sqlmodel import Session

from core.settings import Settings
from exports.lines import DETAIL_HEADERS, RECORDS
from exports.models import Volume
from exports.records import item_digest, line, sanitise
from exports.source import iter_items
from lookups import texts
from lookups.models import LookupRequest


@dataclass
class Extract:
    """One sealed item as an extract: its values (明细 without the digest), canonical line and SHA-256."""

    item_code: str
    values: list[Any]
    line: str
    sha256: str
    line_version: int  # the volume's canonical line format (exports/lines.py): which columns the values are

    @property
    def headers(self) -> tuple[str, ...]:
        """The column names of the values, the last one the 条目SHA-256."""
        return tuple(DETAIL_HEADERS[self.line_version])


def item_extract(session: Session, *, settings: Settings, volume_id: int, item_code: str) -> Extract | None:
    """The extract of one item of a sealed volume, built exactly as the seal built its line; None if absent."""
    vol = session.get(Volume, volume_id)
    version = vol.line_version if vol is not None else 1
    build = RECORDS[version]
    for item in iter_items(session, volume_id=volume_id):
        if item.item_code == item_code:
            values, _ = build(item, settings=settings)
            return Extract(
                item_code=item_code,
                values=values,
                line=line(values),
                sha256=item_digest(values),
                line_version=version,
            )
    return None


def extract_workbook(extract: Extract, *, req: LookupRequest, expires: str, volume_title: str) -> bytes:
    """The extract as an .xlsx, marked with the requester, the request number and the validity."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(texts.EXTRACT_SHEET)
    ws.page_setup.paperSize = "9"
    mark = texts.EXTRACT_MARK.format(name=req.requester_name, no=req.register_no, expires=expires)
    ws.oddHeader.center.text = sanitise(mark).text
    ws.oddFooter.center.text = sanitise(mark).text
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 90
    bold, wrap = Font(name="黑体", bold=True), Alignment(wrap_text=True, vertical="top")

    def row(label: str, value: Any) -> None:
        a = WriteOnlyCell(ws, value=label)
        a.font = bold
        b = WriteOnlyCell(ws, value=sanitise("" if value is None else str(value)).text)
        b.data_type = "s"  # text, never a formula
        b.alignment = wrap
        ws.append([a, b])

    title = WriteOnlyCell(ws, value=texts.EXTRACT_TITLE.format(code=extract.item_code))
    title.font = Font(name="黑体", size=14, bold=True)
    ws.append([title])
    row(texts.EXTRACT_FROM, volume_title)
    row(texts.EXTRACT_FOR, mark)
    for header, value in zip(extract.headers, extract.values, strict=False):
        row(header, value)
    row(texts.EXTRACT_LINE, extract.line)
    row(extract.headers[-1], extract.sha256)
    row(texts.EXTRACT_CHECK_LABEL, texts.EXTRACT_CHECK)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
