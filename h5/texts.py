"""Every sentence the feedback page (h5/) shows a diner, in Simplified Chinese."""

from __future__ import annotations

from feedback.forms import FormProblem
from feedback.photos import PhotoProblem

TITLE = "服务评价"
MINE_TITLE = "我的反馈"
STARS = {1: "很不满意", 2: "不满意", 3: "一般", 4: "满意", 5: "很满意"}
OVERALL = "总体评价"
CANTEEN = "食堂"
MEETING = "会议"
TABLE = "{n}号桌"
CHOOSE_SITE = "请选择您就餐的食堂"
UNKNOWN_PLACE = "没有找到这个二维码对应的食堂或会议，请重新扫码。"

ERRORS_FORM = {
    FormProblem.diner_rate: "您提交得太频繁了，请稍后再试。",
    FormProblem.place_rate: "此处评价人数较多，请一分钟后再提交。",
    FormProblem.key_taken: "这份表单已经提交过，请重新打开页面。",
    FormProblem.too_many_photos: "每条反馈最多三张照片。",
    FormProblem.unknown_place: UNKNOWN_PLACE,
}
ERRORS_PHOTO = {
    PhotoProblem.too_large: "第{n}张照片超过10MB，请换一张或截图后再传。",
    PhotoProblem.not_image: "第{n}张文件不是照片（只接受 JPEG、PNG、WebP、HEIC 格式的图片）。",
    PhotoProblem.too_many: "每条反馈最多三张照片。",
}
BODY_TOO_LARGE = "上传内容太大：每张照片不超过10MB，最多三张。本次提交未保存。"
NO_SCORE = "请先为总体评价选择1到5颗星。"
BAD_SCORE = "评分只能是1到5颗星。"
BAD_FORM = "表单不完整，请重新打开页面再提交。"
NO_IDENTITY = "页面已过期，请重新扫码或重新打开页面。"
COMMENT_TOO_LONG = "文字意见请控制在500字以内。"
NOTHING_STORED = "本次提交未保存，请修改后重新提交。"
NOT_FOUND = "没有找到这条反馈。"
BUSY = "系统繁忙，请稍后再点一次提交（同一份表单不会重复记录）。"
REVISIT_THANKS = "感谢您的回访评价。"
REVISIT_BAD = "请选择 满意、基本满意 或 不满意。"
STATUS = {
    "new": "待受理",
    "acknowledged": "已受理",
    "rectifying": "整改中",
    "resolved": "已整改",
    "closed": "已办结",
}
REVISIT = {1: "满意", 2: "基本满意", 3: "不满意"}
OUTCOME = {
    "created": "感谢您的评价！",
    "edited": "已更新您刚才的评价。",
    "replayed": "这份评价已经提交过了，无需重复提交。",
}
MENU_FEEDBACK = "评价"
MENU_MINE = "我的反馈"
MENU_HELP = "帮助"


def photo_error(problem: PhotoProblem, index: int) -> str:
    """The diner's sentence for a refused photo (1-based in the text)."""
    return ERRORS_PHOTO[problem].format(n=index + 1)
