"""What a diner's message is, beyond the grammar (issue 12): chatter that is not feedback, the situation a
feedback puts the diner in (food safety, complaint, neutral, good score, unscored), each with the words that
mark it, and the yes/no answers to the bot's question.

Pure functions, no database: the handlers choose the reply from these. Words are kept here for review.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from feedback.vocabulary import food_safety_words


class Situation(StrEnum):
    """The situation a recorded feedback puts the diner in; the reply is chosen by it."""

    food_safety = "food_safety"  # a food-safety or symptom word: apologise, duty manager alerted, duty phone
    complaint = "complaint"  # a score of 1–2: apologise, say who follows up
    neutral = "neutral"  # a score of 3
    good = "good"  # a score of 4–5: thank briefly
    unscored = "unscored"  # a comment without a score: offer to add one


def situation(*, score: int | None, comment: str) -> Situation:
    """The situation of a feedback with this score and comment (food safety first, whatever the score)."""
    if food_safety_words(comment):
        return Situation.food_safety
    if score is None:
        return Situation.unscored
    if score <= 2:
        return Situation.complaint
    return Situation.good if score >= 4 else Situation.neutral


# --- chatter: messages that are not feedback ---------------------------------------------------------


class Chatter(StrEnum):
    """What kind of not-feedback a message is; each gets its own polite answer."""

    thanks = "thanks"  # 谢谢, 辛苦了
    ack = "ack"  # 好的, 嗯, 收到, ok
    emoji = "emoji"  # emoji or WeChat stickers alone ([微笑], /::))
    time = "time"  # 5分钟后到, 马上到, 一会儿
    decimal = "decimal"  # 4.5: not a score (scores are whole numbers)


THANKS_WORDS = frozenset(
    {"谢谢", "谢谢你", "谢谢您", "谢谢啦", "谢啦", "多谢", "感谢", "非常感谢", "辛苦了", "辛苦", "thanks",
     "thank you", "thx", "3q"}
)  # fmt: skip
ACK_WORDS = frozenset(
    {"好", "好的", "好滴", "好哒", "好嘞", "好吧", "行", "行的", "可以", "嗯", "嗯嗯", "恩", "恩恩", "哦", "噢", "哦哦",
     "喔", "收到", "收到了", "知道了", "明白", "明白了", "了解", "ok", "okay", "okk", "嗯好", "好的谢谢", "好的，谢谢",
     "没事", "没事了", "没了", "没有了", "就这样", "不用了", "再见", "拜拜", "bye"}
)  # fmt: skip
# trailing particles and punctuation that do not change what an acknowledgement is
_TRIM = " \t\r\n\u3000,.!?;:，。！？；：、~～…·-—啊呀哈啦了哦噢"
_PUNCT_ONLY = " \t\r\n\u3000,.!?;:，。！？；：、~～…·-—"
_STICKER = re.compile(r"(?:\[[\u4e00-\u9fffA-Za-z]{1,6}\]|/:[^\s/]{1,8})")
_NUM = r"(?:\d{1,3}|[一二两三四五六七八九十半]{1,3})"
_TIME = re.compile(
    rf"^(?:大概|大约|再|还有|过)?{_NUM}(?:个)?(?:多)?(?:分钟|小时|钟头|点半?|点钟|秒)(?:钟)?(?:左右)?"
    r"(?:后|以后|之后)?(?:就)?(?:到|来|过来|过去|回|见|再说|吃)?$"
    r"|^(?:马上|立刻|一会儿?|等一下|等一会儿?|稍等|等等|待会儿?|回头)(?:就)?(?:到|来|过来|见|再说|聊)?$"
)
_DECIMAL = re.compile(r"^[0-9]+[.．。][0-9]+\s*(?:分|星)?$")


def _is_emoji_char(c: str) -> bool:
    if c in "\u200d\ufe0f\ufe0e\u20e3 \u3000":
        return True
    cat = unicodedata.category(c)
    return cat in ("So", "Sk", "Cs") or 0x1F000 <= ord(c) <= 0x1FAFF or 0x2600 <= ord(c) <= 0x27BF


def chatter(text: str) -> Chatter | None:
    """What kind of chatter `text` is, or None when it may be feedback (and so is kept as a comment)."""
    raw = unicodedata.normalize("NFKC", text).strip()
    if not raw:
        return None
    if _DECIMAL.match(raw):
        return Chatter.decimal
    without_stickers = _STICKER.sub("", raw)
    if not without_stickers.strip() or all(_is_emoji_char(c) for c in without_stickers):
        # ★★★ is a score, not an emoji
        return None if any(c in "★⭐☆" for c in raw) else Chatter.emoji
    text_only = "".join(c for c in without_stickers if not _is_emoji_char(c)).lower()
    core = text_only.strip(_TRIM)
    if not core:
        return Chatter.ack
    # as typed (知道了) and without trailing particles (好的呀)
    words = {text_only.strip(_PUNCT_ONLY), core, core.removeprefix("好的").strip(_TRIM)}
    if words & THANKS_WORDS:
        return Chatter.thanks
    if words & ACK_WORDS:
        return Chatter.ack
    if _TIME.match(core):
        return Chatter.time
    return None


# --- answers to the bot's yes/no question (replace the first score?) -----------------------------------
YES_WORDS = frozenset(
    {"是", "是的", "对", "对的", "改", "改吧", "改一下", "换", "要", "好", "好的", "确定", "嗯", "y", "yes"}
)
NO_WORDS = frozenset({"否", "不", "不是", "不用", "不改", "不要", "不换", "算了", "保留", "n", "no"})


def yes_no(text: str) -> bool | None:
    """True for yes, False for no, None when `text` is neither."""
    core = unicodedata.normalize("NFKC", text).strip(_TRIM).lower()
    if core in YES_WORDS:
        return True
    if core in NO_WORDS:
        return False
    return None
