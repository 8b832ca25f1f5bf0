"""Chinese text of the console that is not in a template: role and state labels, flashes, refusals,
confirmations, error pages, the inbox's quick tabs and the outbox's delivery states."""

from __future__ import annotations

ROLE_NAMES = {
    "admin": "管理员",
    "canteen_manager": "食堂管理员",
    "reception_manager": "会务管理员",
    "archivist": "档案员",
}

# a feedback's history: what each event records
ACTION_NAMES = {
    "diner_added": "反馈人补充",
    "acknowledged": "受理",
    "replied": "回复",
    "rectification": "整改",
    "resolved": "已整改",
    "closed": "办结",
    "archived": "归档",
}
DINER = "反馈人"  # the actor shown for the diner's own additions
MESSAGE_KINDS = {"text": "文字", "image": "照片", "voice": "语音", "event": "事件"}
NO_SITE = "未指明食堂"

# feedback handling: flashes and refusals
NO_FEEDBACK = "没有这条反馈"
ARCHIVED = "已归档的反馈不能修改"
ACKNOWLEDGED = "已受理"
RECTIFICATION_RECORDED = "整改已记录"
RESOLVED = "已标记为已整改"
CLOSED = "已办结"
BULK_ONLY = "批量操作只支持受理和办结"
BULK_DONE = "已处理{n}条"

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

BAD_TAB = "没有这个分类"
BAD_CURSOR = "翻页位置无效，请回到第一页重新查看"

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

# meetings (reception managers)
MEETING_CODE_BAD = "会议代码须为1–40位字母、数字、- 或 _（如 HY2026A）"
MEETING_CODE_TAKEN = "会议代码 {code} 已被使用"
MEETING_TITLE_BAD = "请填写会议名称（至多200字）"
MEETING_DATES_BAD = "请填写有效的开始和结束日期，结束日期不能早于开始日期"
MEETING_TEXT_LONG = "会场和主办单位各至多200字"
MEETING_QR_FAILED = "向微信申请二维码失败，请稍后重试"
MEETING_NOT_FOUND = "没有这个会议"
MEETING_CREATED = "已登记会议 {code}"
MEETING_SAVED = "已保存会议 {code}"
MEETING_POSTER_FILE = "会议海报-{code}.png"
MEETING_REPORT_FILE = "会务评价报告-{code}.xlsx"

# volumes and lookups (archivists)
VOLUME_STATUS = {"building": "立卷中", "sealed": "已封卷", "received": "已接收"}
EVENT_TYPES = {"compile": "封卷", "fixity_check": "定期核验", "receipt": "接收核验"}
OUTCOMES = {"pass": "通过", "fail": "不通过"}
CHANNELS = {"canteen": "食堂", "meeting": "会务"}
RETENTION = {"Y": "永久", "D30": "30年", "D10": "10年"}
VOLUME_NOT_FOUND = "没有这个案卷"
VOLUME_NOT_SEALED = "案卷尚未封卷"
VOLUME_FILE_MISSING = "电子文件缺失"
VOLUME_PDF_MISSING = "此案卷没有版式副本（PDF）"
VOLUME_RECEIVED = "已接收，检查人：{name}"
REJECT_NEEDS_REASON = "驳回查阅申请请填写理由"
DECISION_MISSING = "请选择同意或驳回"
DECIDED = "已{done}查阅申请 {no}，已通知申请人"

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
