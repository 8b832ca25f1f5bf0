"""四性检测 at the 归档 stage (exports.seal): every check runs on the just-built files before the seal and is
logged with its result; a failing check seals nothing — the volume stays in building, no archivist is told,
and the next compile rebuilds it with the same 档号 and checks it again. The report per stage
(exports.fourfold_report) reads the latest result of each check."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from core.models import Outbox
from core.settings import Settings
from exports.fixity import verify
from exports.fourfold import CHECKS
from exports.fourfold_report import latest
from exports.models import FixityEvent, Volume, VolumeStatus
from exports.receive import receive
from exports.seal import SealRefused, compile_locked
from feedback.models import Person
from tests.support.volume_data import fill_period


def _events(engine: Engine, code: str, kind: str) -> list[FixityEvent]:
    with Session(engine) as s:
        return list(
            s.execute(
                select(FixityEvent)
                .where(col(FixityEvent.archival_code) == code, col(FixityEvent.event_type) == kind)
                .order_by(col(FixityEvent.id))
            ).scalars()
        )


def _fake_clamscan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, infected: bool) -> None:
    """A `clamscan` on PATH (ClamAV itself is not installed here): exits 1 with a finding, or 0."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "clamscan"
    body = 'echo "$2: Eicar-Test-Signature FOUND"; exit 1' if infected else "exit 0"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_the_seal_logs_every_archive_check(
    engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_clamscan(tmp_path, monkeypatch, infected=False)
    fill_period(engine, n=12)
    code = compile_locked(engine, settings=settings, period="2026-10").volumes[0]
    checks = _events(engine, code, "4x:archive")
    assert len(checks) == len(CHECKS)
    assert {json.loads(e.detail)["code"] for e in checks} == set(CHECKS)
    assert {e.outcome for e in checks} == {"pass"}  # the virus scan ran, and found nothing
    with Session(engine) as s:
        vol = s.execute(select(Volume).where(col(Volume.archival_code) == code)).scalar_one()
        assert vol.status == VolumeStatus.sealed
        assert {e.agent for e in checks} == {vol.compiler}  # 立卷人, not the program
        stages = latest(s, code)
    assert [st.label for st in stages] == ["归档", "移交与接收", "长期保存"]
    assert len(stages[0].checks) == len(CHECKS) and stages[0].failed == 0
    assert stages[1].checks == [] and stages[2].checks == []  # not received nor audited yet
    categories = {c["category"] for c in stages[0].checks}
    assert categories == {"真实性", "完整性", "可用性", "安全性"}


def test_a_failing_archive_check_seals_nothing_and_the_next_compile_retries(
    engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(engine) as s:
        s.add(Person(openid="o_arch", name="李档案", roles="archivist"))
        s.commit()
    fill_period(engine, n=12)
    _fake_clamscan(tmp_path, monkeypatch, infected=True)
    with pytest.raises(SealRefused, match="归档四性检测未通过"):
        compile_locked(engine, settings=settings, period="2026-10")
    with Session(engine) as s:
        vol = s.execute(select(Volume)).scalar_one()
        code = vol.archival_code
        assert vol.status == VolumeStatus.building and vol.seal is None and vol.sealed_at is None
        assert s.execute(select(Outbox)).first() is None  # no archivist told of a volume not sealed
        stages = latest(s, code)
    by_code = {c["code"]: c for c in stages[0].checks}
    assert by_code["AQ-01"]["result"] == "fail" and "Eicar" in by_code["AQ-01"]["detail"]
    assert stages[0].failed == 1
    [compiled] = _events(engine, code, "compile")
    assert compiled.outcome == "fail" and "Eicar" in compiled.detail

    _fake_clamscan(tmp_path, monkeypatch, infected=False)  # the finding cleared: the next run seals it
    again = compile_locked(engine, settings=settings, period="2026-10")
    assert again.volumes == [code]
    with Session(engine) as s:
        vol = s.execute(select(Volume)).scalar_one()
        assert vol.status == VolumeStatus.sealed and vol.seal
        stages = latest(s, code)
        assert s.execute(select(Outbox)).first() is not None
    assert stages[0].failed == 0 and len(stages[0].checks) == len(CHECKS)  # the latest run counts
    assert [e.outcome for e in _events(engine, code, "compile")] == ["fail", "pass"]
    assert verify(engine, settings=settings, archival_code=code).ok
    assert receive(engine, settings=settings, archival_code=code, by="李档案").received
