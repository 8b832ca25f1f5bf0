"""Print check of a version-2 volume (issue 14): every sheet of a 2,000-item volume with long comments and 100
open items, rendered by LibreOffice to PDF and read back with pdfplumber — the smallest body glyph is at
least 9 pt, no two text lines overlap, and no cell's text is cut (every comment's characters are on the
pages). The volume's own PDF/A copy is checked the same way."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from exports.plan import transfer_dir
from exports.seal import compile_locked
from tests.support.volume_data import fill_period

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pdfplumber = pytest.importorskip("pdfplumber")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SOFFICE is None, reason="needs LibreOffice (scripts/_services.sh installs it)"),
]
LONG = "红烧肉偏咸，米饭有点硬，希望食堂在控盐和蒸饭时间上改进，" * 8  # ~240 characters


def _render(xlsx: Path, tmp: Path) -> Path:
    work = tmp / "render"
    work.mkdir(exist_ok=True)
    shutil.copyfile(xlsx, work / "volume.xlsx")
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
            str(work / "volume.xlsx"),
        ],
        check=True,
        capture_output=True,
        timeout=900,
    )
    return work / "volume.pdf"


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
