"""利用效果反馈 (机关档案管理规定, 国家档案局令第13号): after an approved lookup's link is first used, the
requester is asked how the use served their work — 1 解决问题, 2 部分解决, 3 未解决, with a note — and the
answer is kept on the 查阅登记簿 row.

Asking follows the return visit's pattern (feedback/revisit.py): through the outbox, a WeCom app message to a
WeCom user (no 48-hour limit), a customer-service message to an Official Account user inside WeChat's
48-hour window (feedback.review.last_message_at), otherwise the ask is recorded as undeliverable. The
question and the answer are register entries (`effect_ask`, `effect`), so verify_register replays them.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from core.outbox import enqueue
from feedback.models import Person
from feedback.review import CS_WINDOW, last_message_at
from lookups import texts
from lookups.models import LookupRequest
from lookups.register import EFFECT_ASK_FIELDS, EFFECT_FIELDS, append, payload_of

NOTE_MAX = 500
_WORDS = {label: n for n, label in texts.EFFECT_LABELS.items()}
# an answer as typed after the 申请号: 「1」, 「1 说明」, 「1，说明」, 「解决问题 说明」
_ANSWER = re.compile(r"(?P<choice>\d+|" + "|".join(_WORDS) + r")(?P<note>.*)", re.S)
_NOTE_LEAD = " \t\n,，.。:：;；、-—"
_REGISTER_NO = re.compile(r"CY(\d{4})-?(\d{1,6})")


class EffectError(Exception):
    """An answer that cannot be taken; the message is for the requester."""


def register_no(word: str) -> str | None:
    """A 申请号 as typed (「cy2026-1」, 「CY2026-0001」, full-width forms) in its written form, or None."""
    m = _REGISTER_NO.fullmatch(unicodedata.normalize("NFKC", word).strip().upper())
    return f"CY{m.group(1)}-{int(m.group(2)):04d}" if m else None


def parse_answer(text: str) -> tuple[int, str] | None:
    """(effect, note) from what follows the 申请号: a number or one of the three words, then a note; None
    when it starts with neither. A number outside 1–3 is returned as is (the caller refuses it)."""
    m = _ANSWER.match(unicodedata.normalize("NFKC", text).strip(_NOTE_LEAD))
    if m is None:
        return None
    choice = m.group("choice")
    n = _WORDS[choice] if choice in _WORDS else int(choice[:3])
    return n, m.group("note").lstrip(_NOTE_LEAD).strip()[:NOTE_MAX]


def _target(session: Session, person: Person, channel: str, now: datetime) -> tuple[str, str, str] | None:
    """(app, to_user, via) the question can reach the requester by, or None."""
    if person.wecom_userid and (channel == "wecom" or not person.openid):
        return "wecom", person.wecom_userid, texts.EFFECT_VIA_WECOM
    if person.openid:
        last = last_message_at(session, sender=person.openid)
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=now.tzinfo)
        if last is not None and last + CS_WINDOW > now:
            return "mp", person.openid, texts.EFFECT_VIA_CS
    if person.wecom_userid:
        return "wecom", person.wecom_userid, texts.EFFECT_VIA_WECOM
    return None


def ask(session: Session, *, req: LookupRequest, now: datetime) -> str | None:
    """Queue the 利用效果 question to the requester (once per request); returns how it went (客服消息,
    企业微信应用消息, or 无法送达…), None when asked already or the requester is gone."""
    if req.effect_asked_via is not None:
        return None
    person = session.get(Person, req.requester_id)
    if person is None:
        return None
    text = texts.EFFECT_ASK.format(code=req.archival_code, title=req.title, no=req.register_no)
    target = _target(session, person, req.channel, now)
    if target is None:
        req.effect_asked_via = texts.EFFECT_VIA_NONE
    else:
        app, to_user, via = target
        enqueue(session, to_user=to_user, text=text, app=app, dedupe_key=f"effect:{req.register_no}")
        req.effect_asked_at, req.effect_asked_via = now, via
    session.add(req)
    append(
        session, kind="effect_ask", register_no=req.register_no, payload=payload_of(req, EFFECT_ASK_FIELDS)
    )
    return req.effect_asked_via


def record(
    session: Session, *, register_no: str, person: Person | None, effect: int, note: str, now: datetime
) -> LookupRequest:
    """Store the requester's answer on the register row (a later answer replaces it; the register keeps
    both). Only the requester, only an approved request whose link has been used, only 1–3."""
    req = session.execute(
        select(LookupRequest).where(col(LookupRequest.register_no) == register_no)
    ).scalar_one_or_none()
    if req is None:
        raise EffectError(texts.DECIDE_UNKNOWN.format(no=register_no))
    if person is None or person.id != req.requester_id:
        raise EffectError(texts.EFFECT_NOT_YOURS.format(no=register_no))
    if req.decision != "approved":
        raise EffectError(texts.EFFECT_NOT_APPROVED.format(no=register_no))
    if req.accesses == 0:
        raise EffectError(texts.EFFECT_NOT_USED.format(no=register_no))
    if effect not in texts.EFFECT_LABELS:
        raise EffectError(texts.EFFECT_BAD_CHOICE.format(no=register_no))
    req.effect, req.effect_note, req.effect_at = effect, note[:NOTE_MAX], now
    session.add(req)
    append(session, kind="effect", register_no=register_no, payload=payload_of(req, EFFECT_FIELDS))
    return req


def label(req: LookupRequest) -> str:
    """The 利用效果 as the register shows it: the answer, 待反馈 once asked, else empty."""
    if req.effect is not None:
        return texts.EFFECT_LABELS.get(req.effect, str(req.effect))
    return texts.EFFECT_WAITING if req.effect_asked_at is not None else ""
