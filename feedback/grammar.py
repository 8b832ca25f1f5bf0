"""The message grammar (DESIGN §4): what people type, parsed into a command, a score, a meal and a comment.

Pure functions, no database: the handlers decide what a parsed message means in its dialog.
"""

from __future__ import annotations

import re
import unicodedata
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

_PUNCT = r"\s,.!?;:，。！？；：、~～…·\-—"
_BOUNDARY = rf"(?=$|[{_PUNCT}])"
_SEP = re.compile(rf"[{_PUNCT}]*")
_STARS = re.compile(r"[★☆⭐]+")
_DIGIT_UNIT = re.compile(rf"([1-5]|[{''.join(CHINESE_DIGITS)}])\s*(?:分|星)")
_BARE_DIGIT = re.compile(rf"[1-5]{_BOUNDARY}")
_SCORE_WORD = re.compile("(?:" + "|".join(re.escape(w) for w, _ in SCORE_WORDS) + ")" + _BOUNDARY)
_SCORE_WORD_VALUE = dict(SCORE_WORDS)
_MEAL_WORD = re.compile("|".join(re.escape(w) for w in MEAL_WORDS))
_TRAILING_SCORE = re.compile(
    rf"(?:^|[{_PUNCT}])((?:[★☆⭐]+)|(?:[1-5]|[{''.join(CHINESE_DIGITS)}])\s*(?:分|星)|"
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


def normalize(text: str) -> str:
    """NFKC (full-width digits and letters become ASCII) and trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


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


def _trailing_score(text: str) -> tuple[int, str] | None:
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
    return score, text[: m.start()].rstrip(_PUNCT.replace("\\", ""))


def parse_text(raw: str) -> Parsed:
    """Parse one text message. Never raises: anything unrecognised is a comment (free text is never dropped)."""
    text = normalize(raw)
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
    for word in FEEDBACK_WORDS:
        if text.startswith(word):
            is_command = True
            text = text[len(word) :]
            break

    score: int | None = None
    meal: Meal | None = None
    pos = 0
    progress = True
    while progress:
        progress = False
        pos = _SEP.match(text, pos).end()  # type: ignore[union-attr]
        # a meal word leads only when a separator or a score follows it: 午餐 4 …, 午餐4分…, not 午餐的米饭…
        if meal is None and (m := _MEAL_WORD.match(text, pos)) and (
            re.match(_BOUNDARY, text[m.end() :]) or match_score(text[m.end() :])
        ):
            meal = MEAL_WORDS[m.group(0)]
            pos = m.end()
            progress = True
            continue
        if score is None and (s := match_score(text[pos:])):
            score = s[0]
            pos += s[1]
            progress = True
    comment = text[pos:].strip()
    if score is None and comment and (t := _trailing_score(comment)):
        score, comment = t
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
