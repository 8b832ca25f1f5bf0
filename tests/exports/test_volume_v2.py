"""Version-2 volumes (issue 14; issue 11 finding 11): the handling record in the workbook, the PDF/A copy
and the seal; a byte changed in either file is reported by name; the 四性检测 report; an old-style (line
version 1) volume still verifies beside new ones; a meeting edited after sealing still verifies."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlmodel import Session, col
from typer.testing import CliRunner

from core.db import unit_of_work
from exports import plan as exports_plan
from exports.fixity import verify
from exports.lines import CURRENT
from exports.models import Volume
from exports.plan import transfer_dir
from exports.readback import read_records
from exports.seal import compile_locked
from feedback import review
from feedback.models import Feedback, Meeting
from server.cli import app as cli
from tests.support.volume_data import fill_period

RECT = {
    "measure": "更换盐勺并培训厨师控盐",
    "owner": "王师傅",
    "deadline": "2026-10-20",
    "progress": "已完成，复查合格",
}


def _files(settings, code: str) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    base = transfer_dir(settings, code) / "data" / "电子档案"
    return base / f"{code}.xlsx", base / f"{code}.pdf"


def _rectified(engine, n: int = 3) -> list[int]:  # type: ignore[no-untyped-def]
    ids = fill_period(engine, n=n, closed=0)
    with unit_of_work(engine) as s:
        review.reply(s, feedback_id=ids[0], actor="李经理", text="感谢反馈，已通知后厨")
        review.record_rectification(s, feedback_id=ids[0], actor="李经理", **RECT)
        review.resolve(s, feedback_id=ids[0], actor="李经理")
        for i in ids:
            review.close(s, feedback_id=i, actor="张主任")
    return ids


def test_handling_record_word_for_word_in_workbook_and_pdf(engine, settings) -> None:  # type: ignore[no-untyped-def]
    _rectified(engine)
    code = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
    xlsx, pdf = _files(settings, code)
    lines = [r for r, _ in read_records(xlsx, 2)]
    rect = lines[0][7]
    for value in RECT.values():
        assert value in rect
    assert "感谢反馈，已通知后厨" in lines[0][6] and "张主任" in lines[0][8] and "李经理" in lines[0][8]
    pdfplumber = pytest.importorskip("pdfplumber")
    with pdfplumber.open(pdf) as doc:
        text = "".join((p.extract_text() or "") for p in doc.pages)
        column = ""
        for page in doc.pages:  # the 整改情况 column's characters, top to bottom
            words = page.extract_words()
            heads = [w for w in words if w["text"] == "整改情况"]
            nexts = [
                w for w in words if w["text"] == "办结情况"
            ]  # the next column's header: the column's end
            if heads and nexts:
                x0, x1 = heads[0]["x0"] - 3, nexts[0]["x0"] - 1
                chars = [c for c in page.chars if x0 <= c["x0"] < x1 and c["top"] > heads[0]["bottom"]]
                column += "".join(c["text"] for c in sorted(chars, key=lambda c: (round(c["top"]), c["x0"])))
    for value in RECT.values():
        assert value in column, (value, column)
    assert code in text and "第 1 页" in text
    with Session(engine) as s:
        vol = s.execute(select(Volume)).scalar_one()
        assert vol.line_version == CURRENT and vol.pdf_sha256 and vol.series == "J001-WS-canteen"
        assert vol.compiler == settings.compiler_name and vol.compiler_unit == "示例市机关事务管理局办公室"
    seal = json.loads((transfer_dir(settings, code) / "data" / "其他" / "封卷记录.json").read_text())
    assert seal["pdf_sha256"] == vol.pdf_sha256 and seal["line_version"] == CURRENT
    if shutil.which("pdffonts"):
        fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
        rows = fonts.splitlines()[2:]
        assert rows and all(" yes " in r.split("Identity-H")[-1] or "yes" in r.split()[-4] for r in rows), (
            fonts
        )


@pytest.mark.parametrize("which", ["xlsx", "pdf"])
def test_a_changed_byte_in_either_file_is_reported_by_name(engine, settings, which: str) -> None:  # type: ignore[no-untyped-def]
    _rectified(engine)
    code = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
    assert verify(engine, settings=settings).ok
    path = _files(settings, code)[0 if which == "xlsx" else 1]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    report = verify(engine, settings=settings, archival_code=code)
    assert not report.ok
    assert any(path.name in p for _, p in report.problems), report.problems
    checks = {c["code"]: c for c in report.reports[0]["checks"]}
    assert checks["ZS-01"]["result"] == "fail" and checks["ZS-01"]["category"] == "真实性"


def test_verify_report_cli(engine, settings, tmp_path: Path, cli_env) -> None:  # type: ignore[no-untyped-def]
    _rectified(engine)
    code = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
    # cli_env clears the cached settings: without it the CLI kept the previous test's database
    env = {**cli_env, "HOUQIN_DATA_DIR": str(settings.data_dir)}
    out = tmp_path / "r.json"
    run = CliRunner().invoke(cli, ["verify", code, "--report", str(out)], env=env)
    assert run.exit_code == 0, run.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["volume"] == code and report["stage"] == "长期保存"
    assert {c["category"] for c in report["checks"]} == {"真实性", "完整性", "可用性", "安全性"}
    assert all(c["result"] in ("pass", "not_checked") for c in report["checks"])
    with unit_of_work(engine) as s:  # tamper with a sealed item in the database
        fid = s.execute(select(col(Feedback.id)).order_by(col(Feedback.id))).scalars().first()
        s.execute(update(Feedback).where(col(Feedback.id) == fid).values(comment="被改过"))
    run = CliRunner().invoke(cli, ["verify", code, "--report", str(out)], env=env)
    assert run.exit_code == 1
    report = json.loads(out.read_text(encoding="utf-8"))
    failed = {c["category"] for c in report["checks"] if c["result"] == "fail"}
    assert "真实性" in failed


def test_old_style_volume_still_verifies_beside_new_ones(engine, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fill_period(engine, n=4, period="2026-09")
    monkeypatch.setattr(exports_plan, "CURRENT", 1)
    old = compile_locked(engine, settings=settings, period="2026-09").volumes[0]
    monkeypatch.undo()
    _rectified(engine)
    new = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
    with Session(engine) as s:
        versions = {v.archival_code: v.line_version for v in s.execute(select(Volume)).scalars()}
    assert versions == {old: 1, new: CURRENT}
    assert (transfer_dir(settings, old) / "data" / "电子档案" / f"{old}.xlsx").is_file()
    assert not (transfer_dir(settings, old) / "data" / "电子档案" / f"{old}.pdf").exists()
    report = verify(engine, settings=settings)
    assert report.ok, report.problems


def test_meeting_edited_after_sealing_still_verifies(engine, settings) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    with unit_of_work(engine) as s:
        m = Meeting(
            code="HY1",
            title="全市后勤工作会议",
            starts_on=date(2026, 10, 5),
            ends_on=date(2026, 10, 6),
            organiser="办公室",
        )
        s.add(m)
        s.flush()
        mid = m.id
    ids = fill_period(engine, n=3, channel="meeting")
    with unit_of_work(engine) as s:
        s.execute(update(Feedback).where(col(Feedback.id).in_(ids)).values(meeting_id=mid))
    code = compile_locked(engine, settings=settings, period="2026-10", channel="meeting").volumes[0]
    with unit_of_work(engine) as s:
        s.execute(update(Meeting).where(col(Meeting.id) == mid).values(title="改过的标题", organiser="别处"))
    report = verify(engine, settings=settings, archival_code=code)
    assert report.ok, report.problems
    lines = [r for r, _ in read_records(_files(settings, code)[0], 2)]
    assert all("全市后勤工作会议" in r[3] for r in lines)
