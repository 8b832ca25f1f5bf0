"""The register export (查阅登记簿) prints on A4 (issue 14): a year of requests with long purposes, long
department names, 利用效果 notes and one purpose long enough to continue over rows, rendered by LibreOffice
to PDF and read back with pdfplumber (the helpers of tests/exports/test_print.py) — the body glyphs are at
least 9 pt, no two text lines overlap, every page is the whole width (first and last column, title and
year in the header), and no text is cut (every marker character and every 登记号 and 档号 reach the
pages)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session

from core.clock import utcnow
from core.db import unit_of_work
from feedback.models import Person
from lookups import effect, links, register, service
from tests.exports.test_print import SOFFICE, _check_pages, _render, pdfplumber
from tests.lookups.test_lookups import archive

__all__ = ["archive"]  # fixture
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SOFFICE is None, reason="needs LibreOffice (scripts/_services.sh installs it)"),
]
N = 40


def _year_of_requests(engine, settings, code: str) -> tuple[int, Counter[str], list[str]]:  # type: ignore[no-untyped-def]
    """N requests: purposes of 「稽」 (one of 480, over rows), notes of 「注」; most approved, used and answered."""
    expected: Counter[str] = Counter()
    numbers = []
    with unit_of_work(engine) as s:
        wang = Person(openid="o_wang_p", staff_no="P000", name="王档案", roles="staff,archivist")
        s.add(wang)
        s.flush()
        for i in range(N):
            person = Person(
                openid=f"o_p{i}",
                staff_no=f"P{i + 1:03d}",
                name="欧阳晓明" if i % 3 else "张三",
                department="机关事务管理局办公室综合科" if i % 2 else "后勤处",
                roles="staff",
            )
            s.add(person)
            s.flush()
            purpose = "核对整改" + "稽" * (480 if i == 7 else 6 + i % 9 * 5)
            expected["稽"] += purpose.count("稽")
            item = f"{code}/{1 + i % 12:04d}" if i % 2 else code
            req = service.request_lookup(
                s,
                requester=person,
                code=item,
                purpose=purpose,
                channel="wecom" if i % 4 else "mp",
                settings=settings,
            )
            numbers.append(req.register_no)
            if i % 5 == 4:
                continue  # pending
            reason = "仅限在线查阅，不得转发" if i % 3 else ""
            service.decide(
                s,
                register_no=req.register_no,
                approve=i % 7 != 6,
                approver=wang,
                reason=reason,
                settings=settings,
            )
            if req.decision != "approved":
                continue
            token = links.access_link(settings, req).rsplit("/access/", 1)[1]
            assert links.open_link(s, token=token, settings=settings).outcome == "served"
            if i % 3:
                note = "注" * (4 + i % 6 * 7)
                expected["注"] += len(note)
                effect.record(
                    s, register_no=req.register_no, person=person, effect=1 + i % 3, note=note, now=utcnow()
                )
    return int(numbers[0][2:6]), expected, numbers


def test_the_register_export_prints_on_a4(engine, settings, archive, tmp_path: Path, backend: str) -> None:  # type: ignore[no-untyped-def]
    if backend != "sqlite":
        pytest.skip("printing does not depend on the database: once is enough")
    year, expected, numbers = _year_of_requests(engine, settings, archive)
    xlsx = tmp_path / "register.xlsx"
    with unit_of_work(engine) as s:
        assert register.export_register(s, year=year, settings=settings, path=xlsx) == N
    with Session(engine) as s:
        assert register.verify_register(s).ok
    pdf = _render(xlsx, tmp_path)
    text = _check_pages(pdf)  # ≥ 9 pt, no overlapping lines
    counts = Counter(text)
    for mark, n in expected.items():  # nothing cut: every marker character is on the pages
        assert counts[mark] == n, (mark, counts[mark], n)
    for no in numbers:
        assert no in text
    assert text.count("CYF-") >= N  # every 档号's last part (it wraps after 「D10-」)
    title = f"{settings.fonds_name}{year}年档案查阅登记簿"
    with pdfplumber.open(pdf) as doc:
        assert len(doc.pages) > 2
        for n, page in enumerate(doc.pages, 1):
            words = page.extract_text().replace(" ", "")
            # one page wide: every page has the first and the last columns' headers, and the header's year
            assert "登记号" in words and "利用效果" in words and "说明" in words, n
            assert words.startswith(title), n
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copyfile(pdf, artifacts / "register.pdf")
