"""Every Chinese text a bound volume carries (sheet names, headers, labels) and every problem its checks
report, kept together for review."""

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

# the bag's 说明文件.txt
DESCRIPTION = (
    "档号：{code}\n"
    "题名：{title}\n"
    "条目数：{count}（{first} — {last}）\n"
    "电子文件：data/{file}（SHA-256 {file_sha256}，SM3 {file_sm3}）\n"
    "内容摘要：SHA-256 {content_sha256}，SM3 {content_sm3}\n"
    "上一卷：{prev}（封卷摘要 {prev_seal}）\n"
    "封卷摘要：{seal}（data/其他/封卷记录.json 去掉 seal 字段后的规范 JSON 的 SHA-256）\n"
    "目录：data/文件目录.xml；附件：data/附件/\n"
)
# the notice to archivists that a volume awaits receipt
# a volume whose 归档 四性检测 failed is not sealed (exports.seal): it stays in building and the next compile
# rebuilds and checks it again
SEAL_REFUSED = (
    "案卷 {code} 归档四性检测未通过，未封卷（仍为编制中，下次编制时重新生成并检测）：{problems}"
    " / not sealed: the archive-stage checks failed; the next compile rebuilds and checks it again"
)
SEALED_NOTICE = "新案卷待接收：{code}\n{title}\n条目数：{n}\n请在控制台或用 houqin receive 核验接收。"

# what fixity audits and receipts report: every problem and refusal, Chinese first, English after
PROBLEMS = {
    "bag_missing": "案卷包缺失 / bag missing: {path}",
    "bag_invalid": "案卷包校验不通过 / bag invalid: {detail}",
    "bag_id": "案卷包外部标识与档号不符 / bag External-Identifier is {found!r}, not the 档号",
    "file_missing": "电子文件缺失 / workbook missing: {path}",
    "pdf_missing": "版式文件缺失 / PDF copy missing: {path}",
    "pdf_db": "版式文件摘要与数据库不符（{algos}）：{name} / {name} {algos} differs from the database",
    "pdf_seal": "版式文件摘要与封卷记录不符（{algos}）：{name} / {name} {algos} differs from the seal record",
    "file_db": "电子文件摘要与数据库不符（{algos}）：{name} / workbook {name} {algos} differs from the database",
    "file_seal": "电子文件摘要与封卷记录不符（{algos}）：{name} / workbook {name} {algos} differs from the seal record",
    "file_unreadable": "电子文件无法读取 / workbook unreadable: {detail}",
    "catalogue_bad": "文件目录无法解析 / 文件目录.xml is not well-formed: {detail}",
    "catalogue": "文件目录与案卷不符：{what} / 文件目录.xml disagrees with the volume: {what}",
    "seal_missing": "封卷记录缺失或无法读取 / seal record missing or unreadable: {detail}",
    "seal_recompute": "封卷记录被改动：封卷摘要复算不符 / seal record altered: its seal does not recompute",
    "seal_db": "封卷摘要与数据库不符 / seal differs from the database",
    "seal_field": "封卷记录与数据库不符：{field} / seal record {field} differs from the database",
    "content_db": "由数据库复算的内容摘要不符（{algos}），入卷后数据被改动 / content {algos} recomputed from the database differs",
    "content_wb": "由电子文件读回的内容摘要不符（{algos}） / content {algos} read back from the workbook differs",
    "item_changed": "条目{item}的数据库内容与封存内容不符 / item {item} changed in the database since sealing",
    "item_digest": "条目{item}的条目SHA-256与其内容不符 / item {item}: row does not match its 条目SHA-256",
    "item_row": "电子文件第{n}条的条目序号或标识不符（{found}） / workbook row {n} numbered {found}",
    "more": "……另有{n}处同类问题 / … and {n} more like it",
    "seq": "条目序号不连续：应为{expected}，实为{found} / item numbers not contiguous: expected {expected}, found {found}",
    "item_code": "条目标识不符：{found}，应为{expected} / item code {found} should be {expected}",
    "item_count": "条目数不符：登记{expected}，{where}实有{found} / item count: recorded {expected}, {where_en} has {found}",
    "unbound": "条目{item}的反馈未绑定本卷 / item {item}: its feedback is not bound to this volume",
    "extra_bound": "另有{n}条反馈标为本卷但不在卷内 / {n} feedback rows point at this volume but are not items",
    "volume_gap": "件号缺失：{code}（案卷记录已不存在） / volume number missing: {code} (its row is gone)",
    "chain_broken": "链断裂：上一卷{prev}已不存在 / chain broken: previous volume {prev} no longer exists",
    "chain_order": "链不符：上一卷记为{found}，应为{expected} / chain mismatch: previous volume is {found}, expected {expected}",
    "chain_seal": "链不符：上一卷封卷摘要与{prev}的封卷摘要不符 / chain mismatch: prev_seal is not {prev}'s seal",
    "unknown": "无此档号：{code} / no volume {code}",
    "not_sealed": "案卷{code}尚未封卷 / volume {code} is not sealed yet",
    "already_received": "案卷{code}已于{at}由{by}接收，不能重复接收 / volume {code} was already received by {by} at {at}",
    "no_receiver": "请写明检查人（至多100字） / say who receives the volume (检查人, at most 100 characters)",
}
PROBLEM_WHERE = {"db": ("数据库", "the database"), "wb": ("电子文件", "the workbook")}

# the 四性检测 report sheet (exports.fourfold_report)
FOURFOLD_SHEET = "四性检测报告"
FOURFOLD_TITLE = "电子档案四性检测报告"
FOURFOLD_SUBTITLE = "档号：{code}　案卷题名：{title}　依据：DA/T 70-2018（各阶段最近一次检测结果）"
FOURFOLD_HEADERS = ("检测阶段", "编号", "类别", "检测项目", "结果", "说明")
FOURFOLD_STAGE = "{stage}\n{at}\n检测人：{agent}"
FOURFOLD_NOT_REACHED = "尚未进行本阶段检测"
