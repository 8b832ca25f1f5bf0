"""The simulator: a chat page that plays a WeChat user, posting real signed (and encrypted) XML to `/wechat`.

It posts in-process, over ASGI, to the FastAPI `/wechat` route, which answers through the same
`handle_post` as WeChat's own calls (bot/intake.py), so what a newcomer sees here is exactly what a diner
would get. Off in production.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from pathlib import Path
from typing import Literal

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import Session, col

from bot import texts
from bot.wxcrypto import Cipher, signature
from core.settings import Settings
from core.xmlsafe import cdata, parse_xml
from feedback.models import Meeting, Site

router = APIRouter(prefix="/simulator", tags=["simulator"])
PAGE = (Path(__file__).parent / "templates" / "simulator.html").read_text(encoding="utf-8")
OFFICIAL_ACCOUNT = "gh_houqin_simulator"
MAX_PHOTO_BYTES = 2 * 1024 * 1024


class SimMessage(BaseModel):
    """What the person in the simulator did."""

    openid: str = Field(default="o_simulator_user", min_length=1, max_length=64)
    kind: Literal["text", "image", "voice", "scan", "subscribe", "click", "unsubscribe"] = "text"
    content: str = Field(default="", max_length=4000)
    scene: str = Field(default="", max_length=64)
    recognition: str = Field(default="", max_length=2000)
    photo: str = Field(default="", description="data URL or base64 of a photo")


def build_xml(msg: SimMessage, *, now: int, msg_id: int, pic_url: str = "", media_id: str = "") -> str:
    """The XML WeChat would send for this action."""
    head = (
        f"<ToUserName>{cdata(OFFICIAL_ACCOUNT)}</ToUserName><FromUserName>{cdata(msg.openid)}</FromUserName>"
        f"<CreateTime>{now}</CreateTime>"
    )
    if msg.kind == "text":
        body = f"<MsgType>{cdata('text')}</MsgType><Content>{cdata(msg.content)}</Content><MsgId>{msg_id}</MsgId>"
    elif msg.kind == "image":
        body = (
            f"<MsgType>{cdata('image')}</MsgType><PicUrl>{cdata(pic_url)}</PicUrl>"
            f"<MediaId>{cdata(media_id)}</MediaId><MsgId>{msg_id}</MsgId>"
        )
    elif msg.kind == "voice":
        body = (
            f"<MsgType>{cdata('voice')}</MsgType><MediaId>{cdata(media_id)}</MediaId><Format>{cdata('amr')}</Format>"
            f"<Recognition>{cdata(msg.recognition)}</Recognition><MsgId>{msg_id}</MsgId>"
        )
    elif msg.kind == "scan":
        body = f"<MsgType>{cdata('event')}</MsgType><Event>{cdata('SCAN')}</Event><EventKey>{cdata(msg.scene)}</EventKey>"
    elif msg.kind == "subscribe":
        key = f"<EventKey>{cdata('qrscene_' + msg.scene)}</EventKey>" if msg.scene else ""
        body = f"<MsgType>{cdata('event')}</MsgType><Event>{cdata('subscribe')}</Event>{key}"
    elif msg.kind == "click":
        body = f"<MsgType>{cdata('event')}</MsgType><Event>{cdata('CLICK')}</Event><EventKey>{cdata('FEEDBACK')}</EventKey>"
    else:
        body = f"<MsgType>{cdata('event')}</MsgType><Event>{cdata('unsubscribe')}</Event>"
    return f"<xml>{head}{body}</xml>"


def _save_photo(settings: Settings, data: str) -> tuple[str, str]:
    if "," in data and data.startswith("data:"):
        data = data.split(",", 1)[1]
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, texts.PHOTO_BAD) from None
    if len(raw) > MAX_PHOTO_BYTES:
        raise HTTPException(413, texts.PHOTO_TOO_LARGE)
    name = secrets.token_hex(8) + ".jpg"
    folder = settings.data_dir / "media" / "simulator"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(raw)
    return f"/simulator/media/{name}", f"sim-{name}"


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    """The chat page."""
    return HTMLResponse(PAGE)


@router.get("/scenes")
def scenes(request: Request) -> dict[str, list[dict[str, str]]]:
    """QR scenes a person can 'scan': every canteen and every meeting."""
    with Session(request.app.state.engine) as session:
        sites = (
            session.execute(select(Site).where(col(Site.active).is_(True)).order_by(col(Site.id)))
            .scalars()
            .all()
        )
        meetings = (
            session.execute(select(Meeting).order_by(col(Meeting.starts_on).desc()).limit(20)).scalars().all()
        )
    out = [
        {"scene": f"canteen:{s.code}", "label": f"{s.name}（餐桌码）"} for s in sites if s.kind == "canteen"
    ]
    out += [{"scene": f"meeting:{m.code}", "label": f"会议：{m.title}"} for m in meetings]
    return {"scenes": out}


@router.get("/media/{name}", include_in_schema=False)
def media(name: str, request: Request) -> FileResponse:
    """A photo sent from the simulator (plays WeChat's PicUrl)."""
    if not name.replace(".", "").isalnum():
        raise HTTPException(404)
    path = request.app.state.settings.data_dir / "media" / "simulator" / name
    if not path.is_file():
        raise HTTPException(404)
    return FileResponse(path)


@router.post("/send")
async def send(msg: SimMessage, request: Request) -> dict[str, object]:
    """Build the XML WeChat would send, sign (and encrypt) it, post it to /wechat, and decrypt the reply."""
    settings: Settings = request.app.state.settings
    now = int(time.time())
    pic_url = media_id = ""
    if msg.kind == "image":
        if not msg.photo:
            raise HTTPException(400, texts.PHOTO_MISSING)
        pic_url, media_id = _save_photo(settings, msg.photo)
    elif msg.kind == "voice":
        media_id = "sim-voice-" + secrets.token_hex(6)
    xml = build_xml(msg, now=now, msg_id=secrets.randbelow(2**62), pic_url=pic_url, media_id=media_id)
    nonce = secrets.token_hex(5)
    ts = str(now)
    params = {"timestamp": ts, "nonce": nonce, "signature": signature(settings.wechat_token, ts, nonce)}
    body = xml
    cipher = (
        Cipher(aes_key=settings.wechat_aes_key, app_id=settings.wechat_appid)
        if settings.wechat_aes_key
        else None
    )
    if cipher is not None:
        encrypt = cipher.encrypt(xml)
        params |= {
            "encrypt_type": "aes",
            "msg_signature": signature(settings.wechat_token, ts, nonce, encrypt),
        }
        body = f"<xml><ToUserName>{cdata(OFFICIAL_ACCOUNT)}</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>"
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://simulator") as client:
        resp = await client.post("/wechat", params=params, content=body.encode("utf-8"))
    reply_text = ""
    raw_reply = resp.text
    if resp.status_code == 200 and resp.text != "success":
        data = parse_xml(resp.content)
        if cipher is not None:
            raw_reply = cipher.decrypt(str(data["Encrypt"]))
            data = parse_xml(raw_reply)
        reply_text = str(data.get("Content", ""))
    return {
        "status": resp.status_code,
        "mode": "safe" if cipher else "plain",
        "request_xml": xml,
        "reply_xml": raw_reply,
        "reply": reply_text,
    }
