"""Meetings (会务): registration, the temporary parametric QR code from WeChat (and how long it lives), and a
printable poster."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont
from sqlmodel import Session

from core.settings import Settings
from core.wechat_api import NotConfigured, official_account
from feedback.forms import form_url
from feedback.models import Meeting

log = logging.getLogger("houqin.meetings")

POSTER_CHAT = "微信扫一扫\n在公众号里评价"
POSTER_FORM = "扫码直接填写评价表\n无需关注公众号"
POSTER_ASCII = ("Scan in WeChat\nto chat your feedback", "Scan to fill in\nthe feedback form")
TEMP_QR_MAX_SECONDS = 30 * 24 * 3600  # WeChat's limit for temporary parametric QR codes
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)


def add_meeting(
    session: Session,
    *,
    code: str,
    title: str,
    starts_on: date,
    ends_on: date,
    venue: str = "",
    organiser: str = "",
) -> Meeting:
    """Register a meeting; its code is stored upper-case and must be letters, digits, - or _."""
    code = code.strip().upper()
    if not code or not all(c.isascii() and (c.isalnum() or c in "-_") for c in code) or len(code) > 40:
        raise ValueError("meeting code must be 1–40 letters, digits, - or _")
    if ends_on < starts_on:
        raise ValueError("a meeting cannot end before it starts")
    meeting = Meeting(
        code=code, title=title, starts_on=starts_on, ends_on=ends_on, venue=venue, organiser=organiser
    )
    session.add(meeting)
    session.flush()
    return meeting


def qr_lifetime(meeting: Meeting, *, now: datetime, settings: Settings) -> int:
    """Seconds the temporary QR should live: until the day after the meeting, at most WeChat's 30 days."""
    end_local = datetime.combine(meeting.ends_on + timedelta(days=1), time(23, 59), tzinfo=settings.tz)
    seconds = int((end_local - now).total_seconds())
    return max(60, min(seconds, TEMP_QR_MAX_SECONDS))


@dataclass(frozen=True)
class Qr:
    """What WeChat answered for a meeting's QR (no ticket: the simulator's link, stored nowhere)."""

    url: str
    ticket: str | None = None
    expires_at: datetime | None = None


def request_qr(meeting: Meeting, *, settings: Settings, now: datetime | None = None) -> Qr:
    """Ask WeChat for a temporary parametric QR (scene `meeting:<code>`), over HTTP and touching no session.

    Without Official Account credentials (development), the QR points at the simulator instead.
    """
    now = now or datetime.now(UTC)
    scene = f"meeting:{meeting.code}"
    try:
        client = official_account(settings)
    except NotConfigured:
        log.info("no Official Account credentials: meeting QR points at the simulator")
        return Qr(f"/simulator?scene={scene}")
    lifetime = qr_lifetime(meeting, now=now, settings=settings)
    res = client.qrcode.create(
        {
            "expire_seconds": lifetime,
            "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}},
        }
    )
    expires = now + timedelta(seconds=int(res.get("expire_seconds", lifetime)))
    return Qr(str(res["url"]), ticket=str(res["ticket"]), expires_at=expires)


def store_qr(session: Session, *, meeting: Meeting, qr: Qr) -> str:
    """Keep WeChat's QR on the meeting (the simulator's link is not kept); return what the QR encodes."""
    if qr.ticket is not None:
        meeting.qr_ticket, meeting.qr_url, meeting.qr_expires_at = qr.ticket, qr.url, qr.expires_at
        session.add(meeting)
        session.flush()
    return qr.url


def issue_qr(session: Session, *, meeting: Meeting, settings: Settings, now: datetime | None = None) -> str:
    """Ask WeChat for the meeting's QR and keep it on the meeting; return what the QR encodes."""
    return store_qr(session, meeting=meeting, qr=request_qr(meeting, settings=settings, now=now))


def cjk_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A font with Chinese glyphs if the machine has one (fonts-wqy-microhei or fonts-noto-cjk)."""
    for path in FONT_CANDIDATES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    log.warning("no CJK font found (install fonts-wqy-microhei): poster text will be ASCII only")
    return ImageFont.load_default(size)


def qr_image(content: str, side: int) -> Image.Image:
    """A QR code of `content` as a side×side RGB image (scaled by whole modules: sharp edges to scan)."""
    qr = qrcode.QRCode(box_size=1, border=4)
    qr.add_data(content)
    qr.make(fit=True)
    small = qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    scale = max(1, side // small.width)
    sharp = small.resize((small.width * scale, small.height * scale), Image.Resampling.NEAREST)
    out = Image.new("RGB", (side, side), "white")
    out.paste(sharp, ((side - sharp.width) // 2, (side - sharp.height) // 2))
    return out


def render_poster(*, meeting: Meeting, qr_content: str, settings: Settings, path: str | None = None) -> Path:
    """Draw the poster (A4 at 150 dpi) as a PNG: title, dates, venue, the chat QR (`qr_content`) beside the
    form's QR (/h5/feedback?scene=meeting:<code>), each captioned, and how to give feedback by text."""
    out = Path(path) if path else settings.data_dir / "posters" / f"meeting-{meeting.code}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    width, height = 1240, 1754
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    has_cjk = any(Path(p).exists() for p in FONT_CANDIDATES)
    title_font, body_font = cjk_font(64), cjk_font(40)
    title = meeting.title if has_cjk else meeting.code
    draw.text((width // 2, 160), title, fill="black", font=title_font, anchor="mm")
    dates = f"{meeting.starts_on:%Y.%m.%d} – {meeting.ends_on:%Y.%m.%d}"
    draw.text(
        (width // 2, 260),
        dates + (f"  {meeting.venue}" if has_cjk and meeting.venue else ""),
        fill="#333",
        font=body_font,
        anchor="mm",
    )
    # two codes side by side: the chat QR (the Official Account's parametric code) and the form's
    # (/h5/feedback, for guests who do not follow the account); each with its caption under it
    codes = [(qr_content, POSTER_CHAT), (form_url(settings, f"meeting:{meeting.code}"), POSTER_FORM)]
    side = 520
    for i, (content, caption) in enumerate(codes):
        left = width // 2 - 30 - side if i == 0 else width // 2 + 30
        img.paste(qr_image(content, side), (left, 360))
        words = caption if has_cjk else POSTER_ASCII[i]
        for j, line in enumerate(words.split("\n")):
            draw.text((left + side // 2, 920 + j * 56), line, fill="black", font=body_font, anchor="mm")
    line = f"或在公众号发送：会议 {meeting.code}" if has_cjk else f"or send: 会议 {meeting.code}"
    draw.text((width // 2, 1140), line, fill="#333", font=body_font, anchor="mm")
    draw.text(
        (width // 2, height - 120),
        settings.fonds_name if has_cjk else settings.fonds_code,
        fill="#666",
        font=body_font,
        anchor="mm",
    )
    img.save(out, "PNG")
    return out
