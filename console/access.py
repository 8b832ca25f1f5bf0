"""`/access/<token>`: what an approved lookup's signed link opens — the volume's catalogue (or the one
item) as a page readable on a phone, and the sealed workbook as a download. Expired or tampered links get
a clear refusal; every attempt is logged and every served access counted in the register."""

from __future__ import annotations

from html import escape
from itertools import islice
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlmodel import Session

from core.db import unit_of_work
from core.settings import Settings
from exports.service import transfer_dir
from exports.source import iter_items, record
from lookups import service
from lookups import texts as t

router = APIRouter(tags=["access"])
PAGE_ITEMS = 500

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


@router.get("/access/{token}", response_class=HTMLResponse, summary="Open an approved lookup")
def open_access(token: str, request: Request) -> Response:
    """The volume's catalogue, or the requested item in full."""
    settings: Settings = request.app.state.settings
    with unit_of_work(request.app.state.engine) as session:
        result = service.open_link(session, token=token, settings=settings, client=_client(request))
        if result.outcome != "served" or result.request is None or result.volume is None:
            return _page(
                _WHY[result.outcome], f"<p>{_WHY[result.outcome]}。{t.LINK_HELP}</p>", _STATUS[result.outcome]
            )
        req, vol = result.request, result.volume
        rows = _rows(session, settings, vol.id, req.archival_code)  # type: ignore[arg-type]
    head = (
        f"<p>{escape(vol.title)}<br><span class='muted'>登记号 {escape(req.register_no)} · 查阅人 "
        f"{escape(req.requester_name)} · 第 {req.accesses} 次查阅</span></p>"
        f"<p><a href='/access/{escape(token)}/download'>下载封卷电子文件（.xlsx）</a></p>"
    )
    return _page(t.PAGE_TITLE.format(code=req.archival_code), head + rows)


def _rows(session: Session, settings: Settings, volume_id: int, code: str) -> str:
    header = "<tr><th>条目</th><th>时间</th><th>食堂/会议</th><th>评分</th><th>内容</th><th>处理</th></tr>"
    out = []
    for item in islice(iter_items(session, volume_id=volume_id), None if "/" in code else PAGE_ITEMS):
        if "/" in code and item.item_code != code:
            continue
        v, _ = record(item, settings=settings)
        out.append(
            f"<tr><td>{escape(str(v[1]))}</td><td>{escape(str(v[2]))}</td><td>{escape(str(v[5]))}</td>"
            f"<td>{escape(str(v[7]))}</td><td>{escape(str(v[8]))}</td><td>{escape(str(v[10]))} {escape(str(v[11]))}</td></tr>"
        )
    return f"<table>{header}{''.join(out)}</table>"


@router.get("/access/{token}/download", summary="Download the sealed workbook of an approved lookup")
def download(token: str, request: Request) -> Response:
    """The sealed .xlsx from the volume's bag."""
    settings: Settings = request.app.state.settings
    with unit_of_work(request.app.state.engine) as session:
        result = service.open_link(session, token=token, settings=settings, client=_client(request))
        if result.outcome != "served" or result.volume is None:
            return _page(
                _WHY[result.outcome], f"<p>{_WHY[result.outcome]}。{t.LINK_HELP}</p>", _STATUS[result.outcome]
            )
        code = result.volume.archival_code
    path: Path = transfer_dir(settings, code) / "data" / "电子档案" / f"{code}.xlsx"
    return FileResponse(
        path,
        filename=f"{code}.xlsx",
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
