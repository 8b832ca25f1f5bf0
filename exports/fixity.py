"""The fixity audit: every sealed or received volume (or one) verified again, by the scheduler's fixity job
or by `houqin verify`.

Each volume gets the checks of `exports.verify`; the audit adds the numbering across volumes (件号 missing
from a scope: a deleted volume row). Every run leaves a FixityEvent per volume it looked at, one per 四性
check, and one per numbering problem that no existing volume carries. Also the errors and the report the
audit and the receipt (`exports.receive`) share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from core.db import reader, unit_of_work
from core.models import Counter
from core.settings import Settings
from exports.models import ARCHIVED, FixityEvent, Volume
from exports.plan import archival_code as make_archival_code
from exports.texts import PROBLEMS
from exports.verify import chain, check_volume, log_checks


class FixityError(Exception):
    """A fixity or receipt request that cannot be carried out; the message is for people."""


class UnknownVolume(FixityError, LookupError):
    """No volume has this 档号."""


class ReceiptRefused(FixityError):
    """The volume cannot be received (already received, or not sealed)."""


@dataclass
class Report:
    """What a verify or receive run found: volumes checked and problems as (档号, text)."""

    checked: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    received: bool = False
    reports: list[dict[str, Any]] = field(default_factory=list)  # the 四性检测 report of each volume

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return not self.problems

    @property
    def failed(self) -> int:
        """How many 档号 (existing or missing) have problems."""
        return len({code for code, _ in self.problems})

    def counts(self) -> dict[str, int]:
        """For the JobRun record."""
        return {"checked": self.checked, "failed": self.failed}


def _scope_gaps(session: Session) -> list[tuple[str, str]]:
    """Volume numbers missing from a scope (1 … the counter's value): rows that were deleted."""
    # Counters first: a volume row and its counter step commit together, so every number up to the value
    # read here is visible to the next statement, even under READ COMMITTED with a compile running.
    tops = {
        row.name.removeprefix("vol:"): row.value
        for row in session.execute(
            select(col(Counter.name), col(Counter.value)).where(col(Counter.name).startswith("vol:"))
        )
    }
    numbers: dict[str, set[int]] = {scope: set() for scope in tops}
    for row in session.execute(select(col(Volume.scope), col(Volume.volume_no))):
        numbers.setdefault(row.scope, set()).add(row.volume_no)
    out = []
    for scope in sorted(numbers):
        top = max([tops.get(scope, 0), *numbers[scope]])
        for n in range(1, top + 1):
            if n not in numbers[scope]:
                code = make_archival_code(scope, n)
                out.append((code, PROBLEMS["volume_gap"].format(code=code)))
    return out


def find_volume(session: Session, code: str) -> Volume:
    """The volume with this 档号; UnknownVolume when there is none."""
    vol = session.execute(select(Volume).where(col(Volume.archival_code) == code)).scalar_one_or_none()
    if vol is None:
        raise UnknownVolume(PROBLEMS["unknown"].format(code=code))
    return vol


def verify(
    engine: Engine, *, settings: Settings, archival_code: str | None = None, agent: str = ""
) -> Report:
    """Re-validate every sealed or received volume (or the one named); log its 四性 checks and a fixity_check
    event each."""
    report = Report()
    agent = agent or settings.fixity_agent
    with Session(engine, expire_on_commit=False) as session:
        by_code, ordered = chain(session)
        if archival_code is not None:
            one = find_volume(session, archival_code)
            if one.status not in ARCHIVED:
                raise FixityError(PROBLEMS["not_sealed"].format(code=archival_code))
            volumes = [one]
            loose: list[tuple[str, str]] = []
        else:
            volumes = list(
                session.execute(
                    select(Volume).where(col(Volume.status).in_(ARCHIVED)).order_by(col(Volume.id))
                ).scalars()
            )
            loose = _scope_gaps(session)
        session.expunge_all()
    for vol in volumes:
        with reader(engine) as ro:
            checks = check_volume(ro, settings=settings, vol=vol, by_code=by_code, ordered=ordered)
        problems = checks.flat()
        report.checked += 1
        report.problems += [(vol.archival_code, p) for p in problems]
        with unit_of_work(engine) as session:
            report.reports.append(log_checks(session, vol=vol, checks=checks, stage="preserve", agent=agent))
            session.add(
                FixityEvent(
                    volume_id=vol.id,
                    archival_code=vol.archival_code,
                    event_type="fixity_check",
                    outcome="fail" if problems else "pass",
                    detail="\n".join(problems),
                    agent=agent,
                )
            )
    if loose:
        report.problems += loose
        with unit_of_work(engine) as session:
            for code, problem in loose:
                session.add(
                    FixityEvent(
                        volume_id=None,
                        archival_code=code,
                        event_type="fixity_check",
                        outcome="fail",
                        detail=problem,
                        agent=agent,
                    )
                )
    return report
