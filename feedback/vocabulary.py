"""Chinese words the grammar understands and labels shown to people, kept together for review."""

from __future__ import annotations

from feedback.models import Channel, Meal, Status

# Words that open or start a feedback (反馈 / 评价), and the menu key of the Official Account's button.
FEEDBACK_WORDS = ("反馈", "评价", "意见")
FEEDBACK_MENU_KEY = "FEEDBACK"

# Satisfaction words → score; longer words first so 不满意 is not read as 满意.
SCORE_WORDS: tuple[tuple[str, int], ...] = (
    ("非常不满意", 1),
    ("很不满意", 1),
    ("不太满意", 2),
    ("不满意", 2),
    ("比较满意", 4),
    ("还算满意", 4),
    ("基本满意", 4),
    ("非常满意", 5),
    ("很满意", 5),
    ("满意", 5),
    ("一般", 3),
)
CHINESE_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}

MEAL_WORDS: dict[str, Meal] = {
    "早餐": Meal.breakfast,
    "早饭": Meal.breakfast,
    "早点": Meal.breakfast,
    "午餐": Meal.lunch,
    "午饭": Meal.lunch,
    "中餐": Meal.lunch,
    "中饭": Meal.lunch,
    "晚餐": Meal.dinner,
    "晚饭": Meal.dinner,
}

# Input that is clearly not feedback and gets the menu of commands.
HELP_WORDS = frozenset(
    {
        "帮助",
        "help",
        "菜单",
        "?",
        "？",
        "功能",
        "你好",
        "您好",
        "hi",
        "hello",
        "在吗",
        "在么",
        "在不在",
        "怎么用",
        "使用说明",
    }
)

MEETING_WORD = "会议"
STAFF_COMMANDS = ("我的查阅", "查档", "查阅", "审批", "绑定")

MEAL_LABELS = {Meal.breakfast: "早餐", Meal.lunch: "午餐", Meal.dinner: "晚餐"}
CHANNEL_LABELS = {Channel.canteen: "食堂", Channel.meeting: "会务"}
STATUS_LABELS = {
    Status.new: "待处理",
    Status.acknowledged: "已受理",
    Status.rectifying: "整改中",
    Status.resolved: "已整改",
    Status.closed: "已办结",
}
