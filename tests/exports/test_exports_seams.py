"""The seams of exports/ after issue 10: feedback rows derived from the table and matched by name, the
shared cover/notes/seal values, the readers of either workbook version."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import create_engine, literal, select

from exports import source
from exports.book import cover_values, seal_values
from exports.sheets import Header
from feedback.models import Feedback


def test_feedback_rows_are_the_tables_columns_by_name() -> None:
    table = Feedback.__table__  # type: ignore[attr-defined]
    assert source.FeedbackRow._fields[:2] == ("seq", "item_code")
    assert all(name in table.c for name in source.FeedbackRow._fields[2:])
    assert "search_tokens" not in source.FeedbackRow._fields


def test_a_result_with_other_columns_is_refused() -> None:
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        result = conn.execute(select(literal(1).label("seq"), literal("x").label("reference")))
        with pytest.raises(RuntimeError, match="not"):
            list(source._feedback_rows(result))


def test_cover_and_seal_values_follow_their_labels() -> None:
    header = Header(
        archival_code="J001-WS·2026-D10-CYF-0001",
        title="t",
        channel="canteen",
        period="2026-10",
        retention="D10",
        date_from=date(2026, 10, 1),
        date_to=date(2026, 10, 31),
        item_count=3,
        fonds_name="机关事务管理局",
        compiled_at="2026-11-01 02:00",
        compiler="办公室",
        generator="houqin",
        first_item="J001-WS·2026-D10-CYF-0001/0001",
        last_item="J001-WS·2026-D10-CYF-0001/0003",
        prev_archival_code=None,
        prev_seal=None,
    )
    cover = dict(cover_values(header, compiler_unit="办公室"))
    assert cover["保管期限"] == "10年" and cover["档号"] == header.archival_code
    seal = dict(seal_values(header, sha256="a" * 64, sm3="b" * 64))
    assert seal["内容摘要SHA-256"] == "a" * 64 and seal["规范行格式"] == "2"
