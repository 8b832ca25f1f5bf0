"""Aspect scores (issue 15: 口味, 卫生, 服务, 环境) in a volume: printed in the 卷内文件 of the workbook and the
PDF for the items that have them, inside the canonical lines (line version 3) so the seal covers them; a
volume sealed with line version 2 keeps its lines and still verifies."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlmodel import Session, col

from core.db import unit_of_work
from exports import plan as exports_plan
from exports.fixity import verify
from exports.models import Volume
from exports.plan import transfer_dir
from exports.readback import read_records
from exports.seal import compile_locked
from feedback.models import FeedbackAspect
from tests.support.volume_data import fill_period

ASPECTS = [("口味", 4), ("卫生", 5), ("服务", 3), ("环境", 2)]


def _rated(engine, *, period: str = "2026-10") -> list[int]:  # type: ignore[no-untyped-def]
    ids = fill_period(engine, n=3, period=period)
    with unit_of_work(engine) as s:
        for aspect, score in ASPECTS:
            s.add(FeedbackAspect(feedback_id=ids[0], aspect=aspect, score=score))
    return ids


def _xlsx(settings, code: str) -> Path:  # type: ignore[no-untyped-def]
    return transfer_dir(settings, code) / "data" / "电子档案" / f"{code}.xlsx"


def test_aspect_scores_are_printed_and_sealed(engine, settings) -> None:  # type: ignore[no-untyped-def]
    ids = _rated(engine)
    code = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
    with Session(engine) as s:
        assert s.execute(select(col(Volume.line_version))).scalar_one() == 3
    lines = [r for r, _ in read_records(_xlsx(settings, code), 3)]
    assert lines[0][4] == "1\n口味 4\n卫生 5\n服务 3\n环境 2"  # the overall score, then each aspect
    assert lines[1][4] == 2  # no aspects: the score as before
    pdfplumber = pytest.importorskip("pdfplumber")
    with pdfplumber.open(_xlsx(settings, code).with_suffix(".pdf")) as doc:
        text = "".join((p.extract_text() or "") for p in doc.pages)
    for aspect, score in ASPECTS:
        assert f"{aspect} {score}" in text
    assert verify(engine, settings=settings, archival_code=code).ok
    with unit_of_work(engine) as s:  # an aspect score changed after sealing breaks the seal
        s.execute(
            update(FeedbackAspect)
            .where(col(FeedbackAspect.feedback_id) == ids[0], col(FeedbackAspect.aspect) == "卫生")
            .values(score=1)
        )
    report = verify(engine, settings=settings, archival_code=code)
    assert not report.ok


def test_a_version_2_volume_keeps_its_lines_and_verifies(engine, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _rated(engine, period="2026-09")
    monkeypatch.setattr(exports_plan, "CURRENT", 2)
    old = compile_locked(engine, settings=settings, period="2026-09").volumes[0]
    monkeypatch.undo()
    _rated(engine)
    new = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
    with Session(engine) as s:
        versions = {v.archival_code: v.line_version for v in s.execute(select(Volume)).scalars()}
    assert versions == {old: 2, new: 3}
    old_lines = [r for r, _ in read_records(_xlsx(settings, old), 2)]
    assert old_lines[0][4] == 1  # sealed before aspects joined the line: the score alone
    assert not any("卫生 5" in str(v) for r in old_lines for v in r)  # (口味 is also a topic: 类别)
    report = verify(engine, settings=settings)
    assert report.ok, report.problems
