"""Chinese text of lookups: bot replies, notices and the register workbook, kept together for review."""

from __future__ import annotations

BIND_OK = "绑定成功：{name}（{department}）。现在可以发送「查档 关键词」查询档案。"
BIND_UNKNOWN = "职工名册中没有工号 {staff_no} 与姓名 {name} 的组合，请核对后重试，或联系档案室。"
BIND_TAKEN = "该工号已绑定其他微信号。如需更换，请联系档案室。"
BIND_ALREADY = "您已绑定为 {name}（{department}）。"

SEARCH_USAGE = "查档格式：查档 关键词，可加年份、月份、餐次或食堂，例如：查档 2026年10月 红烧肉"
SEARCH_NONE = "没有找到与「{query}」相关的已归档卷内文件。"
SEARCH_HEAD = "「{query}」共找到 {total} 条（第 {first}–{last} 条）："
# beyond search.service.TOTAL_CAP matches: a lower bound
SEARCH_HEAD_MANY = "「{query}」找到超过 {total} 条（第 {first}–{last} 条）："
SEARCH_HIT = "{n}. {code}\n   {title}（{date}）"
SEARCH_MORE = "回复「更多」查看下一页；查阅原件请发送：查阅 档号 目的"
SEARCH_END = "已是最后一页。查阅原件请发送：查阅 档号 目的"
SEARCH_VOLUMES = "相关案卷："
MORE_NOTHING = "没有可继续的查档结果，请先发送「查档 关键词」。"

REQUEST_USAGE = "查阅格式：查阅 档号 目的，例如：查阅 J001-WS·2026-D10-CYF-0001 整改复核"
REQUEST_UNKNOWN = "档号 {code} 不存在或尚未封卷，请核对。"
REQUEST_CLASSIFIED = "该案卷标有密级（{level}），不能通过微信办理查阅，请持单位介绍信到档案室现场办理。"
ITEM_TITLE = "{title} 顺序号{seq}"  # a request for one 卷内文件 of a volume (GB/T 9705: 档号/顺序号)
REQUEST_OK = "已登记查阅申请 {no}：{code}\n目的：{purpose}\n请等待档案员审批，结果会通过本号通知您。"
MINE_NONE = "您还没有查阅申请。"
MINE_HEAD = "您的查阅申请："
MINE_ROW = "{no} {code} {status}{extra}"
STATUS = {"pending": "待审批", "approved": "已同意", "rejected": "已驳回"}
EXPIRES = "（有效至 {at}）"
EXPIRED = "（已过期）"

DECIDE_USAGE = "审批格式：审批 申请号 同意|驳回 [理由]，例如：审批 CY2026-0001 同意"
DECIDE_FORBIDDEN = "只有档案员可以审批查阅申请。"
DECIDE_UNKNOWN = "没有申请号为 {no} 的查阅申请。"
DECIDE_DONE_ALREADY = "申请 {no} 已于 {at} 由 {who} 审批（{status}），不能重复审批。"
DECIDE_OK = "已{status}查阅申请 {no}，已通知申请人。"
NOTICE_APPROVED = "您的查阅申请 {no}（{code}）已同意。\n请在 {expires} 前打开：{link}"
NOTICE_REJECTED = "您的查阅申请 {no}（{code}）未获同意。理由：{reason}"
NO_REASON = "未说明"

LINK_EXPIRED = "链接已过期"
LINK_INVALID = "链接无效"
LINK_REVOKED = "该查阅未获批准或已失效"
LINK_HELP = "请在微信中重新发送「查阅 档号 目的」申请。"
PAGE_TITLE = "查阅：{code}"

REGISTER_SHEET = "查阅登记簿"
REGISTER_TITLE = "{fonds}{year}年档案查阅登记簿"
REGISTER_HEADERS = (
    "登记号",
    "登记时间",
    "渠道",
    "查阅人",
    "部门",
    "查阅目的",
    "利用方式",
    "档号",
    "题名",
    "审批结果",
    "审批人",
    "审批时间",
    "利用条件/理由",
    "有效期至",
    "查阅次数",
    "利用效果",
    "说明",
)
# the printed register (the yearly export): the same facts in 12 columns, so one row fits A4 landscape at
# ≥ 9 pt; related values share a cell, one per line, and a header prints each 「/」 part on its own line
# (lookups/registerbook.py)
REGISTER_PRINT_HEADERS = (
    "登记号",
    "登记时间",
    "查阅人/部门",
    "查阅目的",
    "利用方式/渠道",
    "档号",
    "题名",
    "审批结果/审批人/审批时间",
    "条件或理由/有效期至",
    "查阅次数",
    "利用效果",
    "说明",
)
VALID_UNTIL = "有效期至\n{at}"
CHANNEL = {"mp": "公众号", "wecom": "企业微信", "console": "控制台"}
REGISTER_FOOTER = "第 &P 页 共 &N 页"  # Excel's page number and page count
# what verify_register finds (the CLI prints them)
REGISTER_GAP = "登记簿缺少第 {seq} 条记录（entry {seq} missing before {found}）"
REGISTER_CHAIN_BROKEN = "第 {seq} 条记录的前序摘要不符（chain broken at entry {seq}）"
REGISTER_ALTERED = "第 {seq} 条记录内容被改动（entry {seq} altered）"
REGISTER_REQUEST_DELETED = "查阅申请 {no} 在登记簿中有记录，但申请表中缺失（request {no} deleted）"
REGISTER_REQUEST_UNLOGGED = "查阅申请 {no} 没有登记簿记录（request {no} not in the register）"
REGISTER_REQUEST_EDITED = "查阅申请 {no} 与登记簿不一致：{fields}（request {no} edited）"

# --- the roster (职工名册) import: errors name the sheet row, in Chinese and English for the CLI
ROSTER_UNREADABLE = "无法读取职工名册 {file}：{error} / cannot read the roster"
ROSTER_MISSING = "第 1 行缺少列：{zh} / row 1 lacks columns {en}"
ROSTER_EMPTY = "第 {row} 行：工号和姓名不能为空 / row {row}: staff number and name are required"
ROSTER_DUPLICATE = "第 {row} 行：工号 {staff_no} 重复 / row {row}: duplicate staff number"
ROSTER_UNKNOWN_ROLE = "第 {row} 行：未知角色「{role}」（可用：档案员）/ row {row}: unknown role {role_repr}"
WECOM_DEPARTMENT = "部门{id}"  # a WeCom user whose department WeCom names only by its number

# --- binding that proves who you are (issue 11) --------------------------------------------------------
NOT_STAFF = (
    "查档、查阅仅限本单位职工。请向档案室或系统管理员领取绑定验证码，然后发送「绑定 工号 姓名 验证码」，"
    "例如：绑定 A0123 张三 K7M2Q9XP。企业微信用户无需绑定。"
)
BIND_USAGE = (
    "绑定格式：绑定 工号 姓名 验证码，例如：绑定 A0123 张三 K7M2Q9XP（验证码向档案室或系统管理员领取）"
)
BIND_BAD_CODE = "验证码不正确、已使用或已过期，请向档案室或系统管理员重新领取。"
BIND_LIMITED = "绑定尝试次数过多，请24小时后再试，或联系档案室。"
BIND_CODE_NO_STAFF = "职工名册中没有工号 {staff_no}"
DECIDE_OWN = "不能审批自己提交的查阅申请，请由其他档案员审批。"
REVOKE_NOT_APPROVED = "申请 {no} 未获同意或链接已撤销，无需撤销。"
REVOKE_OK = "已撤销查阅申请 {no} 的查阅链接。"

# --- what an approval gives (issue 11): the access page and the item extract ----------------------------
ACCESS_FOR = "仅限 {name}{department} 依登记号 {no} 使用，有效至 {expires}；不得转发。"
ACCESS_ITEM_ONLY = "本次批准查阅的是一份卷内文件：只显示并提供该文件的摘录，不含本卷其他卷内文件。"
EXTRACT_SHEET = "卷内文件摘录"
EXTRACT_TITLE = "卷内文件摘录：{code}"
EXTRACT_FROM = "所属案卷"
EXTRACT_FOR = "查阅标记"
EXTRACT_MARK = "查阅人 {name} · 登记号 {no} · 有效至 {expires}"
EXTRACT_LINE = "规范行（canonical line）"
EXTRACT_CHECK_LABEL = "核验方法"
EXTRACT_CHECK = (
    "对「规范行」按 UTF-8 编码（不含换行）计算 SHA-256，应与上方「条目SHA-256」一致；"
    "该摘要也记在封卷电子文件中该卷内文件所在行的「条目SHA-256」列中，封卷文件本身由 houqin verify 档号 按封卷记录核验。"
)
DOWNLOAD_ITEM = "下载卷内文件摘录（.xlsx，含规范行与 SHA-256）"
DOWNLOAD_VOLUME = "下载封卷电子文件（.xlsx）"

# 查阅 序号 目的 (issue 12)
REQUEST_NO_HIT = "上次查档没有第{n}条结果。请先发送「查档 关键词」，再按序号查阅，例如：查阅 2 整改复核"

# --- 利用效果反馈 (issue 14; 机关档案管理规定): asked after the first use of an approved link -------------
EFFECT_LABELS = {1: "解决问题", 2: "部分解决", 3: "未解决"}
EFFECT_ASK = (
    "您查阅的 {code}「{title}」（申请号 {no}）对您的工作：1 解决问题 2 部分解决 3 未解决。"
    "请回复「利用 {no} 1」，可附说明。"
)
EFFECT_VIA_CS = "客服消息"
EFFECT_VIA_WECOM = "企业微信应用消息"
EFFECT_VIA_NONE = "无法送达：已超过48小时客服窗口"
EFFECT_USAGE = (
    "利用效果格式：利用 申请号 1|2|3 [说明]（1 解决问题 2 部分解决 3 未解决），"
    "例如：利用 CY2026-0001 1 已据此完成整改复核"
)
EFFECT_BAD_CHOICE = "利用效果请回复 1、2 或 3（1 解决问题 2 部分解决 3 未解决），例如：利用 {no} 1"
EFFECT_NOT_YOURS = "申请 {no} 不是您提交的：只有查阅人本人可以反馈利用效果。"
EFFECT_NOT_APPROVED = "申请 {no} 尚未获同意，没有可反馈的查阅。"
EFFECT_NOT_USED = "申请 {no} 的查阅链接还没有打开过：请先打开链接查阅，再反馈利用效果。"
EFFECT_OK = "已记录申请 {no} 的利用效果：{label}{note}。谢谢您的反馈！"
EFFECT_OK_NOTE = "（说明：{note}）"
EFFECT_WAITING = "待反馈"  # asked, not answered
