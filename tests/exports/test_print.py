"""Print check of a version-2 volume (issue 14): every sheet of a 2,000-item volume with long comments and 100
open items, rendered by LibreOffice to PDF and read back with pdfplumber — the smallest body glyph is at
least 9 pt, no two text lines overlap, and no cell's text is cut (every comment's characters are on the
pages). The volume's own PDF/A copy is checked the same way; so are the meeting report (exports.meeting_report) and
the 四性检测 report sheet (exports.fourfold_report)."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from datetime import date
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import to_local, utcnow
from core.db import unit_of_work
from core.settings import Settings
from exports import texts
from exports.fixity import verify
from exports.fourfold import CHECKS
from exports.fourfold_report import latest, write_sheet
from exports.meeting_report import meeting_report
from exports.plan import transfer_dir
from exports.receive import receive
from exports.seal import compile_locked
from feedback import review
from feedback.models import Feedback, Meeting
from tests.support.volume_data import fill_period

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pdfplumber = pytest.importorskip("pdfplumber")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SOFFICE is None, reason="needs LibreOffice (scripts/_services.sh installs it)"),
]
LONG = "红烧肉偏咸，米饭有点硬，希望食堂在控盐和蒸饭时间上改进，" * 8  # ~240 characters


def _render(xlsx: Path, tmp: Path, name: str = "volume") -> Path:
    work = tmp / "render"
    work.mkdir(exist_ok=True)
    shutil.copyfile(xlsx, work / f"{name}.xlsx")
    subprocess.run(
        [
            SOFFICE,
            "--headless",
            "--norestore",
            f"-env:UserInstallation=file://{tmp}/lo",
            "--convert-to",
            "pdf",
            "--outdir",
            str(work),
            str(work / f"{name}.xlsx"),
        ],
        check=True,
        capture_output=True,
        timeout=900,
    )
    return work / f"{name}.pdf"


def _check_pages(pdf: Path) -> str:
    """Assert glyph size and no overlapping lines on every page; return all text (spaces removed)."""
    text: list[str] = []
    with pdfplumber.open(pdf) as doc:
        for n, page in enumerate(doc.pages, 1):
            chars = [c for c in page.chars if c["text"].strip()]
            body = [c for c in chars if c["top"] > 40 and c["bottom"] < page.height - 40]  # not header/footer
            if body:
                assert min(c["size"] for c in body) >= 8.95, (n, min(c["size"] for c in body))
            # lines: characters grouped by baseline; two lines overlap when a glyph box of one crosses the other
            tops = sorted({(round(c["bottom"], 1), round(c["top"], 1), int(c["x0"] // 60)) for c in body})
            by_col: dict[int, list[tuple[float, float]]] = {}
            for bottom, top, col in tops:
                by_col.setdefault(col, []).append((top, bottom))
            for col, spans in by_col.items():
                lines = sorted(set(spans))
                for (t1, b1), (t2, b2) in pairwise(lines):
                    if abs(b1 - b2) < 0.5:
                        continue  # the same line
                    assert t2 >= b1 - 1.5, (n, col, (t1, b1), (t2, b2))
            text.append("".join(c["text"] for c in sorted(chars, key=lambda c: (c["top"], c["x0"]))))
    return "".join(text)


def test_a_2000_item_volume_prints(engine, settings, tmp_path: Path, backend: str) -> None:  # type: ignore[no-untyped-def]
    if backend != "sqlite":
        pytest.skip("printing does not depend on the database: once is enough")
    fill_period(engine, n=2100, closed=2000, comment=LONG)
    code = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
    base = transfer_dir(settings, code) / "data" / "电子档案"
    rendered = _render(base / f"{code}.xlsx", tmp_path)
    text = _check_pages(rendered)
    # nor wider than its column: the pseudonym, the time, 基本满意
    _within_columns(rendered, (texts.SHEET_CATALOGUE, texts.SHEET_ITEMS))
    counts = Counter(text)
    # no cell cut: every comment's characters reach the pages (2,000 comments, each ~240 characters)
    assert counts["控"] >= 2000 * 8, counts["控"]
    assert "卷内备考表" in text and "编制时仍在处理中的反馈100条" in text
    own = _check_pages(base / f"{code}.pdf")
    # page numbers (the extracted text drops the spaces around the number)
    assert Counter(own)["控"] >= 2000 * 8 and "第1页" in own.replace(" ", "")
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copyfile(rendered, artifacts / "volume-2000.pdf")
    shutil.copyfile(base / f"{code}.pdf", artifacts / "volume-2000-pdfa.pdf")


def _column(pdf: Path, head: str, next_head: str) -> str:
    """The text of one table column on every page (below its header, left of the next one's), read top to
    bottom: a wrapped cell's lines join back, so a text that is whole on the page is found whole."""
    out: list[str] = []
    with pdfplumber.open(pdf) as doc:
        for page in doc.pages:
            for at in page.search(head):
                nxt = [m for m in page.search(next_head) if abs(m["top"] - at["top"]) < 2]
                if not nxt:
                    continue  # the same words elsewhere (a title), not the header row
                part = page.crop((at["x0"] - 1, at["bottom"] + 1, nxt[0]["x0"] - 1, page.height - 40))
                chars = sorted(
                    (c for c in part.chars if c["text"].strip()), key=lambda c: (round(c["top"]), c["x0"])
                )
                out.append("".join(c["text"] for c in chars))
                break
    return "".join(out)


def _uncut(pdf: Path) -> None:
    """No glyph crosses a horizontal rule of the grid: a text taller than its row runs under the next
    row's border (cut off on paper) even though its characters are still in the PDF."""
    _no_rule_crossed(pdf, "h")


def _within_columns(pdf: Path, sheets: tuple[str, ...]) -> None:
    """On the pages of `sheets` (named in the page header), no glyph crosses a vertical rule of the grid: a
    text wider than its column is cut at the column's border on paper (LibreOffice clips it where the next
    cell holds anything) even though its characters are still in the PDF. (Elsewhere, a title running on
    into empty cells is whole on paper.)"""
    _no_rule_crossed(pdf, "v", sheets)


def _no_rule_crossed(pdf: Path, orientation: str, sheets: tuple[str, ...] | None = None) -> None:
    """No glyph crossed by a rule of `orientation` ("h" or "v"), on every page or the pages of `sheets`."""
    across = 0 if orientation == "h" else 1  # the glyph's box spans the rule along this axis
    with pdfplumber.open(pdf) as doc:
        for n, page in enumerate(doc.pages, 1):
            if sheets is not None:
                header = "".join(c["text"] for c in page.chars if c["top"] < 40)
                if not any(sheet in header for sheet in sheets):
                    continue
            rules = [e for e in page.edges if e["orientation"] == orientation]
            for c in page.chars:
                if not c["text"].strip():
                    continue
                glyph = ((c["x0"], c["x1"]), (c["top"], c["bottom"]))
                for e in rules:
                    rule = ((e["x0"], e["x1"]), (e["top"], e["bottom"]))
                    (lo, hi), (r_lo, r_hi) = glyph[across], rule[across]
                    at = rule[1 - across][0]  # where the rule stands (its top, or its x0)
                    g_lo, g_hi = glyph[1 - across]
                    inset = 1.5 if orientation == "h" else 1
                    if r_lo < hi - 1 and lo + 1 < r_hi and g_lo + inset < at < g_hi - inset:
                        raise AssertionError((n, c["text"], round(g_lo, 1), round(at, 1)))


def _keep(pdf: Path, name: str) -> None:
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copyfile(pdf, artifacts / name)


REPLY = "感谢您的意见，会务组已调整茶歇时间并增加热水供应，请继续监督。"  # 32 characters


def test_the_meeting_report_prints(engine: Engine, settings: Settings, tmp_path: Path, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("printing does not depend on the database: once is enough")
    with unit_of_work(engine) as s:
        m = Meeting(
            code="HY2026P",
            title="全市机关后勤保障工作会议（第二次全体会议暨年度总结表彰会）",
            starts_on=date(2026, 11, 20),
            ends_on=date(2026, 11, 21),
            venue="市行政中心第一会议室",
            organiser="市机关事务管理局办公室",
        )
        s.add(m)
        s.flush()
        meeting_id = m.id or 0
        for i in range(300):
            fb = Feedback(
                reference=f"FK20261120-{i:04d}",
                channel="meeting",
                sender=f"o_m{i % 40}",
                meeting_id=meeting_id,
                service_date=m.starts_on,
                score=1 + i % 5,
                comment=LONG if i % 3 == 0 else f"茶水不够热 第{i}条",
                created_at=utcnow(),
            )
            s.add(fb)
            s.flush()
            if i % 2 == 0:
                review.reply(s, feedback_id=fb.id or 0, actor="赵会务", text=REPLY)
    with Session(engine) as s:
        xlsx = meeting_report(s, meeting_id=meeting_id, settings=settings, path=tmp_path / "m.xlsx")
    rendered = _render(xlsx, tmp_path, "meeting")
    text = _check_pages(rendered)
    _uncut(rendered)
    counts = Counter(text)
    assert counts["控"] >= 100 * 8, counts["控"]
    comments = _column(rendered, "意见内容", "处理状态")
    assert comments.count(LONG) == 100, comments.count(LONG)  # 100 long comments, each whole
    assert text.count(REPLY[-12:]) == 150, text.count(REPLY[-12:])  # the reply column filled, never cut
    assert "会议名称全市机关后勤保障工作会议" in text  # the label right beside its value
    assert text.count("意见内容") >= 2  # the header row repeated on the list's pages
    _keep(rendered, "meeting-report.pdf")


def test_the_fourfold_report_sheet_prints(
    engine: Engine, settings: Settings, tmp_path: Path, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("printing does not depend on the database: once is enough")
    fill_period(engine, n=30, comment=LONG)
    code = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
    assert receive(engine, settings=settings, archival_code=code, by="李档案").received
    xlsx = transfer_dir(settings, code) / "data" / "电子档案" / f"{code}.xlsx"
    xlsx.write_bytes(xlsx.read_bytes() + b"x")  # tampered: 长期保存 fails, with long details
    assert not verify(engine, settings=settings, archival_code=code, agent="档案室").ok
    with Session(engine) as s:
        stages = latest(s, code)
    assert [len(st.checks) for st in stages] == [len(CHECKS)] * 3
    sheet = write_sheet(
        tmp_path / "4x.xlsx",
        code=code,
        title="机关一食堂2026年10月就餐评价",
        stages=stages,
        when=lambda at: to_local(at, settings.tz).strftime("%Y-%m-%d %H:%M"),
    )
    rendered = _render(sheet, tmp_path, "fourfold")
    _check_pages(rendered)
    _uncut(rendered)
    names = _column(rendered, "检测项目", "结果")
    for _category, name in CHECKS.values():  # every check's name whole on the page, at each stage
        assert names.count(name.replace(" ", "")) == 3, (name, names)
    stage_col = _column(rendered, "检测阶段", "编号")
    assert "检测人：李档案" in stage_col and "检测人：档案室" in stage_col, stage_col
    assert "不通过" in _column(rendered, "结果", "说明")  # the tampered workbook at 长期保存
    _keep(rendered, "fourfold-report.pdf")
