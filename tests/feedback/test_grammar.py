"""The message grammar (README, "Message grammar"): scores, meals, commands, non-scores, meal inference, QR scenes."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from feedback.grammar import infer_meal, match_score, normalize, parse_scene, parse_text
from feedback.models import Meal

SHANGHAI = ZoneInfo("Asia/Shanghai")

# --- scores ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("1", 1),
        ("2", 2),
        ("3", 3),
        ("4", 4),
        ("5", 5),
        ("4分", 4),
        ("1分", 1),
        ("4 分", 4),
        ("★★★★", 4),
        ("★", 1),
        ("★★★★★", 5),
        ("★★★☆☆", 3),
        ("⭐⭐", 2),
        ("四星", 4),
        ("五星", 5),
        ("一星", 1),
        ("5星", 5),
        ("两分", 2),
        ("满意", 5),
        ("比较满意", 4),
        ("一般", 3),
        ("不满意", 2),
        ("很不满意", 1),
        ("非常满意", 5),
        ("非常不满意", 1),
        ("满意！", 5),
        # full-width digits (NFKC)
        ("４", 4),
        ("５分", 5),
        ("\u3000３\u3000", 3),
        ("２ 分", 2),
    ],
)
def test_score_forms(text: str, score: int) -> None:
    p = parse_text(text)
    assert p.kind == "feedback"
    assert p.score == score
    assert p.comment == ""


@pytest.mark.parametrize("text", ["0", "6", "9", "12", "45", "☆☆☆", "★★★★★★"])
def test_out_of_range_is_a_comment_not_a_score(text: str) -> None:
    p = parse_text(text)
    assert p.kind == "feedback"
    assert p.score is None
    assert p.comment == text


def test_score_word_longest_first() -> None:
    # 不满意 must not be read as 满意 (5), nor 很不满意 as 不满意 (2)
    assert parse_text("不满意").score == 2
    assert parse_text("很不满意").score == 1
    assert parse_text("比较满意").score == 4


def test_match_score_reports_consumed_length() -> None:
    assert match_score("4分 好") == (4, 2)
    assert match_score("★★★ 好") == (3, 3)
    assert match_score("不满意，咸") == (2, 3)
    assert match_score("5") == (5, 1)
    assert match_score("菜太咸") is None
    assert match_score("45") is None


# --- meals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "meal"),
    [
        ("早餐", Meal.breakfast),
        ("早饭", Meal.breakfast),
        ("午餐", Meal.lunch),
        ("午饭", Meal.lunch),
        ("中餐", Meal.lunch),
        ("晚餐", Meal.dinner),
        ("晚饭", Meal.dinner),
    ],
)
def test_meal_words(word: str, meal: Meal) -> None:
    p = parse_text(f"{word} 3 还行")
    assert (p.kind, p.meal, p.score, p.comment) == ("feedback", meal, 3, "还行")
    glued = parse_text(f"{word}4分")
    assert (glued.meal, glued.score, glued.comment) == (meal, 4, "")
    opened = parse_text(f"反馈 {word}")
    assert (opened.kind, opened.meal, opened.score) == ("open", meal, None)


def test_meal_word_inside_a_sentence_is_kept_in_the_comment() -> None:
    p = parse_text("午餐的米饭太硬")
    assert p.meal == Meal.lunch
    assert p.score is None
    assert p.comment == "午餐的米饭太硬"


def test_no_meal_word_means_no_meal() -> None:
    assert parse_text("4分 红烧肉偏咸").meal is None


# --- one-shot feedback and commands ---------------------------------------------------------------


def test_one_shot_feedback_with_meal_score_comment() -> None:
    p = parse_text("反馈 午餐 4 红烧肉偏咸")
    assert (p.kind, p.score, p.meal, p.comment) == ("feedback", 4, Meal.lunch, "红烧肉偏咸")


def test_one_shot_with_evaluation_word_and_full_width_punctuation() -> None:
    p = parse_text("评价：晚饭，２分，菜凉了")
    assert (p.kind, p.score, p.meal, p.comment) == ("feedback", 2, Meal.dinner, "菜凉了")


def test_score_then_comment() -> None:
    p = parse_text("4分 红烧肉偏咸")
    assert (p.kind, p.score, p.meal, p.comment) == ("feedback", 4, None, "红烧肉偏咸")
    p = parse_text("一般，汤太淡")
    assert (p.score, p.comment) == (3, "汤太淡")
    p = parse_text("★★★★☆ 好吃")
    assert (p.score, p.comment) == (4, "好吃")


@pytest.mark.parametrize("text", ["反馈", "评价", " 反馈 ", "反馈！"])
def test_feedback_word_alone_opens_a_window(text: str) -> None:
    p = parse_text(text)
    assert p.kind == "open"
    assert p.score is None and p.meal is None and p.comment == ""


def test_feedback_word_with_score_is_feedback_not_open() -> None:
    p = parse_text("反馈 5")
    assert (p.kind, p.score, p.comment) == ("feedback", 5, "")


@pytest.mark.parametrize(
    "text", ["帮助", "help", "HELP", "Ｈｅｌｐ", "菜单", "?", "？", "你好", "", "   ", "...", "，。"]
)
def test_help_words(text: str) -> None:
    assert parse_text(text).kind == "help"


def test_stars_alone_are_not_help() -> None:
    # only punctuation is help, but stars are a score even though they are not word characters
    assert parse_text("★★★").kind == "feedback"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("会议 HY2026A", "HY2026A"),
        ("会议 hy2026a", "hy2026a"),
        ("会议HY-1_b", "HY-1_b"),
        ("会议  X1  多余", "X1"),
    ],
)
def test_meeting_command(text: str, code: str) -> None:
    p = parse_text(text)
    assert p.kind == "meeting"
    assert p.args == (code,)


@pytest.mark.parametrize("text", ["会议", "会议 年度工作会", "会议室太冷"])
def test_meeting_word_without_a_code_is_plain_feedback(text: str) -> None:
    p = parse_text(text)
    assert p.kind == "feedback"
    assert p.comment == text


@pytest.mark.parametrize(
    ("text", "command", "args"),
    [
        ("查档 红烧肉 2026", "查档", ("红烧肉", "2026")),
        ("查档", "查档", ()),
        ("查阅 J001-CYF-2026-10-0001 工作需要", "查阅", ("J001-CYF-2026-10-0001", "工作需要")),
        ("我的查阅", "我的查阅", ()),
        ("审批 LR0001 同意", "审批", ("LR0001", "同意")),
        ("审批 LR0002 驳回 理由不充分", "审批", ("LR0002", "驳回", "理由不充分")),
    ],
)
def test_staff_commands(text: str, command: str, args: tuple[str, ...]) -> None:
    p = parse_text(text)
    assert p.kind == "staff"
    assert p.command == command
    assert p.args == args


# --- things that are not scores -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["3号窗口的菜太咸", "满意度不高", "一般般吧", "不满意度调查", "2个菜都凉了", "hello 4"]
)
def test_not_scores(text: str) -> None:
    p = parse_text(text)
    assert p.kind == "feedback"
    assert p.score is None
    assert p.comment == text


@pytest.mark.parametrize("text", ["5分钟就凉了", "两分钟就卖完了", "三星级酒店的水平"])
def test_minutes_and_star_ratings_are_not_scores(text: str) -> None:
    p = parse_text(text)
    assert p.score is None
    assert p.comment == text


# --- trailing scores ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "score", "comment"),
    [
        ("太咸了，不满意", 2, "太咸了"),
        ("太咸了，4分", 4, "太咸了"),
        ("菜很好 ★★★★", 4, "菜很好"),
        ("服务周到，非常满意！", 5, "服务周到"),
    ],
)
def test_trailing_score(text: str, score: int, comment: str) -> None:
    p = parse_text(text)
    assert (p.kind, p.score, p.comment) == ("feedback", score, comment)


@pytest.mark.parametrize(
    ("text", "comment"),
    [("It was delicious，满意", "It was delicious"), ("yes 满意", "yes"), ("太咸了 ，不满意", "太咸了")],
)
def test_trailing_score_keeps_the_comment_intact(text: str, comment: str) -> None:
    p = parse_text(text)
    assert p.score is not None
    assert p.comment == comment


def test_feedback_word_inside_a_word_is_not_stripped() -> None:
    p = parse_text("意见箱在哪里？")
    assert p.kind == "feedback"
    assert "意见箱" in p.comment


# --- normalization --------------------------------------------------------------------------------


def test_normalize_folds_full_width_and_keeps_the_comment_verbatim() -> None:
    assert normalize("  ４分　ｇｏｏｄ ") == "4分 good"
    p = parse_text("３分 ｇｏｏｄ，３号窗口？")
    assert (p.score, p.comment) == (3, "ｇｏｏｄ，３号窗口？")  # matched on folded text, kept as typed


# --- meal inference -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hh", "mm", "meal", "day"),
    [
        (0, 0, Meal.dinner, date(2026, 11, 23)),
        (4, 59, Meal.dinner, date(2026, 11, 23)),
        (5, 0, Meal.breakfast, date(2026, 11, 24)),
        (10, 29, Meal.breakfast, date(2026, 11, 24)),
        (10, 30, Meal.lunch, date(2026, 11, 24)),
        (15, 59, Meal.lunch, date(2026, 11, 24)),
        (16, 0, Meal.dinner, date(2026, 11, 24)),
        (23, 59, Meal.dinner, date(2026, 11, 24)),
    ],
)
def test_infer_meal_boundaries(hh: int, mm: int, meal: Meal, day: date) -> None:
    assert infer_meal(datetime(2026, 11, 24, hh, mm, tzinfo=SHANGHAI)) == (meal, day)


def test_infer_meal_early_morning_crosses_month_and_year() -> None:
    assert infer_meal(datetime(2027, 1, 1, 2, 0, tzinfo=SHANGHAI)) == (Meal.dinner, date(2026, 12, 31))


# --- QR scenes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scene", "parsed"),
    [
        ("canteen:yst:12", ("canteen", "yst", "12")),
        ("canteen:yst", ("canteen", "yst", None)),
        ("canteen:yst:", ("canteen", "yst", None)),
        (" canteen:yst:A3 ", ("canteen", "yst", "A3")),
        ("meeting:HY2026A", ("meeting", "HY2026A", None)),
        ("canteen:", None),
        ("canteen", None),
        ("meeting:", None),
        ("meeting:HY:1", None),
        ("lottery:1", None),
        ("", None),
        ("12345", None),
    ],
)
def test_parse_scene(scene: str, parsed: tuple[str, str, str | None] | None) -> None:
    assert parse_scene(scene) == parsed


# --- properties -----------------------------------------------------------------------------------

GRAMMAR_ALPHABET = st.sampled_from(
    list(
        "反馈评价意见会议查档阅我的审批绑定早午晚中餐饭满意不很比较一般两三四五星分★☆⭐"
        "0123456789１２３４５ ，。！？,.!:-~…号窗口菜太咸abcHELP帮助\u3000\n"
    )
)
ANY_TEXT = st.one_of(st.text(max_size=80), st.text(GRAMMAR_ALPHABET, max_size=40))


@hsettings(max_examples=500, deadline=None)
@given(ANY_TEXT)
def test_parse_text_never_raises_and_stays_in_range(raw: str) -> None:
    p = parse_text(raw)
    assert p.kind in {"help", "open", "feedback", "meeting", "staff"}
    if p.score is not None:
        assert 1 <= p.score <= 5
    if p.meal is not None:
        assert p.meal in set(Meal)
    assert len(p.comment) <= len(raw.strip())
    assert p.comment in raw  # the comment is always the diner's own text, never rewritten


@hsettings(max_examples=200, deadline=None)
@given(st.integers(1, 5), st.text(GRAMMAR_ALPHABET, max_size=20))
def test_a_leading_score_with_unit_is_always_read(score: int, rest: str) -> None:
    p = parse_text(f"{score}分 {rest}")
    assert p.kind == "feedback"
    assert p.score == score


@given(st.integers(0, 23), st.integers(0, 59))
def test_infer_meal_is_total(hh: int, mm: int) -> None:
    meal, day = infer_meal(datetime(2026, 3, 1, hh, mm, tzinfo=SHANGHAI))
    assert meal in set(Meal)
    assert day in (date(2026, 3, 1), date(2026, 2, 28))
    assert (day == date(2026, 2, 28)) == (hh < 5)
