"""`/api/v1/volumes`: archivists' bound volumes (案卷) — the list, one with its digests and fixity history,
its 四性检测 report (JSON and a printable .xlsx), the sealed workbook, and validate-and-receive."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel

from console.auth import check_csrf
from console.deps import Archivist, CsrfHeader, DbSession, SettingsDep
from console.queries import archive
from console.schemas import FixityEventOut, Outcome, ReceiveOut, VolumeDetail, VolumeOut, VolumeState
from exports import fixity
from exports.models import ARCHIVED, Volume

router = APIRouter()

Category = Literal["真实性", "完整性", "可用性", "安全性"]
Result = Literal["pass", "fail", "not_checked"]


class FourfoldCheckOut(BaseModel):
    """One 四性 check's latest result at a stage."""

    code: str
    category: Category
    name: str
    result: Result
    detail: str


class FourfoldStageOut(BaseModel):
    """One stage of the 四性检测 (no checks: not reached yet)."""

    stage: Literal["archive", "receipt", "preserve"]
    label: str  # 归档, 移交与接收, 长期保存
    at: datetime | None
    agent: str
    checks: list[FourfoldCheckOut]


class FourfoldOut(BaseModel):
    """A volume's 四性检测 report (DA/T 70-2018): the latest result of each check at each stage."""

    volume: str
    stages: list[FourfoldStageOut]


def volume_out(v: Volume) -> VolumeOut:
    """A volume; its download link once it is sealed."""
    readable = v.status in ARCHIVED
    return VolumeOut(
        archival_code=v.archival_code,
        title=v.title,
        period=v.period,
        channel=v.channel,
        retention=v.retention,
        classification=v.classification,
        item_count=v.item_count,
        date_from=v.date_from,
        date_to=v.date_to,
        status=cast(VolumeState, v.status),
        sealed_at=v.sealed_at,
        received_at=v.received_at,
        received_by=v.received_by,
        download_url=f"/api/v1/volumes/{v.archival_code}/file" if readable else None,
        pdf_url=f"/api/v1/volumes/{v.archival_code}/pdf" if readable and v.pdf_sha256 else None,
    )


@router.get("/volumes", response_model=list[VolumeOut], tags=["archive"])
def list_volumes(db: DbSession, who: Archivist) -> list[VolumeOut]:
    """Every volume, newest first: status, item count, sealed and received (检查人)."""
    return [volume_out(v) for v in archive.volumes(db)]


@router.get("/volumes/{code}", response_model=VolumeDetail, tags=["archive"])
def get_volume(code: str, db: DbSession, who: Archivist) -> VolumeDetail:
    """One volume with its digests and fixity history."""
    v = archive.volume_by_code(db, code)
    events = [
        FixityEventOut(
            at=e.at, event_type=e.event_type, outcome=cast(Outcome, e.outcome), agent=e.agent, detail=e.detail
        )
        for e in archive.fixity_events(db, code)
    ]
    return VolumeDetail(
        **volume_out(v).model_dump(),
        compiler=v.compiler,
        content_sha256=v.content_sha256,
        content_sm3=v.content_sm3,
        file_sha256=v.file_sha256,
        file_sm3=v.file_sm3,
        seal=v.seal,
        prev_archival_code=v.prev_archival_code,
        events=events,
    )


@router.get(
    "/volumes/{code}/file",
    tags=["archive"],
    response_class=FileResponse,
    responses={200: {"content": {archive.XLSX: {}}}},
)
def volume_file(code: str, db: DbSession, who: Archivist, settings: SettingsDep) -> Response:
    """The sealed workbook (.xlsx)."""
    v = archive.volume_by_code(db, code)
    return FileResponse(
        archive.sealed_file(settings, v), filename=f"{v.archival_code}.xlsx", media_type=archive.XLSX
    )


@router.get(
    "/volumes/{code}/pdf",
    tags=["archive"],
    response_class=FileResponse,
    responses={200: {"content": {archive.PDF: {}}}},
)
def volume_pdf(code: str, db: DbSession, who: Archivist, settings: SettingsDep) -> Response:
    """The sealed fixed-layout copy (PDF/A-2b, 版式文件)."""
    v = archive.volume_by_code(db, code)
    return FileResponse(
        archive.sealed_pdf(settings, v), filename=f"{v.archival_code}.pdf", media_type=archive.PDF
    )


@router.get("/volumes/{code}/fourfold", response_model=FourfoldOut, tags=["archive"])
def volume_fourfold(code: str, db: DbSession, who: Archivist) -> FourfoldOut:
    """The volume's 四性检测 report: the latest result of every check at 归档, 移交与接收 and 长期保存."""
    v = archive.volume_by_code(db, code)
    return FourfoldOut(
        volume=v.archival_code,
        stages=[
            FourfoldStageOut(
                stage=cast(Literal["archive", "receipt", "preserve"], s.stage),
                label=s.label,
                at=s.at,
                agent=s.agent,
                checks=[FourfoldCheckOut.model_validate(c) for c in s.checks],
            )
            for s in archive.fourfold(db, v.archival_code)
        ],
    )


@router.get(
    "/volumes/{code}/fourfold.xlsx",
    tags=["archive"],
    response_class=Response,
    responses={200: {"content": {archive.XLSX: {}}}},
)
def volume_fourfold_sheet(code: str, db: DbSession, who: Archivist, settings: SettingsDep) -> Response:
    """The 四性检测 report as a printable sheet (.xlsx, A4 portrait)."""
    v = archive.volume_by_code(db, code)
    return archive.fourfold_download(db, settings, v)


@router.post(
    "/volumes/{code}/receive",
    response_model=ReceiveOut,
    tags=["archive"],
    responses={409: {"model": ReceiveOut, "description": "refused: already received, or checks failed"}},
)
def receive_volume(
    code: str,
    request: Request,
    db: DbSession,
    who: Archivist,
    settings: SettingsDep,
    x_csrf_token: CsrfHeader = None,
) -> Response:
    """Validate (bag, digests, numbering, chain) and, when all pass, record the receipt with you as 检查人."""
    check_csrf(who, x_csrf_token)
    try:
        report = archive.receive_volume(db, request.app.state.engine, settings, who, code)
        problems = [p for _, p in report.problems]
        received = report.received
    except fixity.FixityError as exc:
        problems, received = [str(exc)], False
    db.expire_all()
    out = ReceiveOut(
        archival_code=code,
        received=received,
        problems=problems,
        volume=volume_out(archive.volume_by_code(db, code)),
    )
    return JSONResponse(out.model_dump(mode="json"), status_code=200 if received else 409)
