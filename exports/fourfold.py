"""四性检测 (DA/T 70-2018): named checks under 真实性, 完整性, 可用性 and 安全性, at the three stages 归档 (at
seal), 移交与接收 (at receipt) and 长期保存 (at each fixity audit).

`exports.verify` sorts every problem it finds under one of the check codes below; this module adds the
checks of the files themselves (opens read-only, is the format it claims, no macros, formulas or external
links, not encrypted, PDF/A-2b metadata, a ClamAV scan when `clamscan` is installed, else 「未检测」) and
turns the lot into the report `houqin verify <档号> --report FILE.json` writes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STAGES = {"archive": "归档", "receipt": "移交与接收", "preserve": "长期保存"}
# code → (category, name)
CHECKS: dict[str, tuple[str, str]] = {
    "ZS-01": ("真实性", "电子文件摘要（SHA-256、SM3）与封卷记录、数据库一致"),
    "ZS-02": ("真实性", "封卷记录及封卷摘要有效"),
    "ZS-03": ("真实性", "内容摘要由数据库与电子文件复算一致"),
    "ZS-04": ("真实性", "本系列哈希链连续"),
    "ZS-05": ("真实性", "档号格式规范"),
    "WZ-01": ("完整性", "案卷包（BagIt）完整，外部标识为档号"),
    "WZ-02": ("完整性", "案卷元数据项齐全"),
    "WZ-03": ("完整性", "卷内顺序号连续，条目数相符"),
    "WZ-04": ("完整性", "文件目录与案卷一致"),
    "KY-01": ("可用性", "电子文件可以只读打开"),
    "KY-02": ("可用性", "文件格式与声明一致（XLSX、PDF/A-2b）"),
    "KY-03": ("可用性", "无宏、公式和外部链接"),
    "AQ-01": ("安全性", "病毒检测（ClamAV）"),
    "AQ-02": ("安全性", "无加密、无私有压缩"),
}
NOT_CHECKED = "未检测"
CODE_RE = re.compile(r"^[A-Z0-9]{1,10}-WS·\d{4}-(Y|D30|D10)-[A-Z]{2,6}-\d{4}$")
TEXT = {
    "no_clamav": "未检测：本机未安装 ClamAV（clamscan） / not checked: ClamAV is not installed",
    "virus": "病毒检测报告：{detail}",
    "code": "档号格式不符：{code}",
    "metadata": "元数据缺项：{fields}",
    "not_xlsx": "{name} 不是有效的 XLSX（ZIP）文件：{detail}",
    "macro": "{name} 含宏（{part}）",
    "formula": "{name} 含公式（{part}）",
    "external": "{name} 含外部链接（{part}）",
    "not_pdf": "{name} 不是有效的 PDF：{detail}",
    "not_pdfa": "{name} 缺少 PDF/A-2b 标识（pdfaid:part=2, conformance=B）",
    "pdf_encrypted": "{name} 已加密",
    "pdf_js": "{name} 含脚本（JavaScript）",
    "pdf_missing": "版式文件缺失：{name}",
}


@dataclass
class Checks:
    """Problems sorted by check code; `skipped` holds checks not done (with why)."""

    problems: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def add(self, code: str, texts: list[str] | str) -> None:
        """Add problems (none: the check passed) under a check code."""
        items = [texts] if isinstance(texts, str) else texts
        self.problems.setdefault(code, []).extend(items)

    def report(self, *, volume: str, stage: str) -> dict[str, Any]:
        """The 四性检测 report of one volume at one stage: every check with its result (docs/archival.md)."""
        checks = []
        for code, (category, name) in CHECKS.items():
            if code in self.skipped:
                result, detail = "not_checked", self.skipped[code]
            elif self.problems.get(code):
                result, detail = "fail", "\n".join(self.problems[code])
            else:
                result, detail = "pass", ""
            checks.append(
                {"code": code, "category": category, "name": name, "result": result, "detail": detail}
            )
        return {"volume": volume, "stage": STAGES.get(stage, stage), "checks": checks}

    def flat(self) -> list[str]:
        """Every problem, in check order."""
        return [p for code in CHECKS for p in self.problems.get(code, [])]


def xlsx_problems(path: Path) -> tuple[list[str], list[str], list[str]]:
    """(unreadable/format, macros-formulas-links, encrypted) problems of a workbook, read as a ZIP."""
    name = path.name
    fmt: list[str] = []
    content: list[str] = []
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
                fmt.append(
                    TEXT["not_xlsx"].format(name=name, detail="缺少 [Content_Types].xml / xl/workbook.xml")
                )
            for part in names:
                low = part.lower()
                if low.endswith("vbaproject.bin") or (low.endswith(".bin") and "vba" in low):
                    content.append(TEXT["macro"].format(name=name, part=part))
                elif low.startswith("xl/externallinks/"):
                    content.append(TEXT["external"].format(name=name, part=part))
                elif low.startswith("xl/worksheets/") and low.endswith(".xml"):
                    with z.open(part) as fh:
                        tail = b""
                        while chunk := fh.read(1 << 20):
                            if b"<f>" in tail + chunk or b"<f " in tail + chunk:
                                content.append(TEXT["formula"].format(name=name, part=part))
                                break
                            tail = chunk[-3:]
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        fmt.append(TEXT["not_xlsx"].format(name=name, detail=f"{type(exc).__name__}: {exc}"))
    return fmt, content, []


def pdf_problems(path: Path) -> tuple[list[str], list[str], list[str]]:
    """(unreadable/format, scripts, encrypted) problems of the PDF copy."""
    import pikepdf

    name = path.name
    if not path.is_file():
        return [TEXT["pdf_missing"].format(name=name)], [], []
    try:
        with pikepdf.open(path) as pdf:
            enc = [TEXT["pdf_encrypted"].format(name=name)] if pdf.is_encrypted else []
            meta = pdf.open_metadata()
            fmt = []
            if meta.get("pdfaid:part") != "2" or str(meta.get("pdfaid:conformance", "")).upper() != "B":
                fmt.append(TEXT["not_pdfa"].format(name=name))
            names = pdf.Root.get("/Names")
            js = [TEXT["pdf_js"].format(name=name)] if names is not None and "/JavaScript" in names else []
            return fmt, js, enc
    except Exception as exc:  # pikepdf raises its own errors for a damaged file: all are one problem
        return [TEXT["not_pdf"].format(name=name, detail=f"{type(exc).__name__}: {exc}")], [], []


def virus_scan(paths: list[Path]) -> tuple[str, list[str]]:
    """('pass'|'fail'|'not_checked', problems) of a ClamAV scan of the files."""
    exe = shutil.which("clamscan")
    if exe is None:
        return "not_checked", [TEXT["no_clamav"]]
    run = subprocess.run(
        [exe, "--no-summary", "--infected", *map(str, paths)], capture_output=True, text=True
    )
    if run.returncode == 0:
        return "pass", []
    return "fail", [TEXT["virus"].format(detail=(run.stdout or run.stderr).strip()[:500])]


def file_checks(checks: Checks, *, files: list[Path], pdf: Path | None) -> None:
    """Format, content, encryption and virus checks of a volume's files."""
    for f in files:
        if f.suffix == ".xlsx" and f.is_file():
            fmt, content, enc = xlsx_problems(f)
            checks.add("KY-02", fmt)
            checks.add("KY-03", content)
            checks.add("AQ-02", enc)
    if pdf is not None:
        fmt, content, enc = pdf_problems(pdf)
        checks.add("KY-02", fmt)
        checks.add("KY-03", content)
        checks.add("AQ-02", enc)
    result, problems = virus_scan(
        [f for f in files if f.is_file()] + ([pdf] if pdf and pdf.is_file() else [])
    )
    if result == "not_checked":
        checks.skipped["AQ-01"] = problems[0]
    else:
        checks.add("AQ-01", problems)


def metadata_problems(vol: Any) -> list[str]:
    """Volume metadata items that must be present (GB/T 9705 cover and notes)."""
    needed = {
        "title": "案卷题名",
        "archival_code": "档号",
        "retention": "保管期限",
        "date_from": "起始日期",
        "date_to": "截止日期",
        "compiler": "立卷人",
        "seal": "封卷摘要",
    }
    if getattr(vol, "line_version", 1) >= 2:
        needed["compiler_unit"] = "立卷单位"
    missing = [label for attr, label in needed.items() if not getattr(vol, attr, None)]
    return [TEXT["metadata"].format(fields="、".join(missing))] if missing else []


def code_problems(code: str) -> list[str]:
    """The 档号 against its pattern (docs/archival.md)."""
    return [] if CODE_RE.match(code) else [TEXT["code"].format(code=code)]
