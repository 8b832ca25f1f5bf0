"""`/access/<token>`: what an approved lookup's signed link opens — the volume's catalogue (or the one
item) as a page readable on a phone, and the sealed workbook as a download. Expired or tampered links get
a clear refusal; every attempt is logged and every served access counted in the register. An item
approval shows and gives that item alone, as an extract whose digest checks against the seal."""

from __future__ import annotations

from html import escape
from itertools import islice
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlmodel import Session

from core.clock import to_local
from core.db import unit_of_work
from core.settings import Settings
from exports.plan import transfer_dir
from exports.source import iter_items, record
from exports.texts import DETAIL_HEADERS
from lookups import links
from lookups import texts as t
from lookups.extract import Extract, extract_workbook, item_extract
from lookups.models import LookupRequest

router = APIRouter(tags=["access"])
PAGE_ITEMS = 500
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# the 明细 columns the catalogue page shows, then 处理 (status and reply in one cell)
_SHOWN = ("条目标识", "反馈时间", "食堂/餐次或会议", "评分", "反馈内容")
_STATUS_COLUMN, _REPLY_COLUMN = "处理状态", "处理回复"
_STATUS = {"expired": 410, "tampered": 403, "revoked": 403}
_WHY = {"expired": t.LINK_EXPIRED, "tampered": t.LINK_INVALID, "revoked": t.LINK_REVOKED}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>body{{font-family:'PingFang SC','Microsoft YaHei',sans-serif;"
        "margin:16px;line-height:1.5}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;"
        "padding:4px;font-size:14px;vertical-align:top}th{background:#f3f3f3}.muted{color:#777}</style></head>"
        f"<body><h2>{escape(title)}</h2>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status)


def _client(request: Request) -> str:
    return f"{request.client.host if request.client else ''} {request.headers.get('user-agent', '')[:120]}"


def _until(settings: Settings, req: LookupRequest) -> str:
    return (
        to_local(req.access_expires_at, settings.tz).strftime("%Y-%m-%d %H:%M")
        if req.access_expires_at
        else ""
    )


@router.get("/access/{token}", response_class=HTMLResponse, summary="Open an approved lookup")
def open_access(token: str, request: Request) -> Response:
    """The volume's catalogue, or the one requested item with its canonical line and digest."""
    settings: Settings = request.app.state.settings
    with unit_of_work(request.app.state.engine) as session:
        result = links.open_link(session, token=token, settings=settings, client=_client(request))
        if result.outcome != "served" or result.request is None or result.volume is None:
            return _refused(result.outcome)
        req, vol = result.request, result.volume
        item = "/" in req.archival_code
        if item:
            extract = item_extract(
                session,
                settings=settings,
                volume_id=vol.id,  # type: ignore[arg-type]
                item_code=req.archival_code,
            )
            rows = _item(extract) if extract else ""
        else:
            rows = _rows(session, settings, vol.id, req.archival_code)  # type: ignore[arg-type]
    department = f"（{req.department}）" if req.department else ""
    who = t.ACCESS_FOR.format(
        name=req.requester_name, department=department, no=req.register_no, expires=_until(settings, req)
    )
    head = (
        f"<p>{escape(vol.title)}<br><span class='muted'>登记号 {escape(req.register_no)} · 查阅人 "
        f"{escape(req.requester_name)} · 第 {req.accesses} 次查阅</span></p>"
        f"<p class='who'><b>{escape(who)}</b></p>"
        + (f"<p class='muted'>{t.ACCESS_ITEM_ONLY}</p>" if item else "")
        + f"<p><a href='/access/{escape(token)}/download'>"
        f"{t.DOWNLOAD_ITEM if item else t.DOWNLOAD_VOLUME}</a></p>"
    )
    return _page(t.PAGE_TITLE.format(code=req.archival_code), head + rows)


def _refused(outcome: str) -> HTMLResponse:
    return _page(_WHY[outcome], f"<p>{_WHY[outcome]}。{t.LINK_HELP}</p>", _STATUS[outcome])


def _item(extract: Extract) -> str:
    cells = "".join(
        f"<tr><th>{escape(h)}</th><td>{escape(str(v))}</td></tr>"
        for h, v in zip(extract.headers, extract.values, strict=False)
    )
    return (
        f"<table>{cells}<tr><th>{t.EXTRACT_LINE}</th><td><code>{escape(extract.line)}</code></td></tr>"
        f"<tr><th>{extract.headers[-1]}</th><td><code>{extract.sha256}</code></td></tr></table>"
        f"<p class='muted'>{t.EXTRACT_CHECK}</p>"
    )


def _rows(session: Session, settings: Settings, volume_id: int, code: str) -> str:
    header = "<tr><th>档号</th><th>时间</th><th>食堂/会议</th><th>评分</th><th>内容</th><th>处理</th></tr>"
    out = []
    for item in islice(iter_items(session, volume_id=volume_id), PAGE_ITEMS):
        values, _ = record(item, settings=settings)
        row = dict(zip(DETAIL_HEADERS, values, strict=False))  # the 明细 row by its column names
        cells = [str(row[name]) for name in _SHOWN]
        cells.append(f"{row[_STATUS_COLUMN]} {row[_REPLY_COLUMN]}")
        out.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table>{header}{''.join(out)}</table>"


@router.get("/access/{token}/download", summary="Download what an approved lookup gives")
def download(token: str, request: Request) -> Response:
    """An item approval: the item's extract, marked with requester and request number. A volume approval:
    the sealed .xlsx unchanged (so its digest still checks), named with the request number and requester."""
    settings: Settings = request.app.state.settings
    with unit_of_work(request.app.state.engine) as session:
        result = links.open_link(session, token=token, settings=settings, client=_client(request))
        if result.outcome != "served" or result.volume is None or result.request is None:
            return _refused(result.outcome)
        req, vol = result.request, result.volume
        code = vol.archival_code
        mark = f"{req.register_no}-{req.requester_name}"
        if "/" in req.archival_code:
            extract = item_extract(
                session,
                settings=settings,
                volume_id=vol.id,  # type: ignore[arg-type]
                item_code=req.archival_code,
            )
            if extract is None:
                return _refused("revoked")
            body = extract_workbook(extract, req=req, expires=_until(settings, req), volume_title=vol.title)
            name = f"{req.archival_code.replace('/', '-')}-摘录-{mark}.xlsx"
            return Response(body, media_type=XLSX, headers={"content-disposition": _attachment(name)})
    path: Path = transfer_dir(settings, code) / "data" / "电子档案" / f"{code}.xlsx"
    return FileResponse(path, filename=f"{code}-{mark}.xlsx", media_type=XLSX)


def _attachment(name: str) -> str:
    return f"attachment; filename*=utf-8''{quote(name)}"
