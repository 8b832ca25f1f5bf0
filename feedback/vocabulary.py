"""Chinese words the grammar understands, the labels shown to people (meals, channels, statuses) and the
words that tag a comment's topics (类别), kept together for review."""

from __future__ import annotations

import re

from feedback.models import Channel, Meal, Status

# Words that open or start a feedback (反馈 / 评价 / 意见), and the menu key of the Official Account's button.
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


# Topics (类别) a comment is tagged with, by the words that mark them; reviewed and edited here.
TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "口味": ("咸", "淡", "辣", "油腻", "太油", "酸", "甜", "腥", "味道", "口味", "难吃", "好吃", "香"),
    "温度": ("凉", "冷了", "不热", "太烫", "温度"),
    "食品安全": (
        "异物",
        "变质",
        "发霉",
        "拉肚子",
        "腹泻",
        "食物中毒",
        "头发",
        "虫子",
        "馊",
        "过期",
        "不新鲜",
    ),
    "卫生": ("干净", "卫生", "油污", "餐具", "苍蝇", "桌子脏", "脏"),
    "服务": ("态度", "服务", "热情", "不耐烦", "打菜"),
    "排队": ("排队", "等了", "太慢", "窗口", "人多"),
    "分量": ("分量", "量少", "太少", "不够吃", "吃不饱"),
    "菜品": ("品种", "花样", "单一", "新菜", "菜品", "重复"),
    "价格": ("价格", "太贵", "贵了", "便宜"),
    "环境": ("空调", "座位", "噪音", "灯光", "环境", "会场", "话筒", "投影"),
    "茶水": ("茶水", "饮用水", "续水", "矿泉水"),
}


# --- food safety (食品安全): one vocabulary for the alert, the deadlines and the diner's reply ------------

# Words of food gone wrong, as diners type them (虫 alone: 吃出一条虫).
FOOD_SAFETY_WORDS: tuple[str, ...] = (
    "异物",
    "变质",
    "发霉",
    "拉肚子",
    "腹泻",
    "食物中毒",
    "呕吐",
    "头发",
    "虫子",
    "虫",
    "馊",
    "过期",
    "坏了",
    "有异味",
    "臭了",
)
# Symptoms: they alert too, and the reply advises seeing a doctor and keeping the leftover food.
SYMPTOM_WORDS: tuple[str, ...] = (
    "拉肚子",
    "腹泻",
    "腹痛",
    "肚子疼",
    "肚子痛",
    "胃疼",
    "胃痛",
    "呕吐",
    "吐了",
    "恶心",
    "发烧",
    "发热",
    "头晕",
    "过敏",
    "食物中毒",
    "不舒服",
)
# Dishes and words that contain a food-safety word but are none: 虫草花炖鸡 is on the menu.
NOT_FOOD_SAFETY: tuple[str, ...] = ("虫草",)
_SAFETY = re.compile("|".join(re.escape(w) for w in dict.fromkeys(FOOD_SAFETY_WORDS + SYMPTOM_WORDS)))
_SYMPTOM = re.compile("|".join(re.escape(w) for w in SYMPTOM_WORDS))
_BENIGN = re.compile("|".join(re.escape(w) for w in NOT_FOOD_SAFETY))


def food_safety_words(comment: str) -> list[str]:
    """The food-safety and symptom words a comment names, each once, in the order they appear."""
    return list(dict.fromkeys(_SAFETY.findall(_BENIGN.sub("　", comment))))


def names_symptoms(comment: str) -> bool:
    """Whether the comment names a symptom (腹泻, 呕吐, …)."""
    return _SYMPTOM.search(_BENIGN.sub("　", comment)) is not None
