"""The message grammar (README.md, "Message grammar"): what people type, parsed into a command, a score, a meal
and a comment; the meal a local time means; a QR scene.

Pure functions, no database: the handlers decide what a parsed message means in its feedback window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from feedback.models import Meal
from feedback.vocabulary import (
    CHINESE_DIGITS,
    FEEDBACK_WORDS,
    HELP_WORDS,
    MEAL_WORDS,
    MEETING_WORD,
    SCORE_WORDS,
    STAFF_COMMANDS,
)

_PUNCT_CHARS = " \t\r\n\u3000,.!?;:，。！？；：、~～…·-—"
_PUNCT = re.escape(_PUNCT_CHARS)
_BOUNDARY = rf"(?=$|[{_PUNCT}])"
_SEP = re.compile(rf"[{_PUNCT}]*")
_STARS = re.compile(r"[★☆⭐]+")
# 分/星 but not 分钟 (minutes) or 星级 (hotel stars)
_UNIT = r"(?:分(?!钟)|星(?!级))"
_DIGIT_UNIT = re.compile(rf"([1-5]|[{''.join(CHINESE_DIGITS)}])\s*{_UNIT}")
_BARE_DIGIT = re.compile(rf"[1-5](?![.．]\d){_BOUNDARY}")
_SCORE_WORD = re.compile("(?:" + "|".join(re.escape(w) for w, _ in SCORE_WORDS) + ")" + _BOUNDARY)
_SCORE_WORD_VALUE = dict(SCORE_WORDS)
_MEAL_WORD = re.compile("|".join(re.escape(w) for w in MEAL_WORDS))
_TRAILING_SCORE = re.compile(
    rf"(?:^|[{_PUNCT}])((?:[★☆⭐]+)|(?:[1-5]|[{''.join(CHINESE_DIGITS)}])\s*{_UNIT}|"
    + "|".join(re.escape(w) for w, _ in SCORE_WORDS)
    + rf")[{_PUNCT}]*$"
)
_ONLY_PUNCT = re.compile(rf"^[{_PUNCT}\W_]*$")


@dataclass(frozen=True)
class Parsed:
    """What a text message says. `kind`: help, open (反馈 alone), feedback, meeting, staff."""

    kind: str
    score: int | None = None
    meal: Meal | None = None
    comment: str = ""
    command: str | None = None
    args: tuple[str, ...] = field(default_factory=tuple)


# Full-width digits, letters and the ideographic space fold to ASCII for matching; nothing else changes,
# so the comment keeps the diner's own punctuation (volumes hold it verbatim).
_FOLD = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F) if chr(c - 0xFEE0).isalnum()} | {0x3000: 0x20}


def normalize(text: str) -> str:
    """Full-width digits and letters as ASCII, trimmed; every other character kept as typed."""
    return text.translate(_FOLD).strip()


def _star_score(stars: str) -> int | None:
    full = sum(1 for c in stars if c in "★⭐")
    return full if 1 <= full <= 5 else None


def match_score(text: str) -> tuple[int, int] | None:
    """A score at the start of `text`: (score, characters consumed), or None."""
    if m := _STARS.match(text):
        s = _star_score(m.group(0))
        return (s, m.end()) if s else None
    if m := _DIGIT_UNIT.match(text):
        d = m.group(1)
        return (int(d) if d.isdigit() else CHINESE_DIGITS[d], m.end())
    if m := _BARE_DIGIT.match(text):
        return int(m.group(0)), m.end()
    if m := _SCORE_WORD.match(text):
        return _SCORE_WORD_VALUE[m.group(0)], m.end()
    return None


def _trailing_score(text: str) -> tuple[int, int] | None:
    """A score at the end of `text`: (score, length of the text before it)."""
    m = _TRAILING_SCORE.search(text)
    if not m:
        return None
    token = m.group(1)
    if _STARS.fullmatch(token):
        score = _star_score(token)
        if score is None:
            return None
    elif (s := match_score(token)) is not None:
        score = s[0]
    else:
        return None
    return score, len(text[: m.start()].rstrip(_PUNCT_CHARS))


def parse_text(raw: str) -> Parsed:
    """Parse one text message. Never raises: anything unrecognised is a comment (free text is never dropped)."""
    original = raw.strip()
    text = normalize(raw)  # same length as `original`: match on `text`, cut the comment from `original`
    if not text or text.lower() in HELP_WORDS or (_ONLY_PUNCT.match(text) and not _STARS.search(text)):
        return Parsed("help")
    for cmd in STAFF_COMMANDS:
        if text.startswith(cmd):
            return Parsed("staff", command=cmd, args=tuple(text[len(cmd) :].split()))
    if text.startswith(MEETING_WORD) and (rest := text[len(MEETING_WORD) :].strip()):
        code = rest.split()[0]
        if re.fullmatch(r"[A-Za-z0-9_\-]{1,40}", code):
            return Parsed("meeting", args=(code,))

    is_command = False
    pos = 0
    for word in FEEDBACK_WORDS:
        rest = text[len(word) :]
        # 反馈 is a command only when it stands alone: 反馈 午餐…, 反馈4分…, not 意见箱在哪里
        if text.startswith(word) and (
            re.match(_BOUNDARY, rest) or _MEAL_WORD.match(rest) or match_score(rest)
        ):
            is_command = True
            pos = len(word)
            break

    score: int | None = None
    meal: Meal | None = None
    progress = True
    while progress:
        progress = False
        pos = _SEP.match(text, pos).end()  # type: ignore[union-attr]
        # a meal word leads only when a separator or a score follows it: 午餐 4 …, 午餐4分…, not 午餐的米饭…
        if (
            meal is None
            and (m := _MEAL_WORD.match(text, pos))
            and (re.match(_BOUNDARY, text[m.end() :]) or match_score(text[m.end() :]))
        ):
            meal = MEAL_WORDS[m.group(0)]
            pos = m.end()
            progress = True
            continue
        if score is None and (s := match_score(text[pos:])):
            score = s[0]
            pos += s[1]
            progress = True
    end = len(text)
    if score is None and pos < end and (t := _trailing_score(text[pos:])):
        score, end = t[0], pos + t[1]
    comment = original[pos:end].strip()
    if meal is None and (m := _MEAL_WORD.search(comment)):
        meal = MEAL_WORDS[m.group(0)]
    if is_command and score is None and not comment:
        return Parsed("open", meal=meal)
    return Parsed("feedback", score=score, meal=meal, comment=comment)


def infer_meal(local_now: datetime) -> tuple[Meal, date]:
    """The meal a diner most likely means at this local time, and the day it was served.

    Before 05:00 a diner is still talking about last night's dinner.
    """
    minutes = local_now.hour * 60 + local_now.minute
    if minutes < 5 * 60:
        return Meal.dinner, (local_now - timedelta(days=1)).date()
    if minutes < 10 * 60 + 30:
        return Meal.breakfast, local_now.date()
    if minutes < 16 * 60:
        return Meal.lunch, local_now.date()
    return Meal.dinner, local_now.date()


def parse_scene(scene: str) -> tuple[str, str, str | None] | None:
    """A QR scene `canteen:<site>[:<table>]` or `meeting:<code>` as (kind, code, table)."""
    parts = scene.strip().split(":")
    if len(parts) >= 2 and parts[0] == "canteen" and parts[1]:
        return "canteen", parts[1], (parts[2] if len(parts) > 2 and parts[2] else None)
    if len(parts) == 2 and parts[0] == "meeting" and parts[1]:
        return "meeting", parts[1], None
    return None
