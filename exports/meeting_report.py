"""The per-meeting report for the organiser (会务服务评价报告): an .xlsx with a summary sheet (the meeting's
title, code, dates, venue and organiser, count, mean, CSAT with its n, response rate) and the list of
feedback (reference, pseudonym, time, score, comment, status, reply), A4. Diners appear as pseudonyms only;
comments are always written as text; misuse is left out. It prints on A4 (`exports.printout`): labels
beside their values, ruled wrapped cells with row heights computed from the text, the title and header
rows on every page of the list, and text at 10 pt (the columns fit the page unscaled)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from core.clock import to_local
from core.settings import Settings
from exports import printout
from feedback.models import Action, Feedback, FeedbackEvent, Meeting, Status
from feedback.service import pseudonym
from feedback.stats import Group
from feedback.vocabulary import STATUS_LABELS

TITLE = "会务服务评价报告"
LIST_HEADERS = ("反馈编号", "反馈人", "时间", "评分", "意见内容", "处理状态", "回复")
LIST_WIDTHS = (16, 17, 11, 4, 31, 8, 29)  # A4 landscape, unscaled: body text stays 10 pt
SUMMARY_WIDTHS = (20, 56)  # A4 portrait: each label right beside its value


class ReportError(Exception):
    """The report cannot be made; the message is for the person."""


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

    wb = printout.workbook()
    heading = f"{meeting.code}　{TITLE}"
    summary = printout.sheet(
        wb, "汇总", SUMMARY_WIDTHS, landscape=False, header_rows=0, heading=printout.clean(heading)
    )
    r = printout.title(summary, 1, printout.clean(f"{meeting.title} {TITLE}"), SUMMARY_WIDTHS)
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
    printout.labelled(summary, r, [(k, printout.clean(v)) for k, v in lines], SUMMARY_WIDTHS)

    items = printout.sheet(
        wb, "反馈清单", LIST_WIDTHS, landscape=True, header_rows=2, heading=printout.clean(heading)
    )
    r = printout.title(items, 1, printout.clean(f"{meeting.title} 反馈清单"), LIST_WIDTHS)
    r = printout.header(items, r, LIST_HEADERS, LIST_WIDTHS)
    for fb in rows:
        r = printout.table_row(
            items,
            r,
            [
                fb.reference,
                pseudonym(fb.sender, secret=settings.pseudonym_secret),
                to_local(fb.created_at, settings.tz).strftime("%Y-%m-%d %H:%M"),
                fb.score,
                printout.clean(fb.comment),
                STATUS_LABELS.get(Status(fb.status), fb.status),
                printout.clean("\n".join(replies.get(fb.id or 0, []))),
            ],
            LIST_WIDTHS,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
