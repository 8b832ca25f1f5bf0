"""The per-meeting report for the organiser (会务服务评价报告): an .xlsx with a summary sheet (the meeting's
title, code, dates, venue and organiser, count, mean, CSAT with its n, response rate) and the list of
feedback (reference, pseudonym, time, score, comment, status, reply), A4. Diners appear as pseudonyms only;
comments are always written as text; misuse is left out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from sqlalchemy import select
from sqlmodel import Session, col

from core.clock import to_local
from core.settings import Settings
from feedback.models import Action, Feedback, FeedbackEvent, Meeting, Status
from feedback.service import pseudonym
from feedback.stats import Group
from feedback.vocabulary import STATUS_LABELS

BODY_FONT = Font(name="宋体", size=10)
HEAD_FONT = Font(name="黑体", size=10, bold=True)
TITLE_FONT = Font(name="黑体", size=14, bold=True)
LIST_HEADERS = ("反馈编号", "反馈人", "时间", "评分", "意见内容", "处理状态", "回复")
LIST_WIDTHS = (18, 18, 18, 6, 50, 10, 40)


class ReportError(Exception):
    """The report cannot be made; the message is for the person."""


def _a4(ws: Any, *, landscape: bool = False) -> None:
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _clean(value: Any) -> Any:
    # control characters cannot be written to a cell (IllegalCharacterError): one in a title or a reply
    # made the meeting's report fail for good (issue 11); they are dropped
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def _text(ws: Any, row: int, column: int, value: str, *, font: Font = BODY_FONT) -> None:
    c = ws.cell(row=row, column=column)
    c.value = _clean(value)
    c.data_type = "s"  # user text stays text, even when it starts with "="
    c.font = font
    c.alignment = Alignment(wrap_text=True, vertical="top")


def _value(ws: Any, row: int, column: int, value: Any, *, font: Font = BODY_FONT) -> None:
    c = ws.cell(row=row, column=column, value=_clean(value))
    c.font = font
    c.alignment = Alignment(vertical="top")


def meeting_report(session: Session, *, meeting_id: int, settings: Settings, path: Path) -> Path:
    """Write the meeting's report to `path` (.xlsx) and return it."""
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise ReportError("没有这个会议")
    rows = list(
        session.execute(
            select(Feedback)
            .where(col(Feedback.meeting_id) == meeting_id, col(Feedback.misuse).is_(False))
            .order_by(col(Feedback.created_at), col(Feedback.id))
        ).scalars()
    )
    replies: dict[int, list[str]] = {}
    ids = [fb.id for fb in rows]
    for i in range(0, len(ids), 900):
        for ev in session.execute(
            select(FeedbackEvent)
            .where(
                col(FeedbackEvent.feedback_id).in_(ids[i : i + 900]),
                col(FeedbackEvent.action) == Action.replied,
            )
            .order_by(col(FeedbackEvent.id))
        ).scalars():
            replies.setdefault(ev.feedback_id, []).append(ev.detail)
    overall = Group("合计")
    for fb in rows:
        overall.add(fb.score)
    replied = sum(1 for fb in rows if fb.id in replies)

    wb = Workbook()
    summary = wb.active
    summary.title = "汇总"
    _a4(summary)
    summary.column_dimensions["A"].width = 16
    summary.column_dimensions["B"].width = 50
    _text(summary, 1, 1, f"{meeting.title} 会务服务评价报告", font=TITLE_FONT)
    summary.merge_cells("A1:B1")
    dates = str(meeting.starts_on)
    if meeting.ends_on != meeting.starts_on:
        dates += f" 至 {meeting.ends_on}"
    csat = (
        f"{overall.csat}%（{overall.satisfied}/{overall.scored}，n={overall.scored}）"
        if overall.csat is not None
        else f"—（n={overall.scored}）"
    )
    rate = f"{round(100 * replied / len(rows), 1)}%（{replied}/{len(rows)}）" if rows else "—（0/0）"
    lines: list[tuple[str, Any]] = [
        ("会议名称", meeting.title),
        ("会议代码", meeting.code),
        ("会议日期", dates),
        ("会场", meeting.venue),
        ("主办单位", meeting.organiser),
        ("反馈条数", len(rows)),
        ("有评分条数", overall.scored),
        ("平均分", overall.mean if overall.mean is not None else "—"),
        ("满意度（4–5分占比）", csat),
        ("回复率", rate),
    ]
    for r, (label, value) in enumerate(lines, start=3):
        _text(summary, r, 1, label, font=HEAD_FONT)
        if isinstance(value, str):
            _text(summary, r, 2, value)
        else:
            _value(summary, r, 2, value)

    items = wb.create_sheet("反馈清单")
    _a4(items, landscape=True)
    items.print_title_rows = "1:1"
    for c, (header, width) in enumerate(zip(LIST_HEADERS, LIST_WIDTHS, strict=True), start=1):
        _text(items, 1, c, header, font=HEAD_FONT)
        items.column_dimensions[items.cell(row=1, column=c).column_letter].width = width
    for r, fb in enumerate(rows, start=2):
        _text(items, r, 1, fb.reference)
        _text(items, r, 2, pseudonym(fb.sender, secret=settings.pseudonym_secret))
        _text(items, r, 3, to_local(fb.created_at, settings.tz).strftime("%Y-%m-%d %H:%M"))
        _value(items, r, 4, fb.score)
        _text(items, r, 5, fb.comment)
        _text(items, r, 6, STATUS_LABELS.get(Status(fb.status), fb.status))
        _text(items, r, 7, "\n".join(replies.get(fb.id or 0, [])))
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
