"""Volumes as archivists take them in, shared by the console's pages and API: the list, one by 档号, its
fixity history, its 四性检测 report (on screen and as a printable sheet), the sealed workbook on disk, and
validate-and-receive with the signed-in archivist as 检查人."""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import quote

from fastapi import HTTPException, Response
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from console import texts
from console.auth import Principal
from core.clock import to_local
from core.settings import Settings
from exports import fixity, fourfold_report
from exports.models import ARCHIVED, FixityEvent, Volume
from exports.receive import receive

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF = "application/pdf"


def volumes(db: Session) -> list[Volume]:
    """Every volume, newest first."""
    return list(db.execute(select(Volume).order_by(col(Volume.id).desc())).scalars())


def volume_by_code(db: Session, code: str) -> Volume:
    """A volume by its 档号, or 404."""
    vol = db.execute(select(Volume).where(col(Volume.archival_code) == code)).scalar_one_or_none()
    if vol is None:
        raise HTTPException(404, texts.VOLUME_NOT_FOUND)
    return vol


def fixity_events(db: Session, code: str, *, checks: bool = True) -> list[FixityEvent]:
    """A volume's events, newest first; without its 四性 check events (`fourfold` has them) unless `checks`."""
    query = select(FixityEvent).where(col(FixityEvent.archival_code) == code)
    if not checks:
        query = query.where(~col(FixityEvent.event_type).startswith("4x:"))
    return list(db.execute(query.order_by(col(FixityEvent.id).desc())).scalars())


def fourfold(db: Session, code: str) -> list[fourfold_report.StageReport]:
    """The volume's 四性检测 report: the latest result of each check at 归档, 移交与接收 and 长期保存."""
    return fourfold_report.latest(db, code)


def attachment(name: str) -> dict[str, str]:
    """The header that makes a browser save the response as `name` (UTF-8 names, RFC 6266)."""
    return {"content-disposition": f"attachment; filename*=utf-8''{quote(name)}"}


def fourfold_download(db: Session, settings: Settings, vol: Volume) -> Response:
    """The 四性检测 report as a printable .xlsx (A4), saved by the browser as `<档号>-四性检测报告.xlsx`."""
    return Response(
        _fourfold_sheet(db, settings, vol),
        media_type=XLSX,
        headers=attachment(f"{vol.archival_code}-四性检测报告.xlsx"),
    )


def _fourfold_sheet(db: Session, settings: Settings, vol: Volume) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = fourfold_report.write_sheet(
            Path(tmp) / "report.xlsx",
            code=vol.archival_code,
            title=vol.title,
            stages=fourfold(db, vol.archival_code),
            when=lambda at: to_local(at, settings.tz).strftime("%Y-%m-%d %H:%M"),
        )
        return path.read_bytes()


def sealed_file(settings: Settings, vol: Volume) -> Path:
    """The sealed workbook on disk, or 404 (not sealed yet, or missing)."""
    if vol.status not in ARCHIVED:
        raise HTTPException(404, texts.VOLUME_NOT_SEALED)
    base = Path(settings.data_dir).resolve()
    path = (base / vol.file_name).resolve()
    if base not in path.parents or not path.is_file():
        raise HTTPException(404, texts.VOLUME_FILE_MISSING)
    return path


def sealed_pdf(settings: Settings, vol: Volume) -> Path:
    """The sealed fixed-layout copy (PDF/A-2b, 版式文件) beside the workbook, or 404 (none for this volume)."""
    workbook = sealed_file(settings, vol)
    path = workbook.with_suffix(".pdf")
    if not vol.pdf_sha256 or not path.is_file():
        raise HTTPException(404, texts.VOLUME_PDF_MISSING)
    return path


def receive_volume(
    db: Session, engine: Engine, settings: Settings, who: Principal, code: str
) -> fixity.Report:
    """Validate and receive a volume as the signed-in archivist (检查人 = display name); like `houqin receive`.

    Raises HTTPException 404 for an unknown 档号; fixity.FixityError (ReceiptRefused) when refused outright.
    """
    volume_by_code(db, code)
    db.commit()  # end the request's transaction: receive works in its own (SQLite has one writer)
    try:
        return receive(engine, settings=settings, archival_code=code, by=who.user.display_name)
    except fixity.UnknownVolume as exc:
        raise HTTPException(404, texts.VOLUME_NOT_FOUND) from exc
