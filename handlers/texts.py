"""Every reply of the diner handlers (and the holding reply of a failed message), in Simplified Chinese, kept
together so it can be read and reviewed at once. The staff commands' replies (绑定, 查档, 查阅, 审批) are in
lookups/texts.py. 「{minutes}分钟」 is HOUQIN_DIALOG_MINUTES, how long a feedback window stays open: every
text that names it is formatted with `minutes=`."""

from __future__ import annotations

ASK_SCORE_CANTEEN = "请为{where}{meal}打分（1–5分，5分最满意），也可以直接写下意见，{minutes}分钟内有效。"
ASK_SCORE_MEETING = (
    "欢迎参加「{title}」。请为本次会务服务打分（1–5分），也可以直接写下意见，{minutes}分钟内有效。"
)
UNKNOWN_SITE = "未找到该食堂（{code}），请联系后勤服务人员。您仍可直接发送「反馈 评分 意见」。"
UNKNOWN_MEETING = "未找到会议「{code}」，请核对会议代码。发送「帮助」查看用法。"

UNSUPPORTED = "暂不支持这类消息。评价请发送文字、照片或语音；发送「帮助」查看用法。"
FAILED = "系统繁忙，您的消息已收到并保存，我们会尽快处理。"


# --- the conversation a diner trusts (issue 12): replies by situation, the place, chatter, menus ---------
# Every reply that records something names it: 「已记录：机关一食堂·午餐（11月26日）4分」. docs/conversation.md
# lists every situation with these exact texts for review.

HELP = (
    "您好，这里是{fonds}后勤服务。可以这样用：\n"
    "· 评价用餐：发送「反馈 午餐 4 红烧肉偏咸」，或先发「反馈」再打分\n"
    "· 打分：1–5、4分、★★★★，或 满意／一般／不满意\n"
    "· 会议评价：扫会议二维码，或发送「会议 会议代码」\n"
    "· 照片、语音：{minutes}分钟内发送，会附在刚才的反馈上\n"
    "· 本单位职工：发送「绑定」了解如何绑定后查档"
)
STAFF_HELP = (
    "职工查档：\n"
    "· 查档 关键词（如：查档 2026年 米饭）\n"
    "· 更多：下一页\n"
    "· 查阅 档号 目的，或 查阅 序号 目的（上次查档的第几条）\n"
    "· 我的查阅：申请进度\n"
    "· 审批 申请号 同意／驳回（档案员）\n"
    "· 利用 申请号 1／2／3 [说明]：查阅后反馈利用效果（1 解决问题 2 部分解决 3 未解决）"
)
WELCOME_LINE = "感谢关注！这里是{fonds}后勤服务：评价食堂用餐和会务服务，每条意见都有专人处理、回复。"
WELCOME = WELCOME_LINE + "\n" + HELP.split("\n", 1)[1]

# what was recorded: 机关一食堂·午餐（11月26日）4分 / 「年度工作会议」会务服务 4分
WHAT_MEAL = "{place}{meal}（{month}月{day}日）"
WHAT_MEETING_NAMED = "「{title}」会务服务"
WHAT_SCORE = "{what}{score}分"
WHAT_COMMENT = "{what}的意见"

RECORDED = "已记录：{what}\n编号：{ref}"
GOOD = "谢谢您的肯定！\n" + RECORDED
NEUTRAL = "谢谢您的评价，我们会继续改进。\n" + RECORDED + "\n有具体意见，{minutes}分钟内直接发来即可。"
COMPLAINT = (
    "很抱歉这次让您不满意。\n" + RECORDED + "\n{owner}会跟进处理，结果会在这里回复您。"
    "{minutes}分钟内可继续补充文字或照片。"
)
UNSCORED = "谢谢您的意见！\n" + RECORDED + "\n回复 1–5 可补充评分（5分最满意），{minutes}分钟内有效。"
FOOD_SAFETY = "非常抱歉！涉及食品安全，{alerted}。\n" + RECORDED + "\n{phone}{doctor}如有异物，请拍照发来。"
FOOD_SAFETY_ALERTED = "已立即通知值班经理"
FOOD_SAFETY_FLAGGED = "已标为紧急，{owner}会优先处理"
FOOD_SAFETY_PHONE = "值班电话：{phone}，需要当面处理请直接拨打。\n"
FOOD_SAFETY_DOCTOR = "如身体不适，请尽快就医，并保留剩余饭菜和就医凭证，便于查明原因。\n"
OWNER_CANTEEN = "食堂负责人"
OWNER_MEETING = "会务负责人"

ADDED = "已补充到{what}的反馈（{ref}），谢谢！"
PHOTO_ADDED = "照片已收到，附在{what}的反馈（{ref}）上。"
VOICE_ADDED = "语音已收到，附在{what}的反馈（{ref}）上。"
PHOTO_NEW = "照片已收到。\n" + RECORDED + "\n回复 1–5 可补充评分，或发送文字说明。"
VOICE_NEW = "语音已收到。\n" + RECORDED + "\n回复 1–5 可补充评分，或发送文字说明。"

# where it was: asked once, when no QR gave the place and none is remembered
PLACE_ASK = "请问是在哪个食堂？回复序号：\n{choices}"
PLACE_CHOICE = "{n}. {name}"
PLACE_SET = "好的，是{name}。\n" + RECORDED
PLACE_SET_ASK_SCORE = "好的，是{name}。请为{meal}打分（1–5分，5分最满意），也可以直接写下意见。"
PLACE_OUT_OF_RANGE = "请回复 1–{n} 之间的序号，或直接写下意见。"

# a second score in the same window
REPLACE_ASK = "您刚才已为{what}打了{old}分，要改为{new}分吗？\n回复「是」改为{new}分，回复「否」保留{old}分。"
REPLACE_KEPT = "好的，保留{old}分。\n已记录：{what}\n编号：{ref}"

# chatter: answered politely, never added to a comment
CHATTER_THANKS = "不客气！有新的意见随时发来。"
CHATTER_ACK = "好的。还想补充，直接发文字或照片即可。"
CHATTER_ACK_IDLE = "好的。评价用餐请发「反馈」，发「帮助」看用法。"
CHATTER_EMOJI = "收到～要评价的话，回复 1–5 打分或直接写下意见。"
CHATTER_TIME = "好的，不着急。用餐后回复 1–5 打分或写下意见即可。"
CHATTER_DECIMAL = "评分请用 1–5 的整数，例如 4。"
