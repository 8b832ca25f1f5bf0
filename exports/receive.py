"""The archivist's receipt of a sealed volume (移交与接收): the checks of `exports.verify` and, when they pass,
the archivist (检查人) and the time of receipt recorded, once.
"""

from __future__ import annotations

from sqlalchemy import Engine, update
from sqlmodel import Session, col

from core.clock import to_local, utcnow
from core.db import reader, unit_of_work
from core.settings import Settings
from exports import verify
from exports.fixity import FixityError, ReceiptRefused, Report, find_volume
from exports.models import FixityEvent, Volume, VolumeStatus
from exports.texts import PROBLEMS


def _refuse_if_not_sealed(vol: Volume, settings: Settings) -> None:
    if vol.status == VolumeStatus.received:
        at = to_local(vol.received_at, settings.tz).strftime("%Y-%m-%d %H:%M") if vol.received_at else "?"
        raise ReceiptRefused(
            PROBLEMS["already_received"].format(code=vol.archival_code, at=at, by=vol.received_by)
        )
    if vol.status != VolumeStatus.sealed:
        raise ReceiptRefused(PROBLEMS["not_sealed"].format(code=vol.archival_code))


def receive(engine: Engine, *, settings: Settings, archival_code: str, by: str) -> Report:
    """Check one sealed volume and, when it passes, record its receipt by archivist `by` (检查人)."""
    by = by.strip()
    if not by or len(by) > 100:
        raise FixityError(PROBLEMS["no_receiver"])
    with Session(engine, expire_on_commit=False) as session:
        vol = find_volume(session, archival_code)
        _refuse_if_not_sealed(vol, settings)
        by_code, ordered = verify.chain(session)
        session.expunge_all()
    assert vol.id is not None
    with reader(engine) as ro:
        checks = verify.check_volume(ro, settings=settings, vol=vol, by_code=by_code, ordered=ordered)
    problems = checks.flat()
    report = Report(checked=1, problems=[(archival_code, p) for p in problems])
    with unit_of_work(engine) as session:
        report.reports.append(verify.log_checks(session, vol=vol, checks=checks, stage="receipt", agent=by))
        if not problems:
            # conditional on still being sealed: of two archivists receiving at once, exactly one wins
            won = session.execute(
                update(Volume)
                .where(col(Volume.id) == vol.id, col(Volume.status) == VolumeStatus.sealed)
                .values(status=VolumeStatus.received, received_by=by, received_at=utcnow())
                .returning(col(Volume.id))
            ).scalar_one_or_none()
            if won is None:
                session.rollback()
                current = find_volume(session, archival_code)
                _refuse_if_not_sealed(current, settings)
                raise ReceiptRefused(PROBLEMS["not_sealed"].format(code=archival_code))  # pragma: no cover
            report.received = True
        session.add(
            FixityEvent(
                volume_id=vol.id,
                archival_code=archival_code,
                event_type="receipt",
                outcome="fail" if problems else "pass",
                detail="\n".join(problems),
                agent=by,
            )
        )
    return report
