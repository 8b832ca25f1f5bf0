"""The 四性检测 report of a volume in the console: on the volume page (latest result per stage: 归档, 移交与接收,
长期保存), as JSON from the API, and as a printable .xlsx; archivists and admins only."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from console.auth import create_token
from core.db import unit_of_work
from core.settings import Settings
from exports.fixity import verify
from exports.fourfold import CHECKS
from exports.models import Volume
from exports.receive import receive
from server.app import create_app
from tests.support.console_helpers import add_users, login, sealed_volume


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    add_users(engine)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def _bearer(engine: Engine, username: str) -> dict[str, str]:
    with unit_of_work(engine) as s:
        return {"Authorization": f"Bearer {create_token(s, username=username, name='test')}"}


def _received_then_tampered(engine: Engine, settings: Settings) -> str:
    """A volume sealed (归档), received (移交与接收) and then audited with its workbook damaged (长期保存)."""
    code = sealed_volume(engine, settings)
    assert receive(engine, settings=settings, archival_code=code, by="王档案").received
    with Session(engine) as s:
        vol = s.execute(select(Volume).where(col(Volume.archival_code) == code)).scalar_one()
    (settings.data_dir / vol.file_name).write_bytes(b"not a workbook")
    assert not verify(engine, settings=settings, archival_code=code, agent="档案室").ok
    return code


def test_the_volume_page_shows_the_report_per_stage(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    code = _received_then_tampered(engine, settings)
    login(client, "archivist")
    page = client.get(f"/console/volumes/{code}").text
    report = page[page.index('id="fourfold"') : page.index("核验记录")]
    for label in ("归档", "移交与接收", "长期保存"):
        assert f"<b>{label}</b>" in report, label
    assert report.count('data-label="编号" class="nowrap">ZS-01<') == 3  # each stage lists every check
    assert "检测人 王档案" in report and "检测人 档案室" in report
    assert "不通过" in report and "未检测" in report and "通过" in report
    assert 'class="alert"' in report  # a failed check stands out (a card of its own on a phone)
    assert "4x:" not in page  # the 四性 events are in the report, not in the event list below
    sheet = client.get(f"/console/volumes/{code}/fourfold.xlsx")
    assert sheet.status_code == 200 and sheet.content[:2] == b"PK"
    assert "filename*=utf-8''" in sheet.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(sheet.content))["四性检测报告"]
    rows = [r for r in ws.iter_rows(values_only=True)]
    assert rows[2] == ("检测阶段", "编号", "类别", "检测项目", "结果", "说明")
    assert ws.print_title_rows == "$1:$3" and str(ws.page_setup.paperSize) == "9"
    body = rows[3:]
    assert len(body) == 3 * len(CHECKS)
    assert {r[4] for r in body} == {"通过", "不通过", "未检测"}
    assert all(ws.row_dimensions[i].height for i in range(4, 4 + len(body)))  # heights from the text

    client.cookies.clear()
    login(client, "canteen")
    for path in (f"/console/volumes/{code}", f"/console/volumes/{code}/fourfold.xlsx"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code in (303, 403), (path, r.status_code)


def test_the_api_gives_the_report_as_json_and_as_a_sheet(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    code = _received_then_tampered(engine, settings)
    h = _bearer(engine, "archivist")
    out = client.get(f"/api/v1/volumes/{code}/fourfold", headers=h).json()
    assert out["volume"] == code
    assert [(s["stage"], s["label"]) for s in out["stages"]] == [
        ("archive", "归档"),
        ("receipt", "移交与接收"),
        ("preserve", "长期保存"),
    ]
    archive, receipt, preserve = out["stages"]
    assert archive["agent"] and receipt["agent"] == "王档案" and preserve["agent"] == "档案室"
    assert {c["result"] for c in receipt["checks"]} == {"pass", "not_checked"}
    failed = {c["code"] for c in preserve["checks"] if c["result"] == "fail"}
    assert "ZS-01" in failed and "KY-01" in failed  # the damaged workbook: digests, and it no longer opens
    assert {c["category"] for c in archive["checks"]} == {"真实性", "完整性", "可用性", "安全性"}
    sheet = client.get(f"/api/v1/volumes/{code}/fourfold.xlsx", headers=h)
    assert sheet.status_code == 200 and load_workbook(io.BytesIO(sheet.content)).sheetnames == [
        "四性检测报告"
    ]
    assert client.get(f"/api/v1/volumes/{code}/fourfold", headers=_bearer(engine, "admin")).status_code == 200
    for who in ("canteen", "reception"):
        assert client.get(f"/api/v1/volumes/{code}/fourfold", headers=_bearer(engine, who)).status_code == 403
    missing = client.get("/api/v1/volumes/J001-WS·2026-D10-CYF-0099/fourfold", headers=h)
    assert missing.status_code == 404
