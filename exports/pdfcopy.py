"""The fixed-layout (版式) copy of a volume: PDF/A-2b rendered from the same records as the workbook
(GB/T 18894-2016 keeps electronic records in fixed-layout formats).

`exports.pdfwriter` writes the pages one by one (the CJK font embedded as subsets through reportlab's
TrueType subsetting, with ToUnicode maps so the Chinese text can be extracted); pikepdf then adds the XMP metadata with `pdfaid:part=2`, `pdfaid:conformance=B` and an sRGB
output intent. Same sheets in the same order as the workbook (案卷封面, 卷内目录, 卷内文件, 统计汇总, 卷内备考表,
封卷信息); every page carries the 档号, the sheet name and 「第 n 页」.

The font: HOUQIN_PDF_FONT, else the first of FONT_CANDIDATES found (`scripts/serve` installs
fonts-wqy-microhei when missing).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.settings import Settings
from exports import texts
from exports.book import cover_values, notes_values, seal_values
from exports.lines import ITEM_WIDTHS, PRINTED_V2, RECORDS
from exports.pdfwriter import PageWriter
from exports.records import canonical
from exports.sheets import Header, Stats, notes_summary
from exports.source import Item, catalogue_row

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
FONT = "HouqinCJK"
BODY = 9.5
HEAD = 10.0
TITLE = 16.0
LEAD = 1.3  # line height / font size
MARGIN = 30.0
PDF_PRODUCER = "houqin (reportlab, pikepdf)"


class PdfError(RuntimeError):
    """The PDF copy cannot be made (no CJK font); the message says what to install."""


def font_path(settings: Settings) -> str:
    """The CJK font file the PDF embeds."""
    for p in [settings.pdf_font, *FONT_CANDIDATES]:
        if p and os.path.isfile(p):
            return p
    raise PdfError(
        "没有可嵌入的中文字体：请安装 fonts-wqy-microhei（apt-get install fonts-wqy-microhei）或设置 HOUQIN_PDF_FONT"
        " / no CJK font to embed: install fonts-wqy-microhei or set HOUQIN_PDF_FONT"
    )


def _register(path: str) -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(
            TTFont(FONT, path, subfontIndex=0) if path.endswith(".ttc") else TTFont(FONT, path)
        )


@dataclass
class SealInfo:
    """What the 封卷信息 page prints (known once the workbook is written)."""

    content_sha256: str
    content_sm3: str


class _Widths(dict[str, float]):
    """Advance width of each character at size 1, looked up once per character."""

    def __init__(self, font: Any) -> None:
        super().__init__()
        self.font = font

    def __missing__(self, ch: str) -> float:
        w = self[ch] = self.font.stringWidth(ch, 1.0)
        return w


class _Doc:
    """Pages of tables with repeated header rows, wrapped cells, ruled grids and page numbers, each page
    written to the file as soon as it is full (`exports.pdfwriter`: memory stays flat)."""

    def __init__(self, path: Path, *, code: str, title: str) -> None:
        from reportlab.pdfbase import pdfmetrics

        font = pdfmetrics.getFont(FONT)
        self.out = PageWriter(str(path), font, title=title, author=code, creator=PDF_PRODUCER)
        self.code = code
        self.page = 0
        self._w = _Widths(font)
        self.y = 0.0
        self.sheet = ""
        self.size = (0.0, 0.0)
        self.ops: list[str] = []

    def text_width(self, text: str, size: float) -> float:
        """Width of a text on one line."""
        return sum(map(self._w.__getitem__, text)) * size

    def wrap(self, text: str, width: float, size: float) -> list[str]:
        """A text cut into lines no wider than `width` (a character never splits)."""
        limit = width / size
        w = self._w
        out: list[str] = []
        for para in text.split("\n"):
            if sum(map(w.__getitem__, para)) <= limit:  # most cells: one line, nothing to cut
                out.append(para)
                continue
            start = 0
            used = 0.0
            for i, ch in enumerate(para):
                cw = w[ch]
                if used + cw > limit and i > start:
                    out.append(para[start:i])
                    start, used = i, 0.0
                used += cw
            out.append(para[start:])
        return out

    def _flush(self) -> None:
        if self.page:
            self.out.page(self.size[0], self.size[1], "".join(self.ops))
            self.ops = []

    def centred(self, y: float, text: str, size: float) -> None:
        """One line of text centred on the page."""
        x = self.size[0] / 2 - self.text_width(text, size) / 2
        self.ops.append(f"BT 1 0 0 1 {x:.2f} {y:.2f} Tm {self.out.show(text, size)}ET\n")

    def new_page(self, sheet: str, *, landscape: bool) -> None:
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.pagesizes import landscape as land

        self._flush()
        self.page += 1
        self.sheet = sheet
        self.size = land(A4) if landscape else A4
        h = self.size[1]
        self.ops.append("0.5 w\n")
        self.centred(h - MARGIN + 8, texts.TITLED.format(code=self.code, sheet=sheet), HEAD)
        self.centred(MARGIN - 16, f"第 {self.page} 页", HEAD)
        self.y = h - MARGIN - 8

    def heading(self, text: str) -> None:
        self.y -= TITLE * LEAD
        self.centred(self.y, text, TITLE)
        self.y -= TITLE * 0.6

    def table(
        self,
        sheet: str,
        headers: Sequence[str],
        widths: Sequence[float],
        rows: Iterable[Sequence[Any]],
        *,
        landscape: bool,
        repeat: bool = True,
        first_page: bool = True,
    ) -> None:
        """Rows with ruled cells; a row taller than the rest of the page continues on the next."""
        if first_page:
            self.new_page(sheet, landscape=landscape)
        total = sum(widths)
        scale = (self.size[0] - 2 * MARGIN) / total
        cols = [w * scale for w in widths]
        inner = [cw - 4 for cw in cols]
        if headers:
            self._row(list(headers), cols, HEAD)
        wrap = self.wrap
        for row in rows:
            cells = [
                wrap(v if v.__class__ is str else canonical(v), cw, BODY)
                for v, cw in zip(row, inner, strict=True)
            ]
            while True:
                room = int((self.y - MARGIN) / (BODY * LEAD) - 0.5)
                need = max(len(c) for c in cells)
                if need <= room:
                    self._draw(cells, cols, BODY)
                    break
                if room >= 3:  # part of the row here, the rest on the next page
                    self._draw([c[:room] for c in cells], cols, BODY)
                    cells = [c[room:] for c in cells]
                self.new_page(sheet, landscape=landscape)
                if headers and repeat:
                    self._row(list(headers), cols, HEAD)

    def _row(self, values: list[str], cols: list[float], size: float) -> None:
        self._draw([self.wrap(v, cw - 4, size) for v, cw in zip(values, cols, strict=True)], cols, size)

    def _draw(self, cells: list[list[str]], cols: list[float], size: float) -> None:
        lines = max(1, *(len(x) for x in cells))
        lead = size * LEAD
        h = lines * lead + 4
        x = MARGIN
        top = self.y
        bottom = top - h
        ty = top - 2 - size
        show = self.out.show
        ops = self.ops
        for cell, cw in zip(cells, cols, strict=True):
            ops.append(f"{x:.2f} {bottom:.2f} {cw:.2f} {h:.2f} re S\n")
            if any(cell):
                ops.append(f"BT {lead:.2f} TL 1 0 0 1 {x + 2:.2f} {ty:.2f} Tm ")
                ops.append("T* ".join(show(ln, size) for ln in cell))
                ops.append("ET\n")
            x += cw
        self.y = bottom

    def save(self) -> None:
        """Write the last page and close the file."""
        self._flush()
        self.out.close()


def write_pdf(
    path: Path,
    *,
    header: Header,
    items: Callable[[], Iterable[Item]],
    settings: Settings,
    compiler_unit: str,
    seal: SealInfo,
    sanitised: int,
) -> int:
    """Render the volume's PDF (then made PDF/A-2b) at `path`; return its page count."""
    _register(font_path(settings))
    raw = path.with_name(path.name + ".raw")
    doc = _Doc(raw, code=header.archival_code, title=header.title)
    doc.new_page(texts.SHEET_COVER_V2, landscape=False)
    doc.heading(header.title)
    cover = cover_values(header, compiler_unit=compiler_unit)
    doc.table(texts.SHEET_COVER_V2, (), (16, 64), cover, landscape=False, first_page=False)
    doc.table(
        texts.SHEET_CATALOGUE,
        texts.CATALOGUE_HEADERS_V2[:7],
        (7, 17, 16, 56, 10, 6, 14),
        (
            [r[0], r[2], r[3], r[4], r[5], r[7], r[8]]
            for r in (catalogue_row(i, settings=settings) for i in items())
        ),
        landscape=True,
    )
    stats = Stats()
    make_record = RECORDS[header.line_version]

    def printed() -> Iterator[list[Any]]:
        for item in items():
            stats.add(item)
            yield make_record(item, settings=settings)[0][:PRINTED_V2]

    doc.table(
        texts.SHEET_ITEMS,
        texts.ITEM_HEADERS[:PRINTED_V2],
        ITEM_WIDTHS[header.line_version][:PRINTED_V2],
        printed(),
        landscape=True,
    )
    rows: list[list[Any]] = []
    for by, label in texts.STATS_BY.items():
        rows.append([label, *texts.STATS_HEADERS[1:]])
        rows += [Stats.row(k, stats.groups[by][k]) for k in sorted(stats.groups[by])]
    rows.append(Stats.row(texts.STATS_TOTALS, stats.total))
    doc.table(texts.SHEET_STATS, texts.STATS_HEADERS, (30, 10, 12, 10, 14), rows, landscape=False)
    summary = notes_summary(
        header, count=header.item_count, sanitised=sanitised, template=texts.NOTES_SUMMARY_V2
    )
    doc.table(texts.SHEET_NOTES_V2, (), (16, 64), notes_values(header, summary), landscape=False)
    seal_rows = seal_values(header, sha256=seal.content_sha256, sm3=seal.content_sm3)
    doc.table(texts.SHEET_SEAL, (), (16, 70), seal_rows, landscape=False)
    doc.save()
    try:
        make_pdfa(raw, path, title=header.title, code=header.archival_code)
    finally:
        raw.unlink(missing_ok=True)
    return doc.page


def make_pdfa(src: Path, dst: Path, *, title: str, code: str) -> None:
    """Copy `src` to `dst` as PDF/A-2b: XMP metadata (pdfaid part 2, conformance B) and an sRGB output intent."""
    import pikepdf
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    with pikepdf.open(src) as pdf:
        profile = pdf.make_stream(icc)
        profile.N = 3
        intent = pikepdf.Dictionary(
            Type=pikepdf.Name.OutputIntent,
            S=pikepdf.Name.GTS_PDFA1,
            OutputConditionIdentifier=pikepdf.String("sRGB IEC61966-2.1"),
            Info=pikepdf.String("sRGB IEC61966-2.1"),
            DestOutputProfile=profile,
        )
        pdf.Root.OutputIntents = pikepdf.Array([intent])
        with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
            meta["dc:title"] = title
            meta["dc:identifier"] = code
            meta["pdf:Producer"] = PDF_PRODUCER
            meta["pdfaid:part"] = "2"
            meta["pdfaid:conformance"] = "B"
        pdf.save(dst, fix_metadata_version=True, deterministic_id=True)
    with open(dst, "rb+") as fh:
        os.fsync(fh.fileno())
