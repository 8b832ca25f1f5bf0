"""Compiling bound volumes: numbering, the workbook's sheets and text safety, idempotency, splitting,
open items, pseudonyms, and crash safety (kill -9 mid-compile)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel import Session, col

from core.db import make_engine
from exports.models import Volume, VolumeItem, VolumeStatus
from exports.plan import transfer_dir
from exports.readback import read_back, read_records
from exports.records import content_digests
from exports.seal import compile_locked
from feedback import service
from feedback.models import Feedback
from ingest.store import Store
from tests.conftest import make_settings
from tests.support.volume_data import HOSTILE, close, fill_period, set_comment

CODE_RE = re.compile(r"^J001-WS·2026-D10-CYF-\d{4}$")


def xlsx_of(settings, code: str) -> Path:  # type: ignore[no-untyped-def]
    return transfer_dir(settings, code) / "data" / "电子档案" / f"{code}.xlsx"


def volumes(engine) -> list[Volume]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.execute(select(Volume).order_by(col(Volume.id))).scalars())


def test_compile_a_period(engine, settings) -> None:  # type: ignore[no-untyped-def]
    fill_period(engine, n=20)
    result = compile_locked(engine, settings=settings, period="2026-10")
    assert result.volumes == ["J001-WS·2026-D10-CYF-0001"] and result.items == 20
    path = xlsx_of(settings, result.volumes[0])
    back = read_back(path)
    assert back.sheets == ["案卷封面", "卷内目录", "卷内文件", "统计汇总", "卷内备考表", "封卷信息"]
    assert CODE_RE.match(back.cover["档号"]) and back.cover["卷内文件数"] == 20
    assert back.cover["保管期限"] == "10年" and back.cover["全宗名称"] == settings.fonds_name
    wb = load_workbook(path, read_only=True)
    catalogue = list(wb["卷内目录"].iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in catalogue] == list(range(1, 21))
    assert all(r[7] == f"{result.volumes[0]}/{i:04d}" for i, r in enumerate(catalogue, 1))
    assert all(
        re.fullmatch(r"FK2026\d{4}-\d{4}", r[1]) and re.fullmatch(r"202610\d\d", r[4]) for r in catalogue
    )
    wb.close()
    records = list(read_records(path, 2))
    assert len(records) == 20  # one 卷内文件 line per feedback
    assert all(
        sha == __import__("exports.records", fromlist=["item_digest"]).item_digest(r) for r, sha in records
    )
    vol = volumes(engine)[0]
    assert content_digests(r for r, _ in records)[:2] == (vol.content_sha256, vol.content_sm3)
    assert back.notes["内容摘要SHA-256"] == vol.content_sha256
    assert vol.status == VolumeStatus.sealed and vol.seal and vol.file_sha256
    with Session(engine) as s:
        assert all(fb.volume_id == vol.id for fb in s.execute(select(Feedback)).scalars())


def test_rerun_creates_nothing(engine, settings) -> None:  # type: ignore[no-untyped-def]
    fill_period(engine, n=6)
    first = compile_locked(engine, settings=settings, period="2026-10")
    again = compile_locked(engine, settings=settings, period="2026-10")
    assert first.volumes and again.volumes == [] and len(volumes(engine)) == 1
    assert (
        sorted(p.name for p in (settings.data_dir / "transfer").iterdir() if not p.name.startswith("."))
        == first.volumes
    )


def test_split_numbering_is_contiguous(engine, db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(db_url, tmp_path / "var", volume_max_items=5)
    fill_period(engine, n=12)
    result = compile_locked(engine, settings=settings, period="2026-10")
    assert result.volumes == [f"J001-WS·2026-D10-CYF-{n:04d}" for n in (1, 2, 3)]
    vols = volumes(engine)
    assert [v.item_count for v in vols] == [5, 5, 2]
    assert [v.title.endswith(f"（第{v.part}卷）") for v in vols] == [True] * 3
    assert [v.prev_archival_code for v in vols] == [None, vols[0].archival_code, vols[1].archival_code]
    assert vols[1].prev_seal == vols[0].seal and vols[2].prev_seal == vols[1].seal
    with Session(engine) as s:
        for v in vols:
            seqs = [
                i.seq
                for i in s.execute(
                    select(VolumeItem).where(col(VolumeItem.volume_id) == v.id).order_by(col(VolumeItem.seq))
                ).scalars()
            ]
            assert seqs == list(range(1, v.item_count + 1))


def test_open_items_are_listed_then_bound_in_a_supplementary_volume(engine, settings) -> None:  # type: ignore[no-untyped-def]
    ids = fill_period(engine, n=10, closed=7)
    first = compile_locked(engine, settings=settings, period="2026-10")
    assert first.open_items == 3 and volumes(engine)[0].item_count == 7
    with Session(engine) as s:
        open_refs = [s.get(Feedback, i).reference for i in ids[7:]]  # type: ignore[union-attr]
    notes = read_back(xlsx_of(settings, first.volumes[0])).notes["本卷情况说明"]
    assert "仍在处理中的反馈3条" in notes and all(ref in notes for ref in open_refs)
    close(engine, ids[7:])
    second = compile_locked(engine, settings=settings, period="2026-10")
    assert second.volumes == ["J001-WS·2026-D10-CYF-0002"] and second.open_items == 0
    vol = volumes(engine)[1]
    assert (
        vol.item_count == 3 and vol.title.endswith("（第2卷）") and vol.prev_archival_code == first.volumes[0]
    )


def test_user_text_is_always_text_and_counted(engine, settings) -> None:  # type: ignore[no-untyped-def]
    ids = fill_period(engine, n=4)
    set_comment(engine, ids[0], HOSTILE)
    set_comment(engine, ids[1], "坏\x07字符\x1b[31m")
    set_comment(engine, ids[2], "长" * 40000)
    code = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
    wb = load_workbook(xlsx_of(settings, code))  # full mode: see cell types
    detail = wb["卷内文件"]
    hostile = detail.cell(row=2, column=6)
    assert hostile.value == HOSTILE and hostile.data_type == "s"
    assert detail.cell(row=3, column=6).value == "坏字符[31m"
    lines = [r for r, _ in read_records(xlsx_of(settings, code), 2)]
    assert len(lines[2][5]) == 32000  # continued over rows, joined back whole
    assert not any(c.data_type == "f" for row in detail.iter_rows() for c in row)
    notes = read_back(xlsx_of(settings, code)).notes
    assert "经技术处理的条目3处" in notes["本卷情况说明"]
    assert "删除了2个控制字符" in notes[f"{code}/0002"] and "截断" in notes[f"{code}/0003"]
    assert "按文本收录" in notes[f"{code}/0001"]


def test_diners_are_pseudonyms_never_openids(engine, settings) -> None:  # type: ignore[no-untyped-def]
    fill_period(engine, n=8, sender_prefix="oPENID_SECRET")
    code = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
    bag = transfer_dir(settings, code)
    for path in bag.rglob("*"):
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                assert all(b"oPENID_SECRET" not in z.read(n) for n in z.namelist())
        elif path.is_file():
            assert b"oPENID_SECRET" not in path.read_bytes()
    names = {r[2] for r, _ in read_records(xlsx_of(settings, code), 2)}
    assert names == {
        service.pseudonym(f"oPENID_SECRET_{i}", secret=settings.pseudonym_secret) for i in range(7)
    }


def test_meeting_channel_and_retention_codes(engine, db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(
        db_url, tmp_path / "var", retention_by_channel={"canteen": "D10", "meeting": "D30"}
    )
    fill_period(engine, n=3, channel="meeting")
    result = compile_locked(engine, settings=settings, period="2026-10", channel="meeting")
    assert result.volumes == ["J001-WS·2026-D30-HWF-0001"]
    assert read_back(xlsx_of(settings, result.volumes[0])).cover["保管期限"] == "30年"


def test_archived_feedback_is_read_only(engine, settings) -> None:  # type: ignore[no-untyped-def]
    ids = fill_period(engine, n=2)
    compile_locked(engine, settings=settings, period="2026-10")
    with Session(engine) as s:
        row = Store(s).get_feedback(ids[0])
        assert row is not None and row.volume_id is not None
        with pytest.raises(service.ArchivedError):
            service.add_to_feedback(Store(s), feedback=row, comment="补充", actor="o")
        with pytest.raises(service.ArchivedError):
            service.attach_media(Store(s), feedback=row, kind="image", media_id="m")


def test_every_row_keeps_its_own_values_and_styles(engine, settings) -> None:  # type: ignore[no-untyped-def]
    # one styled cell object per column serves every row (exports.workbook._Styled): each row must still
    # carry its own value, wrapped text and small digest font, and the unstyled cells none of them
    fill_period(engine, n=12)
    code = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
    wb = load_workbook(xlsx_of(settings, code))
    detail, catalogue = wb["卷内文件"], wb["卷内目录"]
    comments = [detail.cell(row=r, column=6) for r in range(2, 14)]
    assert len({c.value for c in comments}) == 12 and all(c.alignment.wrap_text for c in comments)
    digests = [detail.cell(row=r, column=16) for r in range(2, 14)]
    assert len({c.value for c in digests}) == 12  # outside the print area (A–J)
    titles = [catalogue.cell(row=r, column=4) for r in range(2, 14)]
    assert len({c.value for c in titles}) == 12 and all(c.alignment.wrap_text for c in titles)
    plain = detail.cell(row=5, column=11)
    assert plain.value == f"{code}/0004" and not plain.alignment.wrap_text and plain.font.name == "宋体"
    assert not detail.cell(row=5, column=11).border.left.style  # headers have borders, rows do not
    wb.close()


def test_the_write_only_sheet_still_takes_cells_first() -> None:
    # exports.workbook._cells_first replaces this private openpyxl method to skip a failed conversion per
    # styled cell; were it renamed, rows would still come out right but the compile would slow down
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

    assert callable(getattr(WriteOnlyWorksheet, "_values_to_row", None))


def test_a_bagger_left_unused_bags_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from exports.bagging import Bagger

    (tmp_path / "f.txt").write_text("x")
    with Bagger() as bagger:
        proc = bagger._proc
    assert proc.returncode is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]  # not made a bag


def test_bad_period_is_refused(engine, settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="YYYY-MM"):
        compile_locked(engine, settings=settings, period="2026/10")


# --- crash safety ------------------------------------------------------------------------------------

COMPILE_SCRIPT = """
import sys
from core.db import make_engine
from exports.seal import compile_locked
from tests.conftest import make_settings
from pathlib import Path
from ingest.store import Store
settings = make_settings(sys.argv[1], Path(sys.argv[2]), volume_max_items=int(sys.argv[3]))
compile_locked(make_engine(sys.argv[1]), settings=settings, period="2026-10")
"""


def _clone(db_url: str, tmp_path: Path) -> str:
    """A copy of the database as it is now (before compiling)."""
    if db_url.startswith("sqlite"):
        import sqlite3

        copy = tmp_path / "clone.db"
        src = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        dst = sqlite3.connect(copy)
        src.backup(dst)
        src.close()
        dst.close()
        return f"sqlite:///{copy}"
    import uuid

    import psycopg

    from tests.conftest import PG_ADMIN

    name = db_url.rsplit("/", 1)[1]
    clone = f"{name}_c{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        conn.execute(f'CREATE DATABASE "{clone}" TEMPLATE "{name}"')
    return db_url.rsplit("/", 1)[0] + "/" + clone


def _summary(url: str) -> list[tuple[str, int, str | None, str | None, str]]:
    eng = make_engine(url)
    try:
        with Session(eng) as s:
            vols = s.execute(select(Volume).order_by(col(Volume.id))).scalars().all()
            return [(v.archival_code, v.item_count, v.content_sha256, v.content_sm3, v.status) for v in vols]
    finally:
        eng.dispose()


@pytest.mark.slow
def test_kill_9_mid_compile_then_rerun_equals_an_uninterrupted_run(engine, db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fill_period(engine, n=1500)
    engine.dispose()
    reference_url = _clone(db_url, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    args = [sys.executable, "-c", COMPILE_SCRIPT]
    # the uninterrupted reference run
    subprocess.run([*args, reference_url, str(tmp_path / "ref"), "300"], check=True, env=env)
    expected = _summary(reference_url)
    assert len(expected) == 5
    data = tmp_path / "crash"
    kills = 0
    for delay in (0.3, 0.8, 1.3, 1.9, 2.6):
        proc = subprocess.Popen([*args, db_url, str(data), "300"], env=env)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        staging = data / "transfer" / ".staging"
        visible = (
            [p.name for p in (data / "transfer").iterdir() if not p.name.startswith(".")]
            if (data / "transfer").exists()
            else []
        )
        sealed = [code for code, *_rest, status in _summary(db_url) if status == "sealed"]
        assert set(visible) >= set(sealed)  # every sealed volume has its bag
        # a visible bag without a sealed row can only be the one being sealed when killed; no half bag is visible
        assert len(set(visible) - set(sealed)) <= 1
        del staging
    assert kills >= 1
    subprocess.run([*args, db_url, str(data), "300"], check=True, env=env)
    assert _summary(db_url) == expected  # same numbers, same items, same content digests
    assert sorted(p.name for p in (data / "transfer").iterdir() if not p.name.startswith(".")) == [
        e[0] for e in expected
    ]
    assert not any((data / "transfer" / ".staging").iterdir())
