"""Printable A4 sheets of per-table QR codes for the feedback form (`houqin site qr`), and the Official
Account menu that leads to it (`houqin menu push`)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import qrcode
from PIL import Image, ImageDraw, ImageFont

from core.settings import Settings
from core.wechat_api import official_account
from feedback.forms import form_url
from h5 import texts

DPI = 150
A4 = (1240, 1754)  # 210 × 297 mm at 150 dpi
COLUMNS, ROWS = 4, 5
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def parse_tables(spec: str) -> list[str]:
    """Table numbers from `1-40`, `1,3,5-8`; ValueError on anything else."""
    found: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            low, high = (int(x) for x in part.split("-", 1))
            if low < 1 or high < low or high - low > 500:
                raise ValueError(part)
            found.extend(str(n) for n in range(low, high + 1))
        elif part:
            found.append(str(int(part)))
    return list(dict.fromkeys(found))


def _font(size: int) -> Any:
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        return ImageFont.load_default(size)


def qr_sheets(
    *, settings: Settings, site_code: str, site_name: str, tables: list[str | None]
) -> list[Image.Image]:
    """A4 pages, 4 × 5 QR codes each (the form for that table), the table number under each code."""
    pages: list[Image.Image] = []
    cell_w, cell_h = (A4[0] - 120) // COLUMNS, (A4[1] - 200) // ROWS
    title, label = _font(40), _font(34)
    for start in range(0, len(tables), COLUMNS * ROWS):
        page = Image.new("RGB", A4, "white")
        draw = ImageDraw.Draw(page)
        draw.text((60, 50), f"{site_name} · 扫码评价", font=title, fill="black")
        for n, table in enumerate(tables[start : start + COLUMNS * ROWS]):
            scene = f"canteen:{site_code}:{table}" if table else f"canteen:{site_code}"
            code = qrcode.make(form_url(settings, scene), box_size=6, border=1).convert("RGB")
            size = min(cell_w, cell_h - 60) - 20
            code = code.resize((size, size), Image.Resampling.NEAREST)
            x = 60 + (n % COLUMNS) * cell_w + (cell_w - size) // 2
            y = 140 + (n // COLUMNS) * cell_h
            page.paste(code, (x, y))
            text = texts.TABLE.format(n=table) if table else site_name
            width = draw.textlength(text, font=label)
            draw.text((x + (size - width) / 2, y + size + 8), text, font=label, fill="black")
        pages.append(page)
    return pages


def save_sheets(pages: list[Image.Image], out: Path) -> None:
    """Write the pages as one PDF (several pages) or, for a .png name, one PNG per page."""
    if out.suffix.lower() == ".pdf":
        pages[0].save(out, format="PDF", resolution=DPI, save_all=True, append_images=pages[1:])
        return
    for n, page in enumerate(pages, 1):
        target = out if len(pages) == 1 else out.with_name(f"{out.stem}-{n}{out.suffix}")
        buffer = io.BytesIO()
        page.save(buffer, format="PNG", dpi=(DPI, DPI))
        target.write_bytes(buffer.getvalue())


def menu(settings: Settings) -> dict[str, Any]:
    """The Official Account menu: 评价 (the form), 我的反馈, 帮助 (the bot's help text)."""
    base = settings.public_url.rstrip("/")
    return {
        "button": [
            {"type": "view", "name": texts.MENU_FEEDBACK, "url": f"{base}/h5/feedback"},
            {"type": "view", "name": texts.MENU_MINE, "url": f"{base}/h5/mine"},
            {"type": "click", "name": texts.MENU_HELP, "key": "HELP"},
        ]
    }


def push_menu(settings: Settings) -> dict[str, Any]:
    """Create the menu through WeChat's menu API (HOUQIN_WECHAT_API_BASE); raises on an API error."""
    client = official_account(settings)
    return dict(client.menu.create(menu(settings)))
