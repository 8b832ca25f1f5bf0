"""A sealed workbook renders its Chinese text when LibreOffice (headless) converts it to PDF."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from exports.plan import transfer_dir
from exports.seal import compile_locked
from tests.support.volume_data import fill_period

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        SOFFICE is None or shutil.which("pdftotext") is None,
        reason="needs LibreOffice and poppler-utils (scripts/test installs them from Debian's packages)",
    ),
]


def test_workbook_renders_chinese_in_pdf(engine, settings, tmp_path: Path, backend: str) -> None:  # type: ignore[no-untyped-def]
    if backend != "sqlite":
        pytest.skip("rendering does not depend on the database: once is enough")
    fill_period(engine, n=30, comment="红烧肉偏咸，米饭有点硬")
    code = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
    xlsx = transfer_dir(settings, code) / "data" / "电子档案" / f"{code}.xlsx"
    work = tmp_path / "render"
    work.mkdir()
    shutil.copyfile(xlsx, work / "volume.xlsx")
    subprocess.run(
        [
            SOFFICE,
            "--headless",
            "--norestore",
            f"-env:UserInstallation=file://{tmp_path}/lo-profile",
            "--convert-to",
            "pdf",
            "--outdir",
            str(work),
            str(work / "volume.xlsx"),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    pdf = work / "volume.pdf"
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    for expected in ("案卷题名", "机关食堂就餐反馈", "题名", "红烧肉偏咸", "备考表", "内容摘要SHA-256", code):
        assert expected in text, expected
    fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert any(
        name in fonts
        for name in ("WenQuanYi", "WQY", "Noto Sans CJK", "Noto Serif CJK", "Droid Sans Fallback")
    ), fonts
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copyfile(pdf, artifacts / "volume.pdf")  # for a person to look at
