"""Chinese text of the console that is not in a template: flashes, confirmations, error pages, the
inbox's quick tabs and the outbox's delivery states (issue 13's additions; older pages keep theirs inline)."""

from __future__ import annotations

# flashes after a reply: what really happened to it
REPLY_QUEUED = "回复已记录，已加入发送队列（客服消息）"
REPLY_QUEUED_TEMPLATE = "回复已记录；已超过48小时客服窗口，已作为模板消息加入发送队列"
REPLY_UNDELIVERABLE = "回复已记录，但已超过48小时客服窗口，无法送达反馈人"

# confirmations asked before a step that skips one
CONFIRM_CLOSE = "这条反馈还没有回复反馈人。确定不回复就办结吗？"
CONFIRM_CLOSE_YES = "确定办结"
CONFIRM_RESOLVE = "这条反馈还没有整改记录。确定不记录整改就标记为已整改吗？"
CONFIRM_RESOLVE_YES = "确定标记已整改"

# the inbox's quick tabs, in the order shown
TABS = {
    "": "全部",
    "pending": "待处理",
    "alerts_unacked": "预警未受理",
    "rectify_overdue": "整改逾期",
    "today": "今天",
}

TAB_HINTS = {
    "pending": "待处理：尚未办结的反馈（含已受理、整改中、已整改待办结）",
    "alerts_unacked": "预警未受理：低分（1–2分）或涉及食品安全、仍未受理的反馈",
    "rectify_overdue": "整改逾期：已过整改期限、仍未整改完成的反馈",
    "today": "今天：今天收到的反馈",
}

# an outbound message's delivery state (core.models.Outbox.status, and pending with an error)
DELIVERY = {
    "queued": "排队待发",
    "retrying": "发送失败，稍后重试",
    "sent": "已发送",
    "undeliverable": "无法送达",
    "not_queued": "未发送（超过48小时客服窗口）",
}

# error pages
ERROR_TITLES = {
    400: "请求有误",
    401: "请先登录",
    403: "无权访问",
    404: "页面不存在",
    405: "不支持的操作",
    409: "操作冲突",
    413: "内容过大",
    422: "输入有误",
    500: "服务器出错",
}
ERROR_HINTS = {
    403: "此页面或操作不属于您的角色；如需使用，请联系管理员。",
    404: "您要找的页面或反馈不存在，可能已被删除或地址有误。",
    422: "请检查填写的内容后重试。",
    500: "服务器处理时出错，已记录日志。请稍后重试；如仍出错，请联系系统管理员。",
}
ERROR_DEFAULT_HINT = "请返回上一页重试。"
INTERNAL_ERROR = "服务器内部错误"
INVALID_INPUT = "输入有误"
