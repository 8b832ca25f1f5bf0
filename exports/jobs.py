"""The archive jobs the scheduler runs (server/scheduler.py): the monthly compilation and the weekly fixity
audit.

Each returns a plain counts dict for its JobRun row. They are thin on purpose: `houqin compile` and
`houqin verify` call the very same functions (exports.seal.compile_period, exports.fixity.verify), so
a scheduled run and a manual one cannot drift apart.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine

from core.settings import Settings
from exports.fixity import verify
from exports.seal import compile_period

log = logging.getLogger("houqin.exports")


def compile_job(engine: Engine, *, settings: Settings, period: str) -> dict[str, Any]:
    """Compile and seal a period's volumes (both channels) under the compile lock; return the counts."""
    return compile_period(engine, settings=settings, period=period).counts()


def fixity_job(engine: Engine, *, settings: Settings, period: str | None = None) -> dict[str, int]:
    """Re-validate every sealed and received volume; return {"checked": n, "failed": m}.

    `period` (the ISO week) only names the claimed run: every audit checks every volume."""
    report = verify(engine, settings=settings, agent=settings.fixity_agent)
    for code, problem in report.problems:
        log.warning("fixity: %s: %s", code, problem)
    return report.counts()
