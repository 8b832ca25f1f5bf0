"""Staff handlers: 绑定, 查档 (and 更多), 查阅, 我的查阅, 审批, 利用 (the requester's 利用效果), and a 档号 as
people type it. Only known staff (bound Official Account users, any WeCom member) may search or request;
审批 is for archivists; 利用 only for the request's own requester."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlmodel import col

from core.clock import to_local, utcnow
from feedback.grammar import normalize
from feedback.models import Person
from handlers.router import Context, Incoming, Outcome
from lookups import effect as lookup_effect
from lookups import identity, service
from lookups import texts as t
from lookups.models import LookupCursor, LookupRequest

PAGE = 5  # 查档 hits a reply lists; its first page also lists up to three matching volumes
# separators a phone keyboard offers for the 档号's 「-」 and 「·」 (half- and full-width; NFKC folds most)
_SEPARATORS = re.compile(r"[-·.・•。‐‑–—_\s\u00b7\u2027\u30fb\uff65]+")
# a hit of the last 查档 as people name it: 2, 第2条, 2号, 第二条
_HIT_NUMBER = re.compile(r"第?(\d{1,3}|[一二两三四五六七八九十]{1,3})[条号个项]?")
_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"两": 2}
# 利用 申请号 1|2|3 [说明] (issue 14): claimed only bare or with a 申请号 after it, so 「利用率低」 or
# 「利用午休…」 stay a diner's words
_EFFECT = re.compile(r"利用(?:\s*(?P<no>CY[0-9-]*)(?P<rest>.*))?", re.S | re.I)


def hit_number(word: str) -> int | None:
    """The hit number a word names (「2」, 「第2条」, 「2号」, 「第二条」, 「十二」), or None."""
    m = _HIT_NUMBER.fullmatch(word)
    if m is None:
        return None
    n = m.group(1)
    if n.isdigit():
        return int(n)
    if "十" not in n:
        return _DIGITS[n] if len(n) == 1 else None
    tens, _, ones = n.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return None
    return (_DIGITS[tens] if tens else 1) * 10 + (_DIGITS[ones] if ones else 0)


def _pad(part: str) -> str:
    return part.zfill(4) if part.isdigit() else part


def normalize_code(raw: str) -> str:
    """A 档号 as people type it on a phone: J001-WS·2026-D10-CYF-0003/0057 from 「j001-ws.2026-d10-cyf-3/57」,
    「J001－WS・2026－D10…」 or any mix of 「·」「.」「-」「・」 and their full-width forms."""
    text = unicodedata.normalize("NFKC", normalize(raw)).upper().strip()
    head, slash, item = text.partition("/")
    parts = [p for p in _SEPARATORS.split(head) if p]
    if len(parts) < 3 or not parts[0].isalnum() or not parts[1].isalpha():
        return text
    code = f"{parts[0]}-{parts[1]}·{parts[2]}"
    if len(parts) > 3:
        code += "-" + "-".join([*parts[3:-1], _pad(parts[-1])])
    item = item.strip(" .-·")
    return f"{code}/{_pad(item)}" if slash and item else code


def is_staff(msg: Incoming, ctx: Context) -> bool:
    """Whether the sender is staff (a bound Official Account user, or any WeCom member): sees the staff menu."""
    return msg.app == "wecom" or identity.staff_for(ctx.session, app=msg.app, sender=msg.sender) is not None


APPROVE_WORDS = {"同意", "批准", "通过"}
REJECT_WORDS = {"驳回", "拒绝", "不同意"}


def _staff(msg: Incoming, ctx: Context) -> Person | None:
    person = identity.staff_for(ctx.session, app=msg.app, sender=msg.sender)
    if person is None and msg.app == "wecom":
        # a WeCom user is a member of the corp: staff, even before WeCom's user API has named them
        person = Person(wecom_userid=msg.sender, name=msg.sender, roles="staff")
        ctx.session.add(person)
        ctx.session.flush()
    return person


def dispatch(msg: Incoming, ctx: Context, command: str, args: tuple[str, ...]) -> Outcome:
    """Route a parsed staff command."""
    if command == "绑定":
        return bind(msg, ctx, args)
    person = _staff(msg, ctx)
    if person is None:
        return Outcome(t.NOT_STAFF)
    if command == "查档":
        return search(msg, ctx, person, " ".join(args), offset=0)
    if command == "查阅":
        return request(msg, ctx, person, args)
    if command == "我的查阅":
        return mine(ctx, person)
    return decide(msg, ctx, person, args)


def bind(msg: Incoming, ctx: Context, args: tuple[str, ...]) -> Outcome:
    """绑定 工号 姓名 验证码 (Official Account users, with the code the archive issued; WeCom users need none)."""
    if msg.app == "wecom":
        person = _staff(msg, ctx)
        return Outcome(
            t.BIND_ALREADY.format(
                name=person.name if person else msg.sender, department=person.department if person else ""
            )
        )
    if len(args) != 3:
        return Outcome(t.BIND_USAGE)
    try:
        person = identity.bind(ctx.session, openid=msg.sender, staff_no=args[0], name=args[1], code=args[2])
    except identity.BindError as exc:
        return Outcome(str(exc))
    return Outcome(t.BIND_OK.format(name=person.name, department=person.department))


def search(msg: Incoming, ctx: Context, person: Person, query: str, *, offset: int) -> Outcome:
    """查档: at most five archived hits with their 档号, and the total; 更多 pages on."""
    from search.service import search as run_search
    from search.service import search_volumes

    query = query.strip()
    if not query:
        return Outcome(t.SEARCH_USAGE)
    result = run_search(ctx.session, query=query, archived_only=True, limit=PAGE, offset=offset)
    lines = []
    if offset == 0:
        volumes = search_volumes(ctx.session, query=query)[:3]
        if volumes:
            lines.append(t.SEARCH_VOLUMES)
            lines += [f"· {v.archival_code} {v.title}" for v in volumes]
    if result.total == 0 and not lines:
        return Outcome(t.SEARCH_NONE.format(query=query))
    if result.hits:
        head = t.SEARCH_HEAD if result.total_exact else t.SEARCH_HEAD_MANY
        lines.append(
            head.format(query=query, total=result.total, first=offset + 1, last=offset + len(result.hits))
        )
        for n, hit in enumerate(result.hits, start=offset + 1):
            lines.append(
                t.SEARCH_HIT.format(
                    n=n,
                    code=hit.item_code or hit.reference,
                    title=hit.snippet,
                    date=f"{hit.service_date:%Y-%m-%d}",
                )
            )
    more = not result.total_exact or offset + len(result.hits) < result.total
    lines.append(t.SEARCH_MORE if more else t.SEARCH_END)
    cursor = ctx.session.execute(
        select(LookupCursor).where(col(LookupCursor.sender) == msg.sender)
    ).scalar_one_or_none()
    cursor = cursor or LookupCursor(sender=msg.sender, query=query)
    cursor.query, cursor.offset, cursor.updated_at = query, offset + len(result.hits), utcnow()
    ctx.session.add(cursor)
    ctx.session.flush()
    return Outcome("\n".join(lines))


def more(msg: Incoming, ctx: Context) -> Outcome:
    """更多: the next page of the sender's last 查档."""
    person = _staff(msg, ctx)
    if person is None:
        return Outcome(t.NOT_STAFF)
    cursor = ctx.session.execute(
        select(LookupCursor).where(col(LookupCursor.sender) == msg.sender)
    ).scalar_one_or_none()
    if cursor is None:
        return Outcome(t.MORE_NOTHING)
    return search(msg, ctx, person, cursor.query, offset=cursor.offset)


def hit_code(msg: Incoming, ctx: Context, n: int) -> str | None:
    """The 档号 of hit `n` (counted from 1, across pages) of the sender's last 查档, or None."""
    from search.service import search as run_search

    cursor = ctx.session.execute(
        select(LookupCursor).where(col(LookupCursor.sender) == msg.sender)
    ).scalar_one_or_none()
    if cursor is None or n < 1:
        return None
    result = run_search(ctx.session, query=cursor.query, archived_only=True, limit=1, offset=n - 1)
    return result.hits[0].item_code if result.hits and result.hits[0].item_code else None


def request(msg: Incoming, ctx: Context, person: Person, args: tuple[str, ...]) -> Outcome:
    """查阅 档号 目的: register a lookup request."""
    if len(args) < 2:
        return Outcome(t.REQUEST_USAGE)
    code, purpose = normalize_code(args[0]), " ".join(args[1:])
    if (n := hit_number(args[0])) is not None:  # 查阅 2 目的: the second hit of one's last 查档
        found = hit_code(msg, ctx, n)
        if found is None:
            return Outcome(t.REQUEST_NO_HIT.format(n=n))
        code = found
    try:
        req = service.request_lookup(
            ctx.session, requester=person, code=code, purpose=purpose, channel=msg.app, settings=ctx.settings
        )
    except service.LookupError_ as exc:
        return Outcome(str(exc))
    return Outcome(t.REQUEST_OK.format(no=req.register_no, code=req.archival_code, purpose=req.purpose))


def mine(ctx: Context, person: Person) -> Outcome:
    """我的查阅: the sender's requests and where they stand."""
    rows = service.my_requests(ctx.session, requester_id=person.id)  # type: ignore[arg-type]
    if not rows:
        return Outcome(t.MINE_NONE)
    lines = [t.MINE_HEAD]
    now = utcnow()
    for r in rows:
        extra = ""
        if r.decision == "approved" and r.access_expires_at:
            extra = (
                t.EXPIRES.format(at=to_local(r.access_expires_at, ctx.settings.tz).strftime("%m-%d %H:%M"))
                if r.access_expires_at > now
                else t.EXPIRED
            )
        lines.append(
            t.MINE_ROW.format(
                no=r.register_no, code=r.archival_code, status=t.STATUS[r.decision], extra=extra
            )
        )
    return Outcome("\n".join(lines))


def decide(msg: Incoming, ctx: Context, person: Person, args: tuple[str, ...]) -> Outcome:
    """审批 申请号 同意|驳回 [理由] (archivists): decide, and notify the requester through the outbox."""
    if "archivist" not in person.roles.split(","):
        return Outcome(t.DECIDE_FORBIDDEN)
    if len(args) < 2 or args[1] not in APPROVE_WORDS | REJECT_WORDS:
        return Outcome(t.DECIDE_USAGE)
    approve = args[1] in APPROVE_WORDS
    reason = " ".join(args[2:])
    try:
        req = service.decide(
            ctx.session,
            register_no=args[0].upper(),
            approve=approve,
            approver=person,
            reason=reason,
            settings=ctx.settings,
        )
    except service.LookupError_ as exc:
        return Outcome(str(exc))
    notify_requester(ctx, req)
    return Outcome(t.DECIDE_OK.format(status=t.STATUS[req.decision].removeprefix("已"), no=req.register_no))


def notify_requester(ctx: Context, req: LookupRequest) -> None:
    """Queue the decision to the requester on the channel they asked from."""
    service.notify_decision(ctx.session, settings=ctx.settings, req=req)


def _effect_match(msg: Incoming) -> re.Match[str] | None:
    if msg.msg_type != "text":
        return None
    return _EFFECT.fullmatch(unicodedata.normalize("NFKC", msg.content).strip())


def effect_command(msg: Incoming) -> bool:
    """Match 「利用」 alone or 「利用 <申请号> …」 (the 利用效果 answer)."""
    return _effect_match(msg) is not None


def effect(msg: Incoming, ctx: Context) -> Outcome:
    """利用 申请号 1|2|3 [说明] (or 解决问题/部分解决/未解决): the requester's 利用效果 on their own request."""
    m = _effect_match(msg)
    no = lookup_effect.register_no(m.group("no")) if m and m.group("no") else None
    if m is None or no is None:
        return Outcome(t.EFFECT_USAGE)
    answer = lookup_effect.parse_answer(m.group("rest"))
    if answer is None:
        return Outcome(t.EFFECT_BAD_CHOICE.format(no=no))
    choice, note = answer
    person = identity.staff_for(ctx.session, app=msg.app, sender=msg.sender)
    try:
        req = lookup_effect.record(
            ctx.session, register_no=no, person=person, effect=choice, note=note, now=ctx.now
        )
    except lookup_effect.EffectError as exc:
        return Outcome(str(exc))
    return Outcome(
        t.EFFECT_OK.format(
            no=req.register_no,
            label=t.EFFECT_LABELS[choice],
            note=t.EFFECT_OK_NOTE.format(note=note) if note else "",
        )
    )
