"""The access register (查阅登记簿) itself: an append-only chain of entries (request, decision, revoke,
access, effect_ask and effect — the 利用效果反馈 —, export), each a RegisterEntry whose hash covers the previous entry's hash and its own canonical
JSON; what each kind of entry records of the request; verification and the yearly Excel export.

Every change to a LookupRequest goes through `append` in the same transaction. `verify_register`
recomputes the chain and replays it against the lookup_request rows (the projection), so an edited or
deleted row in either table is found.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlmodel import Session, col

from core.clock import to_local, utcnow
from core.db import is_postgres
from core.settings import Settings
from exports.records import sanitise
from lookups import texts
from lookups.models import LookupRequest, RegisterEntry
from lookups.registerbook import write_register

GENESIS = "0" * 64  # the previous hash of the first entry

# what each kind of entry records of the request (the register replays them in verify_register)
REQUEST_FIELDS = (
    "requested_at",
    "channel",
    "requester_id",
    "requester_name",
    "department",
    "purpose",
    "use_mode",
    "archival_code",
    "title",
)
DECISION_FIELDS = (
    "decision",
    "approver",
    "approver_account",
    "decided_at",
    "conditions",
    "access_expires_at",
)
REVOKE_FIELDS = ("revoked_at", "revoked_by")
# 利用效果反馈 (issue 14): the question sent after the first use, and the requester's answer
EFFECT_ASK_FIELDS = ("effect_asked_at", "effect_asked_via")
EFFECT_FIELDS = ("effect", "effect_note", "effect_at")
# the entry kinds that change a request after it was made (their payload is replayed onto it)
UPDATES = ("decision", "revoke", "effect_ask", "effect")
# the columns of lookup_request the entries make (accesses is counted from the access entries)
_PROJECTED = tuple(
    c.name
    for c in LookupRequest.__table__.columns  # type: ignore[attr-defined]
    if c.name not in ("id", "register_no", "accesses")
)
# a request before any decision: the model's defaults
_UNDECIDED = {k: LookupRequest.model_fields[k].default for k in _PROJECTED if k not in REQUEST_FIELDS}


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _entry_hash(prev: str, seq: int, at: str, kind: str, register_no: str, payload: str) -> str:
    body = _canonical({"seq": seq, "at": at, "kind": kind, "register_no": register_no, "payload": payload})
    return hashlib.sha256((prev + body).encode("utf-8")).hexdigest()


def iso(dt: datetime | None) -> str | None:
    """A timestamp as the register writes it (ISO 8601 with microseconds), or None."""
    return dt.isoformat(timespec="microseconds") if dt else None


def payload_of(req: LookupRequest, fields: tuple[str, ...]) -> dict[str, Any]:
    """These fields of a request as an entry records them (timestamps in ISO 8601)."""
    return {k: iso(v) if isinstance(v := getattr(req, k), datetime) else v for k in fields}


def append(session: Session, *, kind: str, register_no: str, payload: dict[str, Any]) -> RegisterEntry:
    """Add one entry at the head of the chain (in the caller's transaction)."""
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
        hash=_entry_hash(prev, seq, iso(at) or "", kind, register_no, body),
    )
    session.add(entry)
    session.flush()
    return entry


# --- verification ---------------------------------------------------------------------------------------


@dataclass
class RegisterReport:
    """What verify_register found."""

    entries: int = 0
    requests: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain and the projection agree."""
        return not self.problems


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
            report.problems.append(texts.REGISTER_GAP.format(seq=expected_seq, found=e.seq))
            expected_seq = e.seq
        if e.prev_hash != prev:
            report.problems.append(texts.REGISTER_CHAIN_BROKEN.format(seq=e.seq))
        if _entry_hash(e.prev_hash, e.seq, iso(e.at) or "", e.kind, e.register_no, e.payload) != e.hash:
            report.problems.append(texts.REGISTER_ALTERED.format(seq=e.seq))
        prev = e.hash
        expected_seq += 1
        payload = json.loads(e.payload)
        if e.kind == "request":
            replay[e.register_no] = {**payload, **_UNDECIDED}
        elif e.kind in UPDATES and e.register_no in replay:
            replay[e.register_no].update(payload)
        elif e.kind == "access":
            accesses[e.register_no] = accesses.get(e.register_no, 0) + 1
    rows = {r.register_no: r for r in session.execute(select(LookupRequest)).scalars()}
    report.requests = len(rows)
    for no in sorted(set(replay) | set(rows)):
        row, want = rows.get(no), replay.get(no)
        if row is None:
            report.problems.append(texts.REGISTER_REQUEST_DELETED.format(no=no))
            continue
        if want is None:
            report.problems.append(texts.REGISTER_REQUEST_UNLOGGED.format(no=no))
            continue
        got = payload_of(row, _PROJECTED)
        diffs = [k for k in _PROJECTED if got[k] != want.get(k)]
        if row.accesses != accesses.get(no, 0):
            diffs.append("accesses")
        if diffs:
            report.problems.append(texts.REGISTER_REQUEST_EDITED.format(no=no, fields=", ".join(diffs)))
    return report


# --- the yearly export ----------------------------------------------------------------------------------


def register_values(req: LookupRequest, settings: Settings) -> list[Any]:
    """A request as a row of the printed register (texts.REGISTER_PRINT_HEADERS: related values share a cell,
    one per line); user text sanitised, never a formula."""

    def fmt(dt: datetime | None) -> str:
        return to_local(dt, settings.tz).strftime("%Y-%m-%d %H:%M") if dt else ""

    def lines(*parts: str) -> str:
        return "\n".join(p for p in parts if p)

    expires = texts.VALID_UNTIL.format(at=fmt(req.access_expires_at)) if req.access_expires_at else ""
    values: list[Any] = [
        req.register_no,
        fmt(req.requested_at),
        lines(req.requester_name, req.department),
        req.purpose,
        lines(req.use_mode, texts.CHANNEL.get(req.channel, req.channel)),
        req.archival_code,
        req.title,
        lines(texts.STATUS.get(req.decision, req.decision), req.approver or "", fmt(req.decided_at)),
        lines(req.conditions, expires),
        req.accesses,
        texts.EFFECT_LABELS.get(req.effect, "") if req.effect is not None else "",
        req.effect_note or "",
    ]
    return [sanitise(v).text if isinstance(v, str) else v for v in values]


def export_register(session: Session, *, year: int, settings: Settings, path: Path) -> int:
    """Write the year's 查阅登记簿 as a print-ready workbook (lookups/registerbook.py); return the number of
    rows. The export is itself an entry of the register."""
    rows = [
        register_values(r, settings)
        for r in session.execute(
            select(LookupRequest)
            .where(col(LookupRequest.register_no).like(f"CY{year}-%"))
            .order_by(col(LookupRequest.id))
        ).scalars()
    ]
    write_register(path, title=texts.REGISTER_TITLE.format(fonds=settings.fonds_name, year=year), rows=rows)
    append(
        session,
        kind="export",
        register_no=f"CY{year}",
        payload={"year": year, "rows": len(rows), "file": path.name},
    )
    return len(rows)
