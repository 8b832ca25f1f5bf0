"""Staff identity: the roster (职工名册) imported from Excel, Official Account users binding to it with
`绑定 工号 姓名 验证码` (a one-time code the archive issues to that person), and WeCom users resolved through WeCom's user API. Only known staff may search or request."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlmodel import Session, col

from core.clock import utcnow
from core.settings import Settings
from core.wechat_api import NotConfigured, wecom
from feedback.models import Person
from lookups import texts
from lookups.models import BindAttempt, BindCode

log = logging.getLogger("houqin.identity")
ROSTER_COLUMNS = {"工号": "staff_no", "姓名": "name", "部门": "department", "角色": "roles"}
ROLES = {"档案员": "archivist", "archivist": "archivist", "职工": "", "": ""}


class RosterError(ValueError):
    """The roster workbook is not usable; the message names the sheet row."""


class BindError(Exception):
    """A binding that cannot be made; the message is for the person."""


@dataclass
class RosterResult:
    """What an import did."""

    added: int = 0
    updated: int = 0


def _roles(value: str, *, row: int) -> str:
    out = []
    for part in value.replace("，", ",").split(","):
        part = part.strip()
        if part not in ROLES:
            raise RosterError(texts.ROSTER_UNKNOWN_ROLE.format(row=row, role=part, role_repr=repr(part)))
        if ROLES[part]:
            out.append(ROLES[part])
    return ",".join(["staff", *out])


def import_roster(session: Session, *, path: Path) -> RosterResult:
    """Add or update staff from the first sheet of an .xlsx (columns 工号, 姓名, 部门, optional 角色)."""
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise RosterError(texts.ROSTER_UNREADABLE.format(file=path.name, error=type(exc).__name__)) from None
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = [str(c).strip() if c is not None else "" for c in next(rows, ())]
        missing = [name for name in ("工号", "姓名", "部门") if name not in header]
        if missing:
            raise RosterError(texts.ROSTER_MISSING.format(zh="、".join(missing), en=", ".join(missing)))
        index = {ROSTER_COLUMNS[h]: i for i, h in enumerate(header) if h in ROSTER_COLUMNS}
        result = RosterResult()
        seen: set[str] = set()
        entries = []
        for n, raw in enumerate(rows, start=2):
            values = {
                k: ("" if i >= len(raw) or raw[i] is None else str(raw[i]).strip()) for k, i in index.items()
            }
            if not any(values.values()):
                continue
            if not values["staff_no"] or not values["name"]:
                raise RosterError(texts.ROSTER_EMPTY.format(row=n))
            if values["staff_no"] in seen:
                raise RosterError(texts.ROSTER_DUPLICATE.format(row=n, staff_no=values["staff_no"]))
            seen.add(values["staff_no"])
            values["roles"] = _roles(values.get("roles", ""), row=n)
            entries.append(values)
    finally:
        wb.close()
    for values in entries:  # only after the whole sheet is valid: a bad row changes nothing
        person = session.execute(
            select(Person).where(col(Person.staff_no) == values["staff_no"])
        ).scalar_one_or_none()
        if person is None:
            session.add(
                Person(
                    staff_no=values["staff_no"],
                    name=values["name"],
                    department=values["department"],
                    roles=values["roles"],
                )
            )
            result.added += 1
        else:
            person.name, person.department = values["name"], values["department"]
            person.roles = ",".join(
                sorted(set(person.roles.split(",")) | set(values["roles"].split(",")) - {""})
            )
            session.add(person)
            result.updated += 1
    session.flush()
    return result


BIND_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud or off a phone
BIND_CODE_LENGTH = 8
BIND_CODE_HOURS = 24
BIND_WINDOW = timedelta(hours=24)
BIND_MAX_PER_SENDER = 10  # failed 绑定 attempts a sender may make in BIND_WINDOW
BIND_MAX_PER_STAFF_NO = 5  # failed attempts on one staff number in BIND_WINDOW (from anyone)


def _code_hash(person_id: int, code: str) -> str:
    return hashlib.sha256(f"houqin.bind:{person_id}:{code.strip().upper()}".encode()).hexdigest()


def issue_bind_code(
    session: Session, *, staff_no: str, issued_by: str, now: datetime | None = None
) -> tuple[Person, str, datetime]:
    """A one-time 验证码 for the person with this staff number (shown once; stored hashed; earlier ones void)."""
    now = now or utcnow()
    person = session.execute(select(Person).where(col(Person.staff_no) == staff_no)).scalar_one_or_none()
    if person is None or person.id is None:
        raise BindError(texts.BIND_CODE_NO_STAFF.format(staff_no=staff_no))
    for old in session.execute(
        select(BindCode).where(col(BindCode.person_id) == person.id, col(BindCode.used_at).is_(None))
    ).scalars():
        old.used_at = now  # void: only the newest code works
        session.add(old)
    code = "".join(secrets.choice(BIND_CODE_ALPHABET) for _ in range(BIND_CODE_LENGTH))
    expires = now + timedelta(hours=BIND_CODE_HOURS)
    session.add(
        BindCode(
            person_id=person.id,
            code_hash=_code_hash(person.id, code),
            issued_by=issued_by[:120],
            issued_at=now,
            expires_at=expires,
        )
    )
    session.flush()
    return person, code, expires


def _failures(session: Session, column: Any, value: str, since: datetime) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(BindAttempt)
            .where(column == value, col(BindAttempt.ok).is_(False), col(BindAttempt.at) >= since)
        ).scalar_one()
    )


def bind(
    session: Session, *, openid: str, staff_no: str, name: str, code: str, now: datetime | None = None
) -> Person:
    """Bind an Official Account openid to a roster entry, proven by the one-time code issued to that person.

    Failed attempts are recorded (the caller commits them with its reply) and limited per sender and per
    staff number; a person bound already is never taken over."""
    now = now or utcnow()
    since = now - BIND_WINDOW
    if (
        _failures(session, col(BindAttempt.sender), openid, since) >= BIND_MAX_PER_SENDER
        or _failures(session, col(BindAttempt.staff_no), staff_no[:40], since) >= BIND_MAX_PER_STAFF_NO
    ):
        log.warning("binding rate-limited for staff number %r", staff_no[:40])
        raise BindError(texts.BIND_LIMITED)

    def refuse(message: str) -> BindError:
        session.add(BindAttempt(sender=openid[:128], staff_no=staff_no[:40], ok=False, at=now))
        session.flush()
        return BindError(message)

    already = session.execute(select(Person).where(col(Person.openid) == openid)).scalar_one_or_none()
    if already is not None and already.staff_no:
        raise BindError(texts.BIND_ALREADY.format(name=already.name, department=already.department))
    person = session.execute(select(Person).where(col(Person.staff_no) == staff_no)).scalar_one_or_none()
    if person is None or person.id is None or person.name != name:
        raise refuse(texts.BIND_UNKNOWN.format(staff_no=staff_no, name=name))
    if person.openid and person.openid != openid:
        raise refuse(texts.BIND_TAKEN)
    issued = session.execute(
        select(BindCode).where(
            col(BindCode.person_id) == person.id,
            col(BindCode.used_at).is_(None),
            col(BindCode.expires_at) > now,
        )
    ).scalar_one_or_none()
    if issued is None or not hmac.compare_digest(issued.code_hash, _code_hash(person.id, code)):
        raise refuse(texts.BIND_BAD_CODE)
    issued.used_at = now
    session.add(issued)
    session.add(BindAttempt(sender=openid[:128], staff_no=staff_no[:40], ok=True, at=now))
    if already is not None:  # a diner row made earlier for this openid: fold it into the staff row
        already.openid = None
        session.add(already)
        session.flush()
    person.openid = openid
    session.add(person)
    session.flush()
    return person


def staff_for(session: Session, *, app: str, sender: str) -> Person | None:
    """The staff member behind a sender, or None: WeCom users are staff; Official Account users once bound."""
    if app == "wecom":
        return session.execute(select(Person).where(col(Person.wecom_userid) == sender)).scalar_one_or_none()
    person = session.execute(select(Person).where(col(Person.openid) == sender)).scalar_one_or_none()
    return person if person is not None and person.staff_no else None


def wecom_user_info(settings: Settings, userid: str) -> dict[str, Any] | None:
    """WeCom's user API (user/get) for `userid`: the user's fields, None when the look-up fails or WeCom is
    not configured. HTTP only, no database: call it outside any transaction. It gets
    HOUQIN_WECOM_LOOKUP_TIMEOUT_S in all, the access token included."""
    try:
        info = wecom(settings, budget_s=settings.wecom_lookup_timeout_s).user.get(userid)
    except NotConfigured:
        return None
    except Exception as exc:
        log.warning("WeCom user lookup failed for %s: %s", userid, type(exc).__name__)
        return None
    return dict(info) if isinstance(info, dict) else None


def wecom_person(session: Session, *, userid: str) -> Person | None:
    """The Person already linked to a WeCom userid, or None (a read)."""
    return session.execute(select(Person).where(col(Person.wecom_userid) == userid)).scalar_one_or_none()


def link_wecom_person(session: Session, *, userid: str, info: dict[str, Any]) -> Person:
    """The Person for a WeCom userid, made from what WeCom's user API said (`info`): the roster entry with
    that staff number when it has no userid yet, else a new Person. No HTTP: a short transaction."""
    person = wecom_person(session, userid=userid)
    if person is not None:  # linked meanwhile (another message of the same member)
        return person
    name = str(info.get("name") or userid)
    departments = info.get("department") or []
    department = str(info.get("main_department") or (departments[0] if departments else ""))
    by_staff_no = session.execute(select(Person).where(col(Person.staff_no) == userid)).scalar_one_or_none()
    if by_staff_no is not None and not by_staff_no.wecom_userid:
        by_staff_no.wecom_userid = userid
        session.add(by_staff_no)
        session.flush()
        return by_staff_no
    person = Person(
        wecom_userid=userid,
        name=name,
        department=texts.WECOM_DEPARTMENT.format(id=department) if department.isdigit() else department,
        roles="staff",
    )
    session.add(person)
    session.flush()
    return person
