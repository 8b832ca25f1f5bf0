"""An approval gives what was approved (issue 11, finding 9; both databases): an item approval shows and
exports that item alone — an extract whose canonical line's SHA-256 is the item's 条目SHA-256 in the
sealed workbook — marked with the requester's name and request number; the page says who may use it
until when. A volume approval still gives the sealed file unchanged."""

from __future__ import annotations

import hashlib
import io
from urllib.parse import unquote

from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel import Session, col

from core.db import unit_of_work
from exports.lines import CODE_AT, DETAIL_SHEET
from exports.models import Volume
from exports.plan import transfer_dir
from lookups import identity, register, service
from lookups import texts as t
from lookups.links import access_link
from lookups.models import LookupRequest
from tests.lookups.test_lookups import archive, client, say, staff

__all__ = ["archive", "client", "staff"]  # fixtures


def _approved_link(client, engine, settings, code: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    no = say(client, f"查阅 {code} 核对", "o_zhang").split("已登记查阅申请 ")[1].split("：")[0]
    assert say(client, f"审批 {no} 同意", "o_wang") == t.DECIDE_OK.format(status="同意", no=no)
    with Session(engine) as s:
        req = s.execute(select(LookupRequest).where(col(LookupRequest.register_no) == no)).scalar_one()
        return no, access_link(settings, req).rsplit("/access/", 1)[1]


def test_an_item_approval_gives_that_item_alone_checkable_against_the_seal(
    client, engine, settings, archive, staff
) -> None:  # type: ignore[no-untyped-def]
    item = f"{archive}/0003"
    no, token = _approved_link(client, engine, settings, item)
    page = client.get(f"/access/{token}")
    assert page.status_code == 200 and item in page.text
    assert f"{archive}/0002" not in page.text and f"{archive}/0004" not in page.text
    assert f"仅限 张三（办公室） 依登记号 {no} 使用，有效至" in page.text  # who may use it, until when
    download = client.get(f"/access/{token}/download")
    assert download.status_code == 200 and download.content[:2] == b"PK"
    disposition = unquote(download.headers["content-disposition"])
    assert "摘录" in disposition and no in disposition and "张三" in disposition
    wb = load_workbook(io.BytesIO(download.content))
    ws = wb.worksheets[0]
    fields = {r[0]: r[1] for r in ws.iter_rows(min_row=2, values_only=True)}
    assert fields["条目标识"] == item and no in fields[t.EXTRACT_FOR] and "张三" in fields[t.EXTRACT_FOR]
    assert no in ws.oddHeader.center.text
    canonical, digest = fields[t.EXTRACT_LINE], fields["条目SHA-256"]
    assert hashlib.sha256(canonical.encode("utf-8")).hexdigest() == digest
    with Session(engine) as s:
        vol = s.execute(select(Volume).where(col(Volume.archival_code) == archive)).scalar_one()
    sealed = load_workbook(
        transfer_dir(settings, archive) / "data" / "电子档案" / f"{archive}.xlsx", read_only=True
    )
    version = vol.line_version
    code_col = CODE_AT[version][1]
    rows = [r for r in sealed[DETAIL_SHEET[version]].iter_rows(values_only=True) if r and r[code_col] == item]
    assert len(rows) == 1 and rows[0][-1] == digest  # the sealed workbook's 条目SHA-256 for that row
    assert vol.item_count == 18 and sum(1 for _ in ws.iter_rows()) < 25  # one item, not the volume


def test_a_volume_approval_gives_the_sealed_file_unchanged_and_named_for_the_request(
    client, engine, settings, archive, staff
) -> None:  # type: ignore[no-untyped-def]
    no, token = _approved_link(client, engine, settings, archive)
    download = client.get(f"/access/{token}/download")
    sealed = (transfer_dir(settings, archive) / "data" / "电子档案" / f"{archive}.xlsx").read_bytes()
    assert download.status_code == 200 and download.content == sealed
    assert no in unquote(download.headers["content-disposition"])


def test_control_characters_never_break_the_register_export(
    engine, settings, archive, staff, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as s:
        zhang = identity.staff_for(s, app="mp", sender="o_zhang")
        assert zhang is not None
        req = service.request_lookup(
            s, requester=zhang, code=archive, purpose="核对\x07整改\x1b", channel="mp", settings=settings
        )
        n = register.export_register(
            s, year=int(req.register_no[2:6]), settings=settings, path=tmp_path / "r.xlsx"
        )
    cells = [
        v for r in load_workbook(tmp_path / "r.xlsx").worksheets[0].iter_rows(values_only=True) for v in r
    ]
    assert n == 1 and "核对整改" in cells
