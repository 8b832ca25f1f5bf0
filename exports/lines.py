"""Canonical line formats by version (the volume's `line_version`), so volumes sealed under an older format
keep verifying while new ones carry more.

- version 1: the first format — the 明细 row of `exports.source.record` (no handling record).
- version 2 (issue 14): the 卷内文件 row — the printed columns first (顺序号, 反馈时间, 反馈人, 食堂/餐次或会议,
  评分, 反馈内容, 处理回复, 整改情况, 办结情况, 回访结果), then the machine columns (条目标识, 渠道, 类别, 附件,
  处理状态); the 条目SHA-256 follows in the sheet. The handling record (every reply, rectification with
  措施/责任人/期限/完成情况, who resolved and closed it and when, the return-visit answer) is thus in the line,
  under the content digest and the seal.
- version 3 (issue 15): as version 2, but the 评分 cell of an item rated by aspect on the form carries those
  scores too, one a line after the overall score (「4\n口味 4\n卫生 5」), so the seal covers them; an item
  without aspect scores has the line it had in version 2. The 评分 column is wider, 反馈内容 narrower.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from core.settings import Settings
from exports import texts
from exports.records import Sanitised, sanitise
from exports.source import Item, local_minute, record
from feedback.models import Action

CURRENT = 3


def handling_texts(item: Item, *, settings: Settings) -> tuple[str, str, str, str]:
    """(处理回复, 整改情况, 办结情况, 回访结果) of an item, as printed and sealed."""
    replies: list[str] = []
    rects: list[str] = []
    done: list[str] = []
    revisit = ""
    for ev in item.handling:
        at = local_minute(ev.at, settings)
        actor = sanitise(ev.actor).text
        if ev.action == Action.replied:
            replies.append(texts.H_REPLY.format(at=at, actor=actor, text=sanitise(ev.detail).text))
        elif ev.action == Action.rectification:
            try:
                data = json.loads(ev.detail)
            except ValueError:
                data = {"措施": ev.detail}
            rects.append(
                texts.H_RECT.format(
                    at=at,
                    actor=actor,
                    **{k: sanitise(str(data.get(k, "") or "")).text for k in texts.H_RECT_KEYS},
                )
            )
        elif ev.action == Action.resolved:
            done.append(texts.H_RESOLVED.format(at=at, actor=actor))
        elif ev.action == Action.closed:
            done.append(texts.H_CLOSED.format(at=at, actor=actor))
        elif ev.action == Action.revisit_answered:
            revisit = texts.REVISIT.get(ev.detail.strip(), ev.detail) + f"（{at}）"
    return "\n".join(replies), "\n".join(rects), "\n".join(done), revisit


def record_v2(item: Item, *, settings: Settings) -> tuple[list[Any], Sanitised]:
    """The 卷内文件 values of one item (version 2, without its digest column), and its sanitised comment."""
    v1, comment = record(item, settings=settings)
    reply, rect, done, revisit = handling_texts(item, settings=settings)
    # v1: 0 seq, 1 code, 2 time, 3 channel, 4 pseudonym, 5 where, 6 topics, 7 score, 8 comment,
    #     9 attachments, 10 status, 11 reply, 12 replier, 13 reply time
    values = [
        v1[0],
        v1[2],
        v1[4],
        v1[5],
        v1[7],
        v1[8],
        reply,
        rect,
        done,
        revisit,
        v1[1],
        v1[3],
        v1[6],
        v1[9],
        v1[10],
    ]
    return values, comment


SCORE_AT = 4  # the 评分 column of a version-2 or -3 line


def aspect_scores(item: Item) -> str:
    """An item's aspect scores as the version-3 评分 cell adds them: one 「口味 4」 a line."""
    return "\n".join(f"{sanitise(aspect).text} {score}" for aspect, score in item.aspects)


def record_v3(item: Item, *, settings: Settings) -> tuple[list[Any], Sanitised]:
    """The 卷内文件 values of one item (version 3): version 2's, with the aspect scores in the 评分 cell."""
    values, comment = record_v2(item, settings=settings)
    if item.aspects:
        score = values[SCORE_AT]
        values[SCORE_AT] = f"{score}\n{aspect_scores(item)}"
    return values, comment


RECORDS: dict[int, Callable[..., tuple[list[Any], Sanitised]]] = {1: record, 2: record_v2, 3: record_v3}
# where the 顺序号 and the 条目标识 sit in a line, and the sheet and headers that hold the lines
CODE_AT = {1: (0, 1), 2: (0, 10), 3: (0, 10)}
DETAIL_SHEET = {1: texts.SHEET_DETAIL, 2: texts.SHEET_ITEMS, 3: texts.SHEET_ITEMS}
DETAIL_HEADERS = {1: texts.DETAIL_HEADERS, 2: texts.ITEM_HEADERS, 3: texts.ITEM_HEADERS}
WRAPPED_V2 = (
    3,
    5,
    6,
    7,
    8,
)  # 食堂/会议, 反馈内容, 处理回复, 整改情况, 办结情况: wrapped, may run to continuation rows
PRINTED_V2 = 10  # columns A–J print; the machine columns stay outside the print area
# the 卷内文件 column widths (the last: 条目SHA-256) and wrapped columns by version; version 3 wraps 评分 too,
# and (since session 7) 反馈时间, 反馈人 and 回访结果, with 反馈人 wide enough for a pseudonym's 12 hex digits
# (「用户CA8A270CFBA9」 was cut at the column's border on paper): layout only, the lines are the same
ITEM_WIDTHS = {
    2: (6, 10, 10, 12, 5, 28, 19, 21, 12, 7, 30, 6, 10, 16, 8, 66),
    3: (6, 11, 13, 12, 8, 25, 17, 19, 12, 7, 30, 6, 10, 16, 8, 66),
}
WRAPPED = {2: WRAPPED_V2, 3: (1, 2, 3, 4, 5, 6, 7, 8, 9)}
