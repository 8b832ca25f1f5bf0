"""The 四性检测 report of a volume as people read it (DA/T 70-2018): for each stage — 归档 (at seal), 移交与接收
(at receipt), 长期保存 (at each fixity audit) — the latest result of every check, read back from the
`4x:<stage>` events, and the printable sheet an archivist downloads (.xlsx, A4 portrait, ruled, title and
header rows on every page).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from exports import printout, texts
from exports.fourfold import CHECKS, STAGES
from exports.models import FixityEvent

RESULTS = {"pass": "通过", "fail": "不通过", "not_checked": "未检测"}
SHEET_WIDTHS = (10, 6, 6, 25, 7, 24)  # 阶段, 编号, 类别, 检测项目, 结果, 说明: fits A4 portrait unscaled


@dataclass
class StageReport:
    """The latest result of each check at one stage (no checks: the stage has not been reached)."""

    stage: str  # archive, receipt, preserve
    at: datetime | None = None
    agent: str = ""
    checks: list[dict[str, str]] = field(default_factory=list)

    @property
    def label(self) -> str:
        """归档, 移交与接收 or 长期保存."""
        return STAGES[self.stage]

    @property
    def failed(self) -> int:
        """How many checks failed."""
        return sum(1 for c in self.checks if c["result"] == "fail")


def latest(session: Session, code: str) -> list[StageReport]:
    """The three stages of a volume's 四性检测, each with the latest result of every check it logged."""
    out = {stage: StageReport(stage) for stage in STAGES}
    seen: dict[str, dict[str, dict[str, str]]] = {stage: {} for stage in STAGES}
    events = session.execute(
        select(FixityEvent)
        .where(col(FixityEvent.archival_code) == code, col(FixityEvent.event_type).startswith("4x:"))
        .order_by(col(FixityEvent.id).desc())
    ).scalars()
    for ev in events:
        stage = ev.event_type.removeprefix("4x:")
        if stage not in out:
            continue
        try:
            detail = json.loads(ev.detail)
        except ValueError:
            continue
        check = str(detail.get("code", "")) if isinstance(detail, dict) else ""
        if check not in CHECKS or check in seen[stage]:
            continue
        report = out[stage]
        if report.at is None:
            report.at, report.agent = ev.at, ev.agent
        category, name = CHECKS[check]
        seen[stage][check] = {
            "code": check,
            "category": str(detail.get("category") or category),
            "name": str(detail.get("name") or name),
            "result": ev.outcome if ev.outcome in RESULTS else "fail",
            "detail": str(detail.get("detail") or ""),
        }
    for stage, report in out.items():
        report.checks = [seen[stage][c] for c in CHECKS if c in seen[stage]]
    return list(out.values())


def write_sheet(path: Path, *, code: str, title: str, stages: list[StageReport], when: Any) -> Path:
    """The printable report at `path` (.xlsx); `when(datetime)` formats a time as printed."""
    wb = printout.workbook()
    widths = SHEET_WIDTHS
    ws = printout.sheet(
        wb,
        texts.FOURFOLD_SHEET,
        widths,
        landscape=False,
        header_rows=3,
        heading=texts.TITLED.format(code=code, sheet=texts.FOURFOLD_SHEET),
    )
    r = printout.title(ws, 1, texts.FOURFOLD_TITLE, widths)
    r = printout.line(ws, r, texts.FOURFOLD_SUBTITLE.format(code=code, title=title), widths)
    r = printout.header(ws, r, texts.FOURFOLD_HEADERS, widths)
    for stage in stages:
        if not stage.checks:
            r = printout.table_row(ws, r, [stage.label, "", "", texts.FOURFOLD_NOT_REACHED, "", ""], widths)
            continue
        who = texts.FOURFOLD_STAGE.format(
            stage=stage.label, at=when(stage.at) if stage.at else "", agent=stage.agent
        )
        for k, c in enumerate(stage.checks):
            r = printout.table_row(
                ws,
                r,
                [
                    who if k == 0 else stage.label,
                    c["code"],
                    c["category"],
                    c["name"],
                    RESULTS[c["result"]],
                    c["detail"],
                ],
                widths,
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
