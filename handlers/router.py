"""A router of plain handler functions (after WeRoBot): match by message type, event or text; first match wins.

Handlers take an `Incoming` and a `Context` and return an `Outcome`; they are tested without HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from core.settings import Settings

if TYPE_CHECKING:  # the writer builds contexts (ingest.writer): handlers only use what it gives them
    from ingest.store import Store


@dataclass(frozen=True)
class Incoming:
    """A verified, parsed inbound message or event, independent of wechatpy's classes."""

    app: str  # mp (Official Account) or wecom
    sender: str
    msg_type: str  # text, image, voice, video, location, link, event, unknown
    created_at: datetime  # aware UTC
    content: str = ""
    event: str | None = None  # subscribe, subscribe_scan, scan, click, unsubscribe, view, …
    event_key: str = ""
    media_id: str = ""
    pic_url: str = ""
    recognition: str = ""
    msg_id: int = 0


@dataclass
class Context:
    """What a handler may use: the unit of work's session, the settings, the time the message is handled, and
    the store of the message path (feedback, windows, counters). `store.deferred` says whether the store's
    writes land at once (False) or with the batch's flush just before the commit (True); the handler sees
    its own changes either way."""

    session: Session
    settings: Settings
    now: datetime  # aware UTC
    store: Store


@dataclass
class Outcome:
    """A handler's answer: the reply text (empty: reply `success`) and the feedback it touched, if any."""

    text: str = ""
    feedback_id: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Incoming, Context], Outcome]
Matcher = Callable[[Incoming], bool]


class Router:
    """Ordered (matcher, handler) rules; the first rule whose matcher accepts the message handles it."""

    def __init__(self) -> None:
        self.rules: list[tuple[Matcher, Handler]] = []
        self.fallback: Handler | None = None

    def add(self, matcher: Matcher, handler: Handler) -> None:
        """Append a rule."""
        self.rules.append((matcher, handler))

    def on(self, matcher: Matcher) -> Callable[[Handler], Handler]:
        """Decorator form of `add`."""

        def register(handler: Handler) -> Handler:
            self.add(matcher, handler)
            return handler

        return register

    def dispatch(self, msg: Incoming, ctx: Context) -> Outcome:
        """Run the first matching handler (or the fallback)."""
        for matcher, handler in self.rules:
            if matcher(msg):
                return handler(msg, ctx)
        if self.fallback is None:
            return Outcome()
        return self.fallback(msg, ctx)


def message(msg_type: str) -> Matcher:
    """Match a message type (text, image, voice, …)."""
    return lambda m: m.msg_type == msg_type


def event(*names: str) -> Matcher:
    """Match an event by name (lower case, as wechatpy names them)."""
    return lambda m: m.msg_type == "event" and (m.event or "") in names


def click(key: str) -> Matcher:
    """Match a menu click with this key."""
    return lambda m: m.msg_type == "event" and m.event == "click" and m.event_key == key
