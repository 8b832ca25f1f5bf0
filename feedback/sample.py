"""The dashboard's sample: the newest SAMPLE feedbacks of a range (reply and close times) and the frequent
words (jieba) of the newest WORDS_SAMPLE comments, which at a canteen's volume is the whole of a month."""

from __future__ import annotations

import functools
import logging
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, func, literal_column, select
from sqlmodel import Session, col

from feedback.models import Action, Feedback, FeedbackEvent

SAMPLE = 2000
WORDS_SAMPLE = 500

_CJK_WORD = re.compile(r"^[\u4e00-\u9fff]{2,}$")
STOP_WORDS = frozenset(
    {
        "有点",
        "一点",
        "感觉",
        "今天",
        "我们",
        "还是",
        "就是",
        "一下",
        "希望",
        "非常",
        "比较",
        "没有",
        "可以",
        "不错",
        "这个",
        "那个",
        "什么",
        "觉得",
        "有些",
        "一些",
        "时候",
        "已经",
        "还有",
        "但是",
        "因为",
        "所以",
    }
)


def words_of(text: str) -> list[str]:
    """The words of a comment worth counting (jieba segmentation; two or more CJK characters, no stop words)."""
    import jieba  # loads its dictionary on first use (~0.5 s): only the dashboard and reports need it

    jieba.setLogLevel(logging.WARNING)  # it announces the dictionary load on every process otherwise
    return [w for w in jieba.lcut(text) if _CJK_WORD.match(w) and w not in STOP_WORDS]


def warm_words() -> None:
    """Load jieba's dictionary now (a second or more), so the first dashboard after a start does not wait for it."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()


@functools.lru_cache(maxsize=20_000)
def _comment_words(comment: str) -> tuple[str, ...]:
    return tuple(words_of(comment))


def _newest(session: Session, where: list[Any], *, start: date, end: date, in_range: int) -> list[Any]:
    """The range's newest SAMPLE feedbacks (id, created_at, comment), newest first."""
    newest = select(col(Feedback.id), col(Feedback.created_at), col(Feedback.comment))
    if session.get_bind().dialect.name == "sqlite" and in_range > 4 * SAMPLE:
        # SQLite has no range statistics: it reads and sorts the whole range through the service_date index
        # (0.5 s for two years at 200,000). Walk the table newest first instead (`+` keeps the index off)
        # when that reads fewer rows: those after the range (ids in order of arrival) or, ids spread over
        # the days as the bulk fill's are, SAMPLE × all ÷ those in the range.
        after = session.execute(select(func.count()).where(col(Feedback.service_date) > end)).scalar_one()
        every = session.execute(select(func.max(col(Feedback.id)))).scalar_one() or 0
        if max(after, SAMPLE * every // in_range) < in_range:
            day = literal_column("+feedback.service_date", Date)
            where = [day >= start, day <= end, *where[2:]]  # after the range's two bounds
    return list(session.execute(newest.where(*where).order_by(col(Feedback.id).desc()).limit(SAMPLE)))


@dataclass(frozen=True)
class Handling:
    """What the newest SAMPLE feedbacks of a range give: how many, how many replied, the median hours to
    the first reply and to the close, and the frequent words of the newest WORDS_SAMPLE comments."""

    sampled: int
    replied: int
    first_reply_hours: float | None
    close_hours: float | None
    words: tuple[tuple[str, int], ...]


def handling(session: Session, where: list[Any], *, start: date, end: date, in_range: int) -> Handling:
    sample = _newest(session, where, start=start, end=end, in_range=in_range)
    created = {r.id: r.created_at for r in sample}
    first_reply: dict[int, datetime] = {}
    closed: dict[int, datetime] = {}
    for ev in session.execute(
        select(col(FeedbackEvent.feedback_id), col(FeedbackEvent.action), col(FeedbackEvent.at)).where(
            col(FeedbackEvent.feedback_id).in_(list(created)),
            col(FeedbackEvent.action).in_([Action.replied, Action.closed]),
        )
    ).all():
        fid, at = ev.feedback_id, ev.at
        target = first_reply if ev.action == Action.replied else closed
        if fid in created and (fid not in target or at < target[fid]):
            target[fid] = at
    reply_hours = [(at - created[fid]).total_seconds() / 3600 for fid, at in first_reply.items()]
    close_hours = [(at - created[fid]).total_seconds() / 3600 for fid, at in closed.items()]
    # each comment segmented once per process (the newest comments are the same from one look to the next)
    words: Counter[str] = Counter()
    for r in sample[:WORDS_SAMPLE]:
        if r.comment:
            words.update(_comment_words(r.comment))
    return Handling(
        sampled=len(sample),
        replied=len(first_reply),
        first_reply_hours=round(statistics.median(reply_hours), 1) if reply_hours else None,
        close_hours=round(statistics.median(close_hours), 1) if close_hours else None,
        words=tuple(words.most_common(20)),
    )
