"""The access register (查阅登记簿): requests, decisions and accesses, each an append-only, hash-chained
entry; signed, expiring links; verification and export.

Every change goes through `_append`, which adds a RegisterEntry whose hash covers the previous entry's
hash and its own canonical JSON, and updates the LookupRequest projection in the same transaction.
`verify_register` recomputes the chain and replays it against the projection, so an edited or deleted
row in either table is found.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy import select, text
from sqlmodel import Session, col

from core.clock import to_local, utcnow
from core.counters import next_value
from core.db import is_postgres
from core.outbox import enqueue_to
from core.settings import Settings
from exports.models import Volume, VolumeItem, VolumeStatus
from exports.records import sanitise
from feedback.models import Person
from lookups import texts
from lookups.models import AccessLog, LookupRequest, RegisterEntry

log = logging.getLogger("houqin.lookups")
GENESIS = "0" * 64
READABLE = (VolumeStatus.sealed, VolumeStatus.received)


class LookupError_(Exception):
    """A lookup request or decision that cannot be made; the message is for the person."""


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _entry_hash(prev: str, seq: int, at: str, kind: str, register_no: str, payload: str) -> str:
    body = _canonical({"seq": seq, "at": at, "kind": kind, "register_no": register_no, "payload": payload})
    return hashlib.sha256((prev + body).encode("utf-8")).hexdigest()


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="microseconds") if dt else None


def _append(session: Session, *, kind: str, register_no: str, payload: dict[str, Any]) -> RegisterEntry:
    if is_postgres(session):
        # one appender at a time: the chain has a single head (SQLite's BEGIN IMMEDIATE already serialises)
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('houqin.register'))"))
    last = session.execute(
        select(RegisterEntry).order_by(col(RegisterEntry.seq).desc()).limit(1)
    ).scalar_one_or_none()
    seq = last.seq + 1 if last else 1
    prev = last.hash if last else GENESIS
    at = utcnow()
    body = _canonical(payload)
    entry = RegisterEntry(
        seq=seq,
        at=at,
        kind=kind,
        register_no=register_no,
        payload=body,
        prev_hash=prev,
        hash=_entry_hash(prev, seq, _iso(at) or "", kind, register_no, body),
    )
    session.add(entry)
    session.flush()
    return entry


def resolve_code(session: Session, *, code: str) -> tuple[Volume, str] | None:
    """A sealed volume's 档号 or an item's 档号/条目序号: (its volume, its title)."""
    if "/" in code:
        row = session.execute(
            select(VolumeItem, Volume)
            .join(Volume, col(Volume.id) == col(VolumeItem.volume_id))
            .where(col(VolumeItem.item_code) == code)
        ).first()
        if row is None or row[1].status not in READABLE:
            return None
        return row[1], f"{row[1].title} 第{row[0].seq}条"
    vol = session.execute(select(Volume).where(col(Volume.archival_code) == code)).scalar_one_or_none()
    if vol is None or vol.status not in READABLE:
        return None
    return vol, vol.title


def request_lookup(
    session: Session,
    *,
    requester: Person,
    code: str,
    purpose: str,
    channel: str,
    settings: Settings,
    use_mode: str = "在线查阅",
) -> LookupRequest:
    """Register a lookup request (查阅申请); refused for unknown or classified volumes."""
    found = resolve_code(session, code=code)
    if found is None:
        raise LookupError_(texts.REQUEST_UNKNOWN.format(code=code))
    volume, title = found
    if volume.classification:
        raise LookupError_(texts.REQUEST_CLASSIFIED.format(level=volume.classification))
    now = utcnow()
    year = to_local(now, settings.tz).year
    register_no = f"CY{year}-{next_value(session, name=f'CY{year}'):04d}"
    req = LookupRequest(
        register_no=register_no,
        requested_at=now,
        channel=channel,
        requester_id=requester.id,  # type: ignore[arg-type]
        requester_name=requester.name,
        department=requester.department,
        purpose=purpose[:500],
        use_mode=use_mode,
        archival_code=code,
        title=title[:300],
    )
    session.add(req)
    _append(session, kind="request", register_no=register_no, payload=_request_payload(req))
    return req


def _request_payload(req: LookupRequest) -> dict[str, Any]:
    return {
        "requested_at": _iso(req.requested_at),
        "channel": req.channel,
        "requester_id": req.requester_id,
        "requester_name": req.requester_name,
        "department": req.department,
        "purpose": req.purpose,
        "use_mode": req.use_mode,
        "archival_code": req.archival_code,
        "title": req.title,
    }


def decide(
    session: Session,
    *,
    register_no: str,
    approve: bool,
    approver: Person,
    reason: str,
    settings: Settings,
    approver_account: str | None = None,
) -> LookupRequest:
    """Approve (granting access for settings.access_days) or reject a pending request; never one's own.

    The register records the approver's name and account (`console:<username>`, else `person:<id>`)."""
    if "archivist" not in approver.roles.split(","):
        raise LookupError_(texts.DECIDE_FORBIDDEN)
    req = session.execute(
        select(LookupRequest).where(col(LookupRequest.register_no) == register_no)
    ).scalar_one_or_none()
    if req is None:
        raise LookupError_(texts.DECIDE_UNKNOWN.format(no=register_no))
    if req.decision != "pending":
        at = to_local(req.decided_at, settings.tz).strftime("%Y-%m-%d %H:%M") if req.decided_at else ""
        raise LookupError_(
            texts.DECIDE_DONE_ALREADY.format(
                no=register_no, at=at, who=req.approver, status=texts.STATUS[req.decision]
            )
        )
    if approver.id is not None and approver.id == req.requester_id:
        raise LookupError_(texts.DECIDE_OWN)
    now = utcnow()
    req.decision = "approved" if approve else "rejected"
    req.approver = approver.name
    req.approver_account = approver_account or (f"person:{approver.id}" if approver.id else None)
    req.decided_at = now
    req.conditions = reason[:500]
    req.access_expires_at = now + timedelta(days=settings.access_days) if approve else None
    session.add(req)
    _append(session, kind="decision", register_no=register_no, payload=_decision_payload(req))
    return req


def revoke(session: Session, *, register_no: str, by: str, now: datetime | None = None) -> LookupRequest:
    """Revoke an approved request's link at once (an archivist's act, entered in the register)."""
    req = session.execute(
        select(LookupRequest).where(col(LookupRequest.register_no) == register_no)
    ).scalar_one_or_none()
    if req is None:
        raise LookupError_(texts.DECIDE_UNKNOWN.format(no=register_no))
    if req.decision != "approved" or req.revoked_at is not None:
        raise LookupError_(texts.REVOKE_NOT_APPROVED.format(no=register_no))
    req.revoked_at, req.revoked_by = now or utcnow(), by[:120]
    session.add(req)
    _append(
        session,
        kind="revoke",
        register_no=register_no,
        payload={"revoked_at": _iso(req.revoked_at), "revoked_by": req.revoked_by},
    )
    return req


def _decision_payload(req: LookupRequest) -> dict[str, Any]:
    return {
        "decision": req.decision,
        "approver": req.approver,
        "approver_account": req.approver_account,
        "decided_at": _iso(req.decided_at),
        "conditions": req.conditions,
        "access_expires_at": _iso(req.access_expires_at),
    }


def notify_decision(session: Session, *, settings: Settings, req: LookupRequest) -> None:
    """Queue a decision to the requester through the outbox, on the channel they asked from (chat or console)."""
    requester = session.get(Person, req.requester_id)
    if requester is None:
        return
    if req.decision == "approved":
        expires = (
            to_local(req.access_expires_at, settings.tz).strftime("%Y-%m-%d %H:%M")
            if req.access_expires_at
            else ""
        )
        text = texts.NOTICE_APPROVED.format(
            no=req.register_no, code=req.archival_code, expires=expires, link=access_link(settings, req)
        )
    else:
        text = texts.NOTICE_REJECTED.format(
            no=req.register_no, code=req.archival_code, reason=req.conditions or texts.NO_REASON
        )
    # on the channel the request came from; else whichever identity the requester has
    enqueue_to(
        session,
        wecom_userid=requester.wecom_userid,
        openid=requester.openid,
        text=text,
        dedupe_key=f"decision:{req.register_no}",
        prefer="wecom" if req.channel == "wecom" else "mp",
    )


def my_requests(session: Session, *, requester_id: int, limit: int = 10) -> list[LookupRequest]:
    """A staff member's latest requests."""
    return list(
        session.execute(
            select(LookupRequest)
            .where(col(LookupRequest.requester_id) == requester_id)
            .order_by(col(LookupRequest.id).desc())
            .limit(limit)
        ).scalars()
    )


# --- signed links ---------------------------------------------------------------------------------------


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.link_secret, salt="houqin.access")


def access_link(settings: Settings, req: LookupRequest) -> str:
    """The signed link an approved request gets."""
    return f"{settings.public_url.rstrip('/')}/access/{_serializer(settings).dumps({'r': req.register_no})}"


@dataclass
class AccessResult:
    """What a signed link leads to: the request and its volume, or why not."""

    outcome: str  # served, expired, tampered, revoked
    request: LookupRequest | None = None
    volume: Volume | None = None


def open_link(
    session: Session, *, token: str, settings: Settings, client: str = "", count: bool = True
) -> AccessResult:
    """Check a signed link; log the attempt; on success count the access in the register."""
    now = utcnow()
    try:
        data = _serializer(settings).loads(token, max_age=settings.access_days * 86400 + 3600)
    except SignatureExpired:
        return _log(session, AccessResult("expired"), None, client)
    except BadSignature:
        # not logged in the database: anyone can send any path, and each would be a row without bound
        # (issue 11); only tokens signed with our secret reach the access log. The request log line stays.
        log.info("access link refused: bad signature")
        return AccessResult("tampered")
    req = session.execute(
        select(LookupRequest).where(col(LookupRequest.register_no) == data.get("r"))
    ).scalar_one_or_none()
    if req is None or req.decision != "approved" or req.access_expires_at is None or req.revoked_at:
        return _log(session, AccessResult("revoked"), data.get("r"), client)
    if req.access_expires_at <= now:
        return _log(session, AccessResult("expired", req), req.register_no, client)
    found = resolve_code(session, code=req.archival_code)
    if found is None:
        return _log(session, AccessResult("revoked", req), req.register_no, client)
    if count:
        req.accesses += 1
        session.add(req)
        _append(
            session,
            kind="access",
            register_no=req.register_no,
            payload={"n": req.accesses, "client": client[:200]},
        )
    return _log(session, AccessResult("served", req, found[0]), req.register_no, client)


def _log(session: Session, result: AccessResult, register_no: str | None, client: str) -> AccessResult:
    session.add(AccessLog(register_no=register_no, outcome=result.outcome, client=client[:200]))
    session.flush()
    return result


# --- verification and export ------------------------------------------------------------------------------


@dataclass
class RegisterReport:
    """What verify_register found."""

    entries: int = 0
    requests: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


_PROJECTED = (
    "requested_at",
    "channel",
    "requester_id",
    "requester_name",
    "department",
    "purpose",
    "use_mode",
    "archival_code",
    "title",
    "decision",
    "approver",
    "decided_at",
    "conditions",
    "access_expires_at",
    "approver_account",
    "revoked_at",
    "revoked_by",
)


def verify_register(session: Session) -> RegisterReport:
    """Recompute the register's hash chain and replay it against the lookup_request rows."""
    report = RegisterReport()
    prev = GENESIS
    expected_seq = 1
    replay: dict[str, dict[str, Any]] = {}
    accesses: dict[str, int] = {}
    for e in session.execute(select(RegisterEntry).order_by(col(RegisterEntry.seq))).scalars():
        report.entries += 1
        if e.seq != expected_seq:
            report.problems.append(
                f"登记簿缺少第 {expected_seq} 条记录（entry {expected_seq} missing before {e.seq}）"
            )
            expected_seq = e.seq
        if e.prev_hash != prev:
            report.problems.append(f"第 {e.seq} 条记录的前序摘要不符（chain broken at entry {e.seq}）")
        if _entry_hash(e.prev_hash, e.seq, _iso(e.at) or "", e.kind, e.register_no, e.payload) != e.hash:
            report.problems.append(f"第 {e.seq} 条记录内容被改动（entry {e.seq} altered）")
        prev = e.hash
        expected_seq += 1
        payload = json.loads(e.payload)
        if e.kind == "request":
            replay[e.register_no] = {
                **payload,
                "decision": "pending",
                "approver": None,
                "decided_at": None,
                "conditions": "",
                "access_expires_at": None,
                "approver_account": None,
                "revoked_at": None,
                "revoked_by": None,
            }
        elif e.kind in ("decision", "revoke") and e.register_no in replay:
            replay[e.register_no].update(payload)
        elif e.kind == "access":
            accesses[e.register_no] = accesses.get(e.register_no, 0) + 1
    rows = {r.register_no: r for r in session.execute(select(LookupRequest)).scalars()}
    report.requests = len(rows)
    for no in sorted(set(replay) | set(rows)):
        row, want = rows.get(no), replay.get(no)
        if row is None:
            report.problems.append(f"查阅申请 {no} 在登记簿中有记录，但申请表中缺失（request {no} deleted）")
            continue
        if want is None:
            report.problems.append(f"查阅申请 {no} 没有登记簿记录（request {no} not in the register）")
            continue
        got = {
            k: (_iso(v) if isinstance(v, datetime) else v)
            for k, v in ((k, getattr(row, k)) for k in _PROJECTED)
        }
        diffs = [k for k in _PROJECTED if got[k] != want.get(k)]
        if row.accesses != accesses.get(no, 0):
            diffs.append("accesses")
        if diffs:
            report.problems.append(f"查阅申请 {no} 与登记簿不一致：{', '.join(diffs)}（request {no} edited）")
    return report


def export_register(session: Session, *, year: int, settings: Settings, path: Path) -> int:
    """Write the year's 查阅登记簿 as an Excel workbook; return the number of rows."""
    tz = settings.tz
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(texts.REGISTER_SHEET)
    ws.page_setup.paperSize = "9"
    ws.page_setup.orientation = "landscape"
    ws.print_title_rows = "2:2"
    ws.oddFooter.center.text = "第 &P 页 共 &N 页"
    head = Font(name="黑体", bold=True)
    title = WriteOnlyCell(ws, value=texts.REGISTER_TITLE.format(fonds=settings.fonds_name, year=year))
    title.font = Font(name="黑体", size=14, bold=True)
    ws.append([title])
    cells = []
    for h in texts.REGISTER_HEADERS:
        c = WriteOnlyCell(ws, value=h)
        c.font = head
        cells.append(c)
    ws.append(cells)
    n = 0

    def fmt(dt: datetime | None) -> str:
        return to_local(dt, tz).strftime("%Y-%m-%d %H:%M") if dt else ""

    for r in session.execute(
        select(LookupRequest)
        .where(col(LookupRequest.register_no).like(f"CY{year}-%"))
        .order_by(col(LookupRequest.id))
    ).scalars():
        values = [
            r.register_no,
            fmt(r.requested_at),
            texts.CHANNEL.get(r.channel, r.channel),
            r.requester_name,
            r.department,
            r.purpose,
            r.use_mode,
            r.archival_code,
            r.title,
            texts.STATUS.get(r.decision, r.decision),
            r.approver or "",
            fmt(r.decided_at),
            r.conditions,
            fmt(r.access_expires_at),
            r.accesses,
        ]
        row = []
        for v in values:
            c = WriteOnlyCell(ws, value=sanitise(v).text if isinstance(v, str) else v)
            if isinstance(v, str):
                c.data_type = "s"  # purposes are user text: never a formula
            row.append(c)
        ws.append(row)
        n += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    _append(
        session, kind="export", register_no=f"CY{year}", payload={"year": year, "rows": n, "file": path.name}
    )
    return n
