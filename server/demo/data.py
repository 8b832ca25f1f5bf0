"""The demo's world (`houqin demo`): its sites and meetings, the comment pools by meal and mood, the handling
details managers write, who handles, how often, and the staff roster. Only constants: server/demo/fill.py
and server/demo/bulk.py draw from them."""

from __future__ import annotations

from datetime import time

from feedback.models import Meal, Status

SOURCE = "demo"

# (code, name, kind, weight of canteen feedback, tables)
SITES: tuple[tuple[str, str, str, float, int], ...] = (
    ("yst", "机关一食堂", "canteen", 0.45, 40),
    ("est", "机关二食堂", "canteen", 0.35, 30),
    ("zgct", "职工餐厅", "canteen", 0.20, 24),
    ("hys", "第一会议室", "venue", 0.0, 0),
)

# (title, venue, organiser, days)
MEETINGS: tuple[tuple[str, str, str, int], ...] = (
    ("全市机关事务工作会议", "第一会议室", "办公室", 2),
    ("公共机构节能工作推进会", "第一会议室", "公共机构节能管理处", 1),
    ("机关食堂食品安全培训会", "二号楼报告厅", "餐饮服务中心", 1),
    ("后勤服务满意度座谈会", "第一会议室", "服务保障处", 1),
)

DINERS = 60  # staff who eat in the canteens
GUESTS = 30  # meeting attendees from other units
MEETING_SHARE = 0.12  # of all feedback
PHOTO_SHARE = 0.08
TABLE_SHARE = 0.35
WEEKEND_WEIGHT = 0.1  # canteens run a duty service at weekends and on public holidays
# fixed-date public holidays (元旦, 劳动节, 国庆节), treated like weekends; lunar ones are not modelled
HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (5, 3), (5, 4), (5, 5), *((10, d) for d in range(1, 8))})

# local meal windows: (start, minutes long)
MEAL_WINDOWS = {
    Meal.breakfast: (time(7, 0), 120),
    Meal.lunch: (time(11, 30), 90),
    Meal.dinner: (time(17, 30), 90),
}
MEAL_WEIGHTS = {Meal.breakfast: 0.25, Meal.lunch: 0.55, Meal.dinner: 0.20}

# score → weight; None is an unscored (free-text) feedback
CANTEEN_SCORES: dict[int | None, float] = {5: 0.40, 4: 0.28, 3: 0.12, 2: 0.06, 1: 0.04, None: 0.10}
MEETING_SCORES: dict[int | None, float] = {5: 0.48, 4: 0.28, 3: 0.10, 2: 0.04, 1: 0.02, None: 0.08}

# comment pools: pos(itive), mid (mild remark), neg(ative), idea (suggestion, mostly unscored)
BREAKFAST_COMMENTS: dict[str, tuple[str, ...]] = {
    "pos": (
        "豆浆很香浓",
        "包子皮薄馅大",
        "小米粥熬得很稠",
        "鸡蛋煮得刚好",
        "早餐品种丰富",
        "油条酥脆不油腻",
        "花卷松软",
    ),
    "mid": ("豆浆有点淡", "包子馅偏少", "粥稍微有点稀", "早餐品种可以再多一些", "咸菜有点咸"),
    "neg": ("馒头凉了", "鸡蛋煮老了", "油条太油", "七点半粥就没了", "豆浆不够热", "包子没蒸透"),
}
MAIN_MEAL_COMMENTS: dict[str, tuple[str, ...]] = {
    "pos": (
        "汤很鲜美",
        "青菜新鲜",
        "红烧肉肥而不腻",
        "鱼香肉丝味道正宗",
        "米饭软硬适中",
        "菜量足",
        "番茄炒蛋很下饭",
        "清蒸鱼很新鲜",
        "水果品种多",
        "凉菜爽口",
        "饺子馅很香",
    ),
    "mid": (
        "红烧肉偏咸",
        "米饭有点硬",
        "汤有点淡",
        "菜品变化不大，希望多换换花样",
        "辣菜有点多，希望增加清淡菜",
        "排队时间有点长",
        "炒菜油有点大",
    ),
    "neg": (
        "排队时间太长",
        "菜凉了",
        "红烧肉太咸了",
        "米饭有点夹生",
        "青菜发黄不新鲜",
        "吃出一根头发",
        "打菜分量不均",
        "十二点半以后好多菜没了",
        "鱼有腥味",
    ),
}
CANTEEN_COMMENTS: dict[str, tuple[str, ...]] = {
    "pos": ("服务热情", "餐厅环境干净整洁", "窗口阿姨服务热情", "餐具消毒到位"),
    "mid": ("餐厅有点吵", "座位有点紧张", "空调温度偏高"),
    "neg": ("餐具不够干净", "地面有油渍很滑", "餐桌没及时擦", "刷卡机经常故障"),
    "idea": (
        "建议增加一些粗粮",
        "希望能提供低糖饮品",
        "建议周五晚上增加面食",
        "希望增加少油少盐的窗口",
        "建议公布每周菜谱",
        "能否增加外带餐盒",
        "希望早餐多一些南方口味",
        "建议增加自助称重窗口",
    ),
}
MEETING_COMMENTS: dict[str, tuple[str, ...]] = {
    "pos": (
        "茶水续得及时",
        "会场布置整洁",
        "签到引导清楚",
        "会务人员服务周到",
        "音响效果好",
        "茶歇点心可口",
        "会议材料准备齐全",
        "会场温度适宜",
    ),
    "mid": ("会场有点闷", "投影有点暗，后排看不清", "座位略显拥挤", "茶歇品种可以再丰富些", "签到排队稍久"),
    "neg": (
        "会场空调太冷",
        "麦克风有杂音",
        "茶水不够热",
        "指示牌不清楚，找不到会场",
        "停车位不够",
        "会议材料缺页",
    ),
    "idea": ("建议提前发送会议议程", "希望提供无线网络", "建议会场准备充电插座", "建议增加会场指引标识"),
}
BUT = "，就是"
AND = "，"
URGE = "，希望尽快改进"

# handling history: action → details to pick from
CANTEEN_DETAILS = {
    Status.acknowledged: ("已受理，感谢您的反馈", "已受理，已转厨房负责人"),
    Status.rectifying: (
        "已通知后厨调整口味",
        "已要求窗口加快打菜速度",
        "已加强餐具清洗消毒",
        "已与供应商沟通，加强进货查验",
    ),
    Status.resolved: ("整改完成，欢迎继续监督", "已调整，欢迎再次品尝"),
    Status.closed: ("已办结",),
}
MEETING_DETAILS = {
    Status.acknowledged: ("已受理，感谢您的反馈", "已受理，已转会务组"),
    Status.rectifying: ("已通知会务组调整", "已联系物业检修设备"),
    Status.resolved: ("已整改，下次会议落实", "已调整完毕"),
    Status.closed: ("已办结",),
}
UNHANDLED_SHARE = 0.03  # feedback nobody got round to
OPEN_ENDED_SHARE = 0.08  # handled feedback left resolved (or rectifying) rather than closed

# --- the manager's day in the demo (issue 13): who handles, the return visit, a staff roster -------------

CANTEEN_ACTORS = ("李经理", "王主管", "陈值班")
MEETING_ACTORS = ("赵主任", "孙会务")
OWNERS = ("王师傅", "刘班长", "张采购", "周保洁")
REVISIT_ANSWER_SHARE = 0.7  # of the diners asked, how many answer
REVISIT_WEIGHTS = (0.6, 0.28, 0.12)  # 满意, 基本满意, 不满意
# staff who can try 绑定 工号 姓名 in the simulator (and a duty manager for alerts)
ROSTER = (
    ("10001", "张伟", "办公室", ""),
    ("10002", "王芳", "财务处", ""),
    ("10003", "李娜", "人事处", "archivist"),
    ("10004", "刘洋", "后勤服务中心", "canteen_manager,on_duty"),
    ("10005", "陈静", "机关事务局领导", "admin"),
)


def _merge(*pools: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for pool in pools:
        for kind, words in pool.items():
            out[kind] = out.get(kind, ()) + words
    return out


# a canteen comment's pool by meal: the meal's own words and the canteen's
POOLS = {
    Meal.breakfast: _merge(BREAKFAST_COMMENTS, CANTEEN_COMMENTS),
    Meal.lunch: _merge(MAIN_MEAL_COMMENTS, CANTEEN_COMMENTS),
    Meal.dinner: _merge(MAIN_MEAL_COMMENTS, CANTEEN_COMMENTS),
}
