"""Step 3 of a compile, the seal, and the compile run that drives the three steps.

Three steps, so that a crash at any point leaves no half volume and no gap in the numbers:
1. plan (`exports.plan`) — short transactions create the building volumes and bind their feedback in chunks;
2. build (`exports.build`) — outside any transaction, the volume's files are written and bagged into
   `transfer/<档号>/`;
3. seal (here) — the 归档 stage of 四性检测 (DA/T 70-2018): every check of `exports.verify` run on the
   just-built bag and files against the digests about to be stored; then one short transaction stores the
   digests and the seal, marks the volume sealed, logs one `4x:archive` event per check and the compile
   event, and queues notices to archivists.
A failing 归档 check seals nothing: its events and a failed compile event are logged, the volume stays in
building and the run stops with `SealRefused` (later volumes of the series chain to this one). The next run
rebuilds it from the database (`resume`) and checks it again. A volume left in building by a crash is
rebuilt the same way, with the same numbers and the same content. Re-running a period whose feedback is
all bound creates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from core.clock import utcnow
from core.db import read_unit, reader, unit_of_work
from core.settings import Settings
from exports import texts, verify
from exports.build import Built, build
from exports.fourfold import Checks
from exports.models import FixityEvent, Volume, VolumeStatus
from exports.plan import finish, month_bounds, plan
from feedback.models import Person


@dataclass
class CompileResult:
    """What one compile run did."""

    period: str
    volumes: list[str] = field(default_factory=list)  # 档号 sealed by this run (resumed ones included)
    items: int = 0
    open_items: int = 0

    def counts(self) -> dict[str, Any]:
        """For the JobRun record."""
        return {
            "volumes": len(self.volumes),
            "items": self.items,
            "open": self.open_items,
            "codes": self.volumes,
        }


class SealRefused(RuntimeError):
    """The 归档 四性检测 of a built volume failed: it was not sealed and stays in building."""


def build_and_seal(engine: Engine, *, settings: Settings, volume_id: int) -> str:
    """Write, bag, check (归档) and seal one building volume; return its 档号 (SealRefused: not sealed)."""
    built = build(engine, settings=settings, volume_id=volume_id)
    checks = archive_checks(engine, settings=settings, volume_id=volume_id, built=built)
    _seal(engine, settings=settings, volume_id=volume_id, built=built, checks=checks)
    return built.archival_code


def archive_checks(engine: Engine, *, settings: Settings, volume_id: int, built: Built) -> Checks:
    """The 归档 stage: the checks of `exports.verify` on the just-built bag and files, against a detached
    copy of the volume carrying the digests and seal the build computed (nothing is stored here)."""
    with Session(engine, expire_on_commit=False) as session:
        vol = session.get(Volume, volume_id)
        assert vol is not None
        by_code, ordered = verify.chain(session)
        session.expunge(vol)
    _stamp(vol, built)
    with reader(engine) as ro:
        return verify.check_volume(
            ro, settings=settings, vol=vol, by_code=by_code, ordered=ordered, built=True
        )


def _stamp(vol: Volume, built: Built) -> None:
    record = built.record
    vol.content_sha256 = record["content_sha256"]
    vol.content_sm3 = record["content_sm3"]
    vol.file_sha256 = record["file_sha256"]
    vol.file_sm3 = record["file_sm3"]
    vol.prev_seal = record["prev_seal"]
    vol.pdf_sha256 = record.get("pdf_sha256")
    vol.pdf_sm3 = record.get("pdf_sm3")
    vol.seal = built.seal


def _seal(engine: Engine, *, settings: Settings, volume_id: int, built: Built, checks: Checks) -> None:
    problems = checks.flat()
    with unit_of_work(engine) as session:
        vol = session.get(Volume, volume_id)
        assert vol is not None
        if not problems:
            _stamp(vol, built)
            vol.status = VolumeStatus.sealed
            vol.sealed_at = utcnow()
            session.add(vol)
        verify.log_checks(session, vol=vol, checks=checks, stage="archive", agent=vol.compiler or "houqin")
        session.add(
            FixityEvent(
                volume_id=volume_id,
                archival_code=vol.archival_code,
                event_type="compile",
                outcome="fail" if problems else "pass",
                detail="\n".join(problems) if problems else built.seal,
                agent=vol.compiler or "houqin",
            )
        )
        if not problems:
            notify_archivists(session, settings=settings, volume=vol)
    if problems:
        raise SealRefused(texts.SEAL_REFUSED.format(code=built.archival_code, problems="；".join(problems)))


def notify_archivists(session: Session, *, settings: Settings, volume: Volume) -> int:
    """Queue a notice to every archivist (by WeChat or WeCom) that a volume awaits receipt."""
    text = texts.SEALED_NOTICE.format(code=volume.archival_code, title=volume.title, n=volume.item_count)
    sent = 0
    for person in session.execute(select(Person)).scalars():
        if "archivist" not in person.roles.split(","):
            continue
        from core.outbox import enqueue_to

        key = f"sealed:{volume.archival_code}:{person.id}"
        if (
            enqueue_to(
                session, wecom_userid=person.wecom_userid, openid=person.openid, text=text, dedupe_key=key
            )
            is False
        ):
            continue
        sent += 1
    return sent


def resume(engine: Engine, *, settings: Settings) -> list[str]:
    """Finish every volume a crash left in building, oldest first (its plan first, if a crash cut it short)."""
    with read_unit(engine) as session:
        ids = list(
            session.execute(
                select(col(Volume.id))
                .where(col(Volume.status) == VolumeStatus.building)
                .order_by(col(Volume.id))
            ).scalars()
        )
    done = []
    for volume_id in ids:
        assert volume_id is not None
        finish(engine, volume_id=volume_id)
        done.append(build_and_seal(engine, settings=settings, volume_id=volume_id))
    return done


def compile_locked(
    engine: Engine, *, settings: Settings, period: str, channel: str | None = None, compiler: str = ""
) -> CompileResult:
    """Compile a period (both channels unless one is named); the caller holds the compile lock."""
    month_bounds(period)
    result = CompileResult(period=period)
    result.volumes += resume(engine, settings=settings)
    for ch in [channel] if channel else list(settings.channel_codes):
        ids, open_count = plan(engine, settings=settings, period=period, channel=ch, compiler=compiler)
        result.open_items += open_count
        for volume_id in ids:
            result.volumes.append(build_and_seal(engine, settings=settings, volume_id=volume_id))
    with Session(engine) as session:
        if result.volumes:
            result.items = sum(
                v.item_count
                for v in session.execute(
                    select(Volume).where(col(Volume.archival_code).in_(result.volumes))
                ).scalars()
            )
    return result


def compile_period(
    engine: Engine, *, settings: Settings, period: str, channel: str | None = None, compiler: str = ""
) -> CompileResult:
    """Compile a period under the cross-process compile lock (one compile at a time)."""
    from core.locks import exclusive

    with exclusive(engine, name="compile", settings=settings):
        return compile_locked(engine, settings=settings, period=period, channel=channel, compiler=compiler)
