"""Every reply the bot sends, in Simplified Chinese, kept together so it can be read and reviewed at once."""

from __future__ import annotations

HELP = (
    "您好，这里是后勤服务（{fonds}）。可以这样使用：\n"
    "· 评价用餐：发送「反馈 午餐 4 红烧肉偏咸」，或先发「反馈」再打分\n"
    "· 打分：1–5、4分、★★★★、四星，或 满意／比较满意／一般／不满意／很不满意\n"
    "· 会议评价：扫会议二维码，或发送「会议 会议代码」\n"
    "· 照片、语音：10分钟内发送，会附在刚才的反馈上\n"
    "· 查档（限本单位职工）：查档 关键词；查阅 档号 目的；我的查阅"
)
WELCOME = "感谢关注！\n" + HELP

ASK_SCORE_CANTEEN = "请为{where}{meal}打分（1–5分，5分最满意），也可以直接写下意见，10分钟内有效。"
ASK_SCORE_MEETING = "欢迎参加「{title}」。请为本次会务服务打分（1–5分），也可以直接写下意见，10分钟内有效。"
UNKNOWN_SITE = "未找到该食堂（{code}），请联系后勤服务人员。您仍可直接发送「反馈 评分 意见」。"
UNKNOWN_MEETING = "未找到会议「{code}」，请核对会议代码。发送「帮助」查看用法。"

RECORDED_SCORED = (
    "感谢您的评价！已记录{what}：{stars}（{score}分）。\n编号：{ref}\n10分钟内可继续发送文字或照片补充。"
)
RECORDED_UNSCORED = "已记录您的意见，编号：{ref}。\n回复 1–5 可为{what}打分（5分最满意），10分钟内有效。"
ADDED_SCORE = "已为反馈 {ref} 补充评分：{stars}（{score}分），谢谢！"
ADDED_COMMENT = "已补充到反馈 {ref}，谢谢！"
ADDED_PHOTO = "照片已收到，附在反馈 {ref} 上。"
ADDED_VOICE = "语音已收到，附在反馈 {ref} 上。"
NEW_PHOTO = "照片已收到，已作为意见记录，编号：{ref}。\n回复 1–5 可补充评分，或发送文字说明。"
NEW_VOICE = "语音已收到，已作为意见记录，编号：{ref}。\n回复 1–5 可补充评分，或发送文字说明。"

UNSUPPORTED = "暂不支持这类消息。评价请发送文字、照片或语音；发送「帮助」查看用法。"
FAILED = "系统繁忙，您的消息已收到并保存，我们会尽快处理。"

WHAT_CANTEEN = "本次用餐"
WHAT_MEETING = "本次会务服务"


def stars(score: int) -> str:
    """★★★★☆ for a score of 4."""
    return "★" * score + "☆" * (5 - score)
