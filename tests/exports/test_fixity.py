"""Fixity audits and receipt (exports.fixity): a fresh volume passes; every kind of tampering is reported
(workbook bytes, database content, seal record, bag, numbering, the hash chain); receipt records the
检查人 once and refuses a tampered volume; the bagit validator agrees; the CLI and the scheduled jobs work.
"""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, update
from sqlmodel import Session, col
from typer.testing import CliRunner

from core.db import make_engine, unit_of_work
from core.settings import Settings
from exports import fixity
from exports import verify as volume_checks
from exports.fixity import ReceiptRefused, UnknownVolume, verify
from exports.jobs import compile_job, fixity_job
from exports.models import FixityEvent, Volume, VolumeItem, VolumeStatus
from exports.plan import transfer_dir
from exports.receive import receive
from exports.records import seal_of
from exports.seal import compile_locked
from exports.source import iter_items
from exports.texts import PROBLEMS as TEXT
from feedback import service
from feedback.meetings import add_meeting
from feedback.models import Action, Feedback, FeedbackEvent, Site
from ingest.store import Store
from server.cli import app as cli
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]


# --- helpers ---------------------------------------------------------------------------------------------


def fill(
    engine: Engine,
    *,
    period: str = "2026-10",
    n: int = 4,
    open_: int = 0,
    channel: str = "canteen",
    data_dir: Path | None = None,
) -> list[int]:
    """n closed feedbacks in the month (plus `open_` still open), every other one replied to; their ids.

    Given `data_dir`, the first gets a downloaded photo (copied into the bag) and a voice note never downloaded.
    """
    year, month = (int(x) for x in period.split("-"))
    ids = []
    with unit_of_work(engine) as s:
        site = Site(code=f"fx{year}{month}{channel}", name="机关一食堂")
        s.add(site)
        s.flush()
        for i in range(n + open_):
            day = date(year, month, 1 + i % 28)
            at = datetime(year, month, day.day, 4, 30, tzinfo=UTC) + timedelta(seconds=i)
            fb = service.create_feedback(
                Store(s),
                sender=f"o_fix_{i % 3}",
                local_day=day,
                service_date=day,
                channel=channel,
                site_id=site.id if channel == "canteen" else None,
                meal="lunch",
                score=None if i % 4 == 3 else 1 + i % 5,
                comment=["红烧肉偏咸", "=1+1 不是公式", "", "很好\n下次再来"][i % 4] + f" 第{i}条",
                created_at=at,
            )
            ids.append(fb.id)
            if i % 2 == 0:
                s.add(
                    FeedbackEvent(
                        feedback_id=fb.id,
                        at=at + timedelta(hours=2),
                        actor="食堂张经理",
                        action=Action.replied,
                        detail="已反馈后厨，少放盐",
                    )
                )
                s.add(
                    FeedbackEvent(
                        feedback_id=fb.id,
                        at=at + timedelta(hours=3),
                        actor="食堂张经理",
                        action=Action.closed,
                    )
                )
            if i == 0 and data_dir is not None:
                photo = data_dir / "media" / f"{fb.reference}.jpg"
                photo.parent.mkdir(parents=True, exist_ok=True)
                photo.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
                service.attach_media(
                    Store(s), feedback=fb, kind="image", local_path=str(photo.relative_to(data_dir))
                )
                service.attach_media(
                    Store(s), feedback=fb, kind="voice", media_id="m_voice", recognition="太咸了"
                )
        s.execute(update(Feedback).where(col(Feedback.id).in_(ids[:n])).values(status="closed"))
    return ids


def codes(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.execute(select(col(Volume.archival_code)).order_by(col(Volume.id))).scalars())


def volume(engine: Engine, code: str) -> Volume:
    with Session(engine, expire_on_commit=False) as s:
        vol = s.execute(select(Volume).where(col(Volume.archival_code) == code)).scalar_one()
        s.expunge(vol)
        return vol


def events(engine: Engine, *, event_type: str | None = None) -> list[FixityEvent]:
    with Session(engine) as s:
        query = select(FixityEvent).order_by(col(FixityEvent.id))
        if event_type:
            query = query.where(col(FixityEvent.event_type) == event_type)
        return list(s.execute(query).scalars())


def xlsx_of(settings: Settings, code: str) -> Path:
    return transfer_dir(settings, code) / "data" / "电子档案" / f"{code}.xlsx"


def seal_path(settings: Settings, code: str) -> Path:
    return transfer_dir(settings, code) / "data" / "其他" / "封卷记录.json"


def texts_of(report: fixity.Report, code: str) -> list[str]:
    return [p for c, p in report.problems if c == code]


def has(problems: list[str], key: str) -> bool:
    """True when some problem is of kind TEXT[key] (compared on its fixed Chinese head)."""
    head = TEXT[key].split("{")[0].split(" / ")[0]
    return any(p.startswith(head) for p in problems)


@pytest.fixture
def two(engine: Engine, settings: Settings) -> list[str]:
    """Two sealed canteen volumes in one chain: 2026-09 (0001) then 2026-10 (0002)."""
    fill(engine, period="2026-09", n=3)
    fill(engine, period="2026-10", n=4, open_=1, data_dir=settings.data_dir)
    first = compile_locked(engine, settings=settings, period="2026-09")
    second = compile_locked(engine, settings=settings, period="2026-10")
    assert len(first.volumes) == 1 and len(second.volumes) == 1
    return first.volumes + second.volumes


# --- verify: fresh volumes -------------------------------------------------------------------------------


def test_fresh_volumes_pass_and_log_pass_events(engine: Engine, settings: Settings, two: list[str]) -> None:
    a, b = two
    assert a.endswith("-CYF-0001") and b.endswith("-CYF-0002")
    assert volume(engine, b).prev_archival_code == a and volume(engine, b).prev_seal == volume(engine, a).seal

    report = verify(engine, settings=settings, agent="审计员")
    assert report.ok, report.problems
    assert (report.checked, report.failed, report.counts()) == (2, 0, {"checked": 2, "failed": 0})
    checks = events(engine, event_type="fixity_check")
    assert [(e.archival_code, e.outcome, e.agent, e.detail) for e in checks] == [
        (a, "pass", "审计员", ""),
        (b, "pass", "审计员", ""),
    ]
    assert all(e.volume_id is not None for e in checks)

    one = verify(engine, settings=settings, archival_code=b)
    assert one.ok and one.checked == 1
    assert len(events(engine, event_type="fixity_check")) == 3


def test_attachments_travel_in_the_bag_and_a_missing_one_is_reported(
    engine: Engine, settings: Settings, two: list[str]
) -> None:
    _a, b = two
    photos = list((transfer_dir(settings, b) / "data" / "附件").iterdir())
    assert [p.name for p in photos] == ["0001-1.jpg"]
    rec = json.loads(seal_path(settings, b).read_text(encoding="utf-8"))
    assert rec["missing_attachments"] == []  # the voice note was never downloaded: listed as such in its row
    photos[0].unlink()
    found = texts_of(verify(engine, settings=settings), b)
    assert has(found, "bag_invalid") and not has(found, "content_db") and not has(found, "file_db"), found


def test_verify_streams_items_in_chunks_and_never_blocks_writers(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(engine, n=7)
    (code,) = compile_locked(engine, settings=settings, period="2026-10").volumes
    streamed: list[int] = []
    waited: list[float] = []

    def small_chunks(session: Session, *, volume_id: int, chunk: int = 2000) -> Iterator[Any]:
        for item in iter_items(session, volume_id=volume_id, chunk=2):
            streamed.append(item.seq)
            if item.seq == 3:
                # the webhook writes while an audit is half-way through a volume: it must not wait
                began = time.monotonic()
                with unit_of_work(engine) as s:
                    service.create_feedback(
                        Store(s),
                        sender="o_live",
                        local_day=date(2026, 11, 2),
                        service_date=date(2026, 11, 2),
                        score=5,
                    )
                waited.append(time.monotonic() - began)
            yield item

    monkeypatch.setattr(volume_checks, "iter_items", small_chunks)
    report = verify(engine, settings=settings, archival_code=code)
    assert report.ok, report.problems
    assert streamed == list(range(1, 8))
    assert len(waited) == 1 and waited[0] < 2.0


def test_unknown_or_unsealed_volume_is_a_clear_error(engine: Engine, settings: Settings) -> None:
    with pytest.raises(UnknownVolume, match="无此档号"):
        verify(engine, settings=settings, archival_code="J001-WS·2026-D10-CYF-0099")
    with pytest.raises(UnknownVolume, match="no volume"):
        receive(engine, settings=settings, archival_code="J001-WS·2026-D10-CYF-0099", by="王档案")
    empty = verify(engine, settings=settings)
    assert empty.ok and empty.checked == 0


# --- verify: tampering -----------------------------------------------------------------------------------


def test_flipped_byte_in_the_workbook_is_reported(engine: Engine, settings: Settings, two: list[str]) -> None:
    a, b = two
    path = xlsx_of(settings, b)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    report = verify(engine, settings=settings)
    assert not report.ok and texts_of(report, a) == []
    found = texts_of(report, b)
    assert has(found, "bag_invalid"), found
    assert any("SHA-256、SM3" in p and has([p], "file_db") for p in found), found
    assert has(found, "file_seal")
    assert not has(found, "content_db")  # the database is untouched
    failed = [e for e in events(engine, event_type="fixity_check") if e.outcome == "fail"]
    assert [e.archival_code for e in failed] == [b]
    assert "案卷包校验不通过" in failed[0].detail and "电子文件摘要与数据库不符" in failed[0].detail


def test_comment_edited_in_the_database_after_sealing_is_reported(
    engine: Engine, settings: Settings, two: list[str]
) -> None:
    a, b = two
    with Session(engine) as s:
        fid, item_code = s.execute(
            select(col(VolumeItem.feedback_id), col(VolumeItem.item_code))
            .join(Volume, col(Volume.id) == col(VolumeItem.volume_id))
            .where(col(Volume.archival_code) == a, col(VolumeItem.seq) == 2)
        ).one()
    with unit_of_work(engine) as s:
        s.execute(update(Feedback).where(col(Feedback.id) == fid).values(comment="改过的意见"))

    report = verify(engine, settings=settings)
    assert texts_of(report, b) == []
    found = texts_of(report, a)
    assert has(found, "content_db"), found
    assert any(item_code in p and has([p], "item_changed") for p in found), found
    # the files themselves are intact
    assert not any(has(found, k) for k in ("bag_invalid", "file_db", "content_wb", "seal_recompute"))


def test_deleted_volume_row_breaks_the_chain(engine: Engine, settings: Settings, two: list[str]) -> None:
    a, b = two
    gone = volume(engine, a)
    with unit_of_work(engine) as s:
        s.execute(delete(VolumeItem).where(col(VolumeItem.volume_id) == gone.id))
        s.execute(delete(FixityEvent).where(col(FixityEvent.volume_id) == gone.id))
        s.execute(update(Feedback).where(col(Feedback.volume_id) == gone.id).values(volume_id=None))
        s.execute(delete(Volume).where(col(Volume.id) == gone.id))

    report = verify(engine, settings=settings)
    assert report.checked == 1
    assert texts_of(report, b) == [TEXT["chain_broken"].format(prev=a)]
    assert texts_of(report, a) == [TEXT["volume_gap"].format(code=a)]
    loose = [e for e in events(engine, event_type="fixity_check") if e.volume_id is None]
    assert [(e.archival_code, e.outcome) for e in loose] == [(a, "fail")]
    assert [e.outcome for e in events(engine, event_type="fixity_check") if e.archival_code == b] == ["fail"]


def test_deleting_the_last_volume_shows_as_a_gap(engine: Engine, db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "var", volume_max_items=2)
    fill(engine, n=5)
    made = compile_locked(engine, settings=settings, period="2026-10").volumes
    assert [c[-4:] for c in made] == ["0001", "0002", "0003"]
    assert verify(engine, settings=settings).ok
    last = volume(engine, made[-1])
    with unit_of_work(engine) as s:
        s.execute(delete(VolumeItem).where(col(VolumeItem.volume_id) == last.id))
        s.execute(delete(FixityEvent).where(col(FixityEvent.volume_id) == last.id))
        s.execute(delete(Volume).where(col(Volume.id) == last.id))
    report = verify(engine, settings=settings)
    assert report.problems == [(made[-1], TEXT["volume_gap"].format(code=made[-1]))]
    assert report.checked == 2


def test_deleted_bag_folder_is_reported(engine: Engine, settings: Settings, two: list[str]) -> None:
    a, b = two
    shutil.rmtree(transfer_dir(settings, a))
    report = verify(engine, settings=settings)
    found = texts_of(report, a)
    assert has(found, "bag_missing") and has(found, "file_missing"), found
    assert texts_of(report, b) == []


def test_rewritten_seal_record_is_reported(engine: Engine, settings: Settings, two: list[str]) -> None:
    _a, b = two
    path = seal_path(settings, b)
    rec = json.loads(path.read_text(encoding="utf-8"))
    rec["compiler"] = "别人"
    path.write_text(json.dumps(rec, ensure_ascii=False, indent=2), encoding="utf-8")
    found = texts_of(verify(engine, settings=settings), b)
    assert has(found, "seal_recompute") and has(found, "bag_invalid"), found


def test_resealed_record_in_a_regenerated_bag_is_still_caught(
    engine: Engine, settings: Settings, two: list[str]
) -> None:
    """Whoever can write the bag can regenerate its manifests: the database keeps the seal outside it."""
    _a, b = two
    path = seal_path(settings, b)
    rec = json.loads(path.read_text(encoding="utf-8"))
    rec["content_sha256"] = "0" * 64
    rec["seal"] = seal_of(rec)
    path.write_text(json.dumps(rec, ensure_ascii=False, indent=2), encoding="utf-8")
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import bagit, sys; bagit.Bag(sys.argv[1]).save(manifests=True)",
            str(transfer_dir(settings, b)),
        ],
        check=True,
        cwd=ROOT,
    )
    found = texts_of(verify(engine, settings=settings), b)
    assert not has(found, "bag_invalid") and not has(found, "seal_recompute"), found
    assert has(found, "seal_db") and TEXT["seal_field"].format(field="content_sha256") in found, found


def test_edited_catalogue_is_reported(engine: Engine, settings: Settings, two: list[str]) -> None:
    _a, b = two
    path = transfer_dir(settings, b) / "data" / "文件目录.xml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(line for line in lines if f"{b}/0002<" not in line), encoding="utf-8")
    found = texts_of(verify(engine, settings=settings), b)
    assert TEXT["catalogue"].format(what="条目 3/4") in found, found
    assert TEXT["catalogue"].format(what=f"第2条 {b}/0003") in found
    path.write_text("<文件目录>", encoding="utf-8")
    assert has(texts_of(verify(engine, settings=settings), b), "catalogue_bad")


def test_broken_item_numbering_is_reported(engine: Engine, settings: Settings, two: list[str]) -> None:
    _a, b = two
    vol = volume(engine, b)
    with unit_of_work(engine) as s:
        s.execute(
            update(VolumeItem)
            .where(col(VolumeItem.volume_id) == vol.id, col(VolumeItem.seq) == 3)
            .values(seq=9)
        )
    found = texts_of(verify(engine, settings=settings, archival_code=b), b)
    assert TEXT["seq"].format(expected=3, found=4) in found, found  # seq 1, 2, 4, 9
    assert TEXT["seq"].format(expected=5, found=9) in found
    assert TEXT["item_code"].format(found=f"{b}/0003", expected=f"{b}/0009") in found
    assert has(found, "content_db")


def test_forged_prev_seal_breaks_the_chain(engine: Engine, settings: Settings, two: list[str]) -> None:
    a, b = two
    with unit_of_work(engine) as s:
        s.execute(update(Volume).where(col(Volume.archival_code) == b).values(prev_seal="f" * 64))
    found = texts_of(verify(engine, settings=settings), b)
    assert TEXT["chain_seal"].format(prev=a) in found
    assert TEXT["seal_field"].format(field="prev_seal") in found


def test_bagit_validator_accepts_the_bag_and_rejects_a_damaged_one(
    engine: Engine, settings: Settings, two: list[str]
) -> None:
    a, _b = two
    python = sys.executable  # .venv/bin/python when the suite runs from the venv
    for code in two:
        proc = subprocess.run(
            [str(python), "-m", "bagit", "--validate", str(transfer_dir(settings, code))],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
    path = xlsx_of(settings, a)
    path.write_bytes(path.read_bytes() + b"\0")
    proc = subprocess.run(
        [str(python), "-m", "bagit", "--validate", str(transfer_dir(settings, a))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0


# --- hostile names: a quote in the fonds name, a control character in a meeting title ----------------


def test_catalogue_is_well_formed_with_a_quote_in_the_fonds_name(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    settings = make_settings(db_url, tmp_path / "var", fonds_name='示例市"机关事务管理局"')
    fill(engine, n=2)
    (code,) = compile_locked(engine, settings=settings, period="2026-10").volumes
    ET.parse(transfer_dir(settings, code) / "data" / "文件目录.xml")
    assert verify(engine, settings=settings).ok


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_control_character_in_a_meeting_title_does_not_block_compilation(
    engine: Engine, settings: Settings
) -> None:
    with unit_of_work(engine) as s:
        meeting = add_meeting(
            s,
            code="HY2026X",
            title="年度\x0b工作会议",
            starts_on=date(2026, 10, 9),
            ends_on=date(2026, 10, 9),
        )
        fb = service.create_feedback(
            Store(s),
            sender="o_m",
            local_day=date(2026, 10, 9),
            service_date=date(2026, 10, 9),
            channel="meeting",
            meeting_id=meeting.id,
            score=5,
            comment="茶水及时",
        )
        s.execute(update(Feedback).where(col(Feedback.id) == fb.id).values(status="closed"))
    try:
        result = compile_locked(engine, settings=settings, period="2026-10")
    finally:
        gc.collect()  # openpyxl's abandoned row writers complain when collected: here, not in a later test
    assert len(result.volumes) == 1
    assert verify(engine, settings=settings).ok


# --- receive ---------------------------------------------------------------------------------------------


def test_receive_records_the_checker_once(engine: Engine, settings: Settings, two: list[str]) -> None:
    a, b = two
    before = datetime.now(UTC)
    report = receive(engine, settings=settings, archival_code=a, by="  王档案 ")
    assert report.ok and report.received
    vol = volume(engine, a)
    assert vol.status == VolumeStatus.received and vol.received_by == "王档案"
    assert vol.received_at is not None and before - timedelta(seconds=1) <= vol.received_at <= datetime.now(
        UTC
    )
    receipts = events(engine, event_type="receipt")
    assert [(e.archival_code, e.outcome, e.agent, e.volume_id) for e in receipts] == [
        (a, "pass", "王档案", vol.id)
    ]

    with pytest.raises(ReceiptRefused, match=r"已于.*由王档案接收") as refused:
        receive(engine, settings=settings, archival_code=a, by="李档案")
    assert "already received by 王档案" in str(refused.value)
    assert volume(engine, a).received_by == "王档案"
    assert len(events(engine, event_type="receipt")) == 1

    # a received volume is still audited, and passes
    assert verify(engine, settings=settings).ok
    with pytest.raises(fixity.FixityError, match="检查人"):
        receive(engine, settings=settings, archival_code=b, by="  ")


def test_of_two_archivists_receiving_at_once_one_wins(
    engine: Engine, settings: Settings, two: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _b = two
    real = volume_checks.check_volume

    def slow_check(*args: object, **kwargs: object) -> list[str]:
        problems = real(*args, **kwargs)  # type: ignore[arg-type]
        # meanwhile another archivist's receipt commits
        with unit_of_work(engine) as s:
            s.execute(
                update(Volume)
                .where(col(Volume.archival_code) == a)
                .values(status=VolumeStatus.received, received_by="李档案", received_at=datetime.now(UTC))
            )
        return problems

    monkeypatch.setattr(volume_checks, "check_volume", slow_check)
    with pytest.raises(ReceiptRefused, match="李档案"):
        receive(engine, settings=settings, archival_code=a, by="王档案")
    assert volume(engine, a).received_by == "李档案"
    assert events(engine, event_type="receipt") == []


def test_receive_of_a_tampered_volume_is_refused_and_it_stays_sealed(
    engine: Engine, settings: Settings, two: list[str]
) -> None:
    a, b = two
    path = xlsx_of(settings, b)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    report = receive(engine, settings=settings, archival_code=b, by="王档案")
    assert not report.ok and not report.received
    assert has(texts_of(report, b), "file_db")
    vol = volume(engine, b)
    assert (vol.status, vol.received_by, vol.received_at) == (VolumeStatus.sealed, None, None)
    assert [(e.outcome, e.agent) for e in events(engine, event_type="receipt")] == [("fail", "王档案")]
    assert "电子文件摘要与数据库不符" in events(engine, event_type="receipt")[0].detail
    # the untampered one is received normally
    assert receive(engine, settings=settings, archival_code=a, by="王档案").received


def test_receive_checks_the_chain(engine: Engine, settings: Settings, two: list[str]) -> None:
    a, b = two
    with unit_of_work(engine) as s:
        s.execute(update(Volume).where(col(Volume.archival_code) == a).values(seal="e" * 64))
    report = receive(engine, settings=settings, archival_code=b, by="王档案")
    assert TEXT["chain_seal"].format(prev=a) in texts_of(report, b)
    assert volume(engine, b).status == VolumeStatus.sealed


# --- the scheduled jobs ----------------------------------------------------------------------------------


def test_scheduled_jobs_compile_and_audit(engine: Engine, settings: Settings) -> None:
    fill(engine, n=3, open_=2)
    counts = compile_job(engine, settings=settings, period="2026-10")
    assert counts["volumes"] == 1 and counts["items"] == 3 and counts["open"] == 2
    assert compile_job(engine, settings=settings, period="2026-10")["volumes"] == 0
    assert fixity_job(engine, settings=settings) == {"checked": 1, "failed": 0}
    (code,) = codes(engine)
    shutil.rmtree(transfer_dir(settings, code))
    assert fixity_job(engine, settings=settings) == {"checked": 1, "failed": 1}
    assert [e.agent for e in events(engine, event_type="fixity_check")] == [settings.fixity_agent] * 2


# --- CLI -------------------------------------------------------------------------------------------------


def test_cli_compile_verify_receive_volumes(cli_env: dict[str, str], db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    try:
        fill(engine, n=3, open_=1)
        fill(engine, n=2, channel="meeting")
        runner = CliRunner()

        empty = runner.invoke(cli, ["volumes"], env=cli_env)
        assert empty.exit_code == 0 and "尚无案卷" in empty.output

        made = runner.invoke(cli, ["compile", "--period", "2026-10", "--channel", "canteen"], env=cli_env)
        assert made.exit_code == 0, made.output
        (code,) = codes(engine)
        assert f"已封卷 sealed: {code}" in made.output
        assert "open items left out: 1" in made.output
        again = runner.invoke(cli, ["compile", "--period", "2026-10"], env=cli_env)
        assert again.exit_code == 0, again.output
        meeting = codes(engine)[1]
        assert "-HWF-0001" in meeting and code not in again.output and meeting in again.output

        assert runner.invoke(cli, ["compile", "--period", "2026-13"], env=cli_env).exit_code == 2
        assert (
            runner.invoke(cli, ["compile", "--period", "2026-10", "--channel", "bar"], env=cli_env).exit_code
            == 2
        )

        listed = runner.invoke(cli, ["volumes"], env=cli_env)
        assert listed.exit_code == 0, listed.output
        lines = listed.output.strip().splitlines()
        assert len(lines) == 2 and lines[0].startswith(code) and "2026-10" in lines[0] and "3 条" in lines[0]
        assert "sealed" in lines[0]

        ok = runner.invoke(cli, ["verify"], env=cli_env)
        assert ok.exit_code == 0, ok.output
        assert "已核验 2 卷，全部通过" in ok.output

        took = runner.invoke(cli, ["receive", code, "--by", "王档案"], env=cli_env)
        assert took.exit_code == 0, took.output
        assert "王档案" in took.output
        twice = runner.invoke(cli, ["receive", code, "--by", "王档案"], env=cli_env)
        assert twice.exit_code == 1 and "already received" in twice.output
        assert "received" in runner.invoke(cli, ["volumes"], env=cli_env).output.splitlines()[0]
        assert runner.invoke(cli, ["receive", "J001-nope", "--by", "王档案"], env=cli_env).exit_code == 2
        assert runner.invoke(cli, ["verify", "J001-nope"], env=cli_env).exit_code == 2

        shutil.rmtree(tmp_path / "data" / "transfer" / meeting)
        bad = runner.invoke(cli, ["verify"], env=cli_env)
        assert bad.exit_code == 1
        assert f"{meeting}: 案卷包缺失" in bad.output
        assert runner.invoke(cli, ["verify", code], env=cli_env).exit_code == 0
        refused = runner.invoke(cli, ["receive", meeting, "--by", "王档案"], env=cli_env)
        assert refused.exit_code == 1 and "stays sealed" in refused.output
    finally:
        engine.dispose()


def test_cli_compile_is_the_scheduled_function(
    monkeypatch: pytest.MonkeyPatch, cli_env: dict[str, str]
) -> None:
    import exports.seal

    seen: list[tuple[str, str | None]] = []

    def fake(engine: Engine, *, settings: Settings, period: str, channel: str | None = None) -> object:
        seen.append((period, channel))
        return exports.seal.CompileResult(period=period)

    monkeypatch.setattr(exports.seal, "compile_period", fake)
    result = CliRunner().invoke(cli, ["compile", "--period", "2026-10"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert seen == [("2026-10", None)]
