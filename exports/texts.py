"""Every Chinese text a bound volume carries (sheet names, headers, labels), kept together for review."""

from __future__ import annotations

SHEET_COVER = "封面"
SHEET_CATALOGUE = "卷内目录"
SHEET_DETAIL = "明细"
SHEET_STATS = "统计汇总"
SHEET_NOTES = "备考表"

CATALOGUE_HEADERS = ("序号", "档号", "文号", "责任者", "题名", "日期", "密级", "页数/条目数", "备注")
DETAIL_HEADERS = (
    "条目序号",
    "条目标识",
    "反馈时间",
    "渠道",
    "反馈人",
    "食堂/餐次或会议",
    "类别",
    "评分",
    "反馈内容",
    "附件",
    "处理状态",
    "处理回复",
    "回复人",
    "回复时间",
    "条目SHA-256",
)

CATEGORY = {"canteen": "后勤服务反馈·机关食堂", "meeting": "后勤服务反馈·会务接待"}
TITLE = {
    "canteen": "{fonds}{year}年{month}月机关食堂就餐反馈",
    "meeting": "{fonds}{year}年{month}月会务接待服务反馈",
}
PART = "（第{part}卷）"
RETENTION = {"Y": "永久", "D30": "30年", "D10": "10年"}
COVER_LABELS = (
    "全宗名称",
    "类目名称",
    "案卷题名",
    "起止日期",
    "保管期限",
    "密级",
    "条目数",
    "档号",
    "立卷单位",
    "立卷时间",
)
ITEM_TITLE_CANTEEN = "{where}{meal}就餐评价{score}：{gist}"
ITEM_TITLE_MEETING = "会议「{meeting}」服务评价{score}：{gist}"
SCORE_PART = "（{score}分）"
NO_COMMENT = "（无文字意见）"
RESPONSIBLE_DEFAULT = "后勤服务中心"
ATTACHMENTS = "照片{images}张，语音{voices}条"
ATTACHMENT_MISSING = "（未下载）"

STATS_TITLE = "统计汇总（{title}）"
STATS_HEADERS = ("分组", "条目数", "评分条目数", "平均分", "满意率(4–5分)")
STATS_BY = {"site": "按食堂/会议", "meal": "按餐次", "week": "按周", "topic": "按类别"}
STATS_TOTALS = "合计"
STATS_RESPONSE = ("已回复条目", "回复率", "中位处理时长（小时）")
UNCLASSIFIED = "未分类"
NO_SITE = "未指明食堂"

NOTES_TITLE = "备考表"
NOTES_LABELS = (
    "本卷情况说明",
    "立卷人",
    "检查人",
    "立卷时间",
    "条目范围",
    "内容摘要SHA-256",
    "内容摘要SM3",
    "上一卷档号",
    "上一卷封卷摘要",
    "生成程序",
)
NOTES_SUMMARY = "本卷收录{period_text}{what}{count}条，按条目排列，条目序号{first}至{last}。"
NOTES_OPEN = "编制时仍在处理中的反馈{n}条未入卷（{refs}），办结后编入补充卷。"
NOTES_NO_OPEN = "编制时本期无未办结反馈。"
NOTES_SANITISED = "经技术处理的条目{n}处，见下表；原始内容保存在业务数据库中。"
NOTES_NONE_SANITISED = "所有条目内容按原文收录，未作处理。"
NOTES_CHECKER = "（接收时由档案人员签署）"
NOTES_NO_PREV = "（无，本卷为首卷）"
NOTES_TABLE = ("条目标识", "处理情况")
SANITISED_CONTROL = "删除了{n}个控制字符"
SANITISED_TRUNCATED = "内容过长，由{n}字截断为{limit}字"
SANITISED_FORMULA = "以“{c}”开头，按文本收录（不作公式）"
FOOTER = "第 &P 页 共 &N 页"
WHAT = {"canteen": "机关食堂就餐反馈", "meeting": "会务接待服务反馈"}
PERIOD_TEXT = "{year}年{month}月"

# --- version 2 volumes (issue 14): GB/T 9705-2008 案卷 (docs/archival.md) -----------------------------
SHEET_COVER_V2 = "案卷封面"
SHEET_ITEMS = "卷内文件"
SHEET_NOTES_V2 = "卷内备考表"
SHEET_SEAL = "封卷信息"
SHEET_ORDER_V2 = (SHEET_COVER_V2, SHEET_CATALOGUE, SHEET_ITEMS, SHEET_STATS, SHEET_NOTES_V2, SHEET_SEAL)
CATALOGUE_HEADERS_V2 = ("顺序号", "文号", "责任者", "题名", "日期", "页数", "备注", "条目标识", "密级")
CATALOGUE_PRINTED_V2 = 7
ITEM_HEADERS = (
    "顺序号",
    "反馈时间",
    "反馈人",
    "食堂/餐次或会议",
    "评分",
    "反馈内容",
    "处理回复",
    "整改情况",
    "办结情况",
    "回访结果",
    "条目标识",
    "渠道",
    "类别",
    "附件",
    "处理状态",
    "条目SHA-256",
)
COVER_LABELS_V2 = (
    "全宗名称",
    "类目名称",
    "案卷题名",
    "起止日期",
    "保管期限",
    "密级",
    "卷内文件数",
    "档号",
    "立卷单位",
)
NOTES_LABELS_V2 = ("本卷情况说明", "立卷人", "检查人", "立卷时间")
SEAL_LABELS = (
    "档号",
    "条目范围",
    "内容摘要SHA-256",
    "内容摘要SM3",
    "上一卷档号",
    "上一卷封卷摘要",
    "规范行格式",
    "生成程序",
)
H_REPLY = "{at} {actor}：{text}"
H_RECT_KEYS = ("措施", "责任人", "期限", "完成情况")
H_RECT = "整改（{at} {actor}）措施：{措施}；责任人：{责任人}；期限：{期限}；完成情况：{完成情况}"
H_RESOLVED = "{at} 由{actor}确认整改完成"
H_CLOSED = "{at} 由{actor}办结"
REVISIT = {"1": "满意", "2": "基本满意", "3": "不满意"}
TITLED = "{code}　{sheet}"  # a sheet's page header: 档号 and sheet name
CONTINUED = "（续）"
GENERATOR_NOTE = "生成程序：{generator}（仅记录生成工具，不是责任者）"
NOTES_SUMMARY_V2 = "本卷收录{period_text}{what}{count}件，按时间排列，卷内顺序号{first}至{last}。"
