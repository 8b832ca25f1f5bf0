"""WeCom senders: the Person behind a userid, made sure of before the user's message is handled.

The webhook edge calls this once per WeCom message, off the writer thread and outside its transaction,
because it may call WeCom's user API (lookups.identity); the writer then finds the Person in place.
"""

from __future__ import annotations

from sqlalchemy import Engine

from core.db import unit_of_work
from core.settings import Settings
from lookups.identity import ensure_wecom_person

# userids remembered per database; the oldest are forgotten first (and merely looked up again)
KNOWN_MAX = 10000


class WecomUsers:
    """The WeCom userids of one database known to have a Person, and the look-up of the others."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._known: dict[str, None] = {}  # an insertion-ordered set

    def known(self, userid: str) -> bool:
        """True when `userid` was seen to have a Person (no database round trip)."""
        return userid in self._known

    def resolve(self, userid: str) -> bool:
        """Make sure `userid` has a Person (name and department from WeCom's user API), in a transaction of
        its own; True when it has one. Blocking: call it off the event loop."""
        with unit_of_work(self.engine) as session:
            return ensure_wecom_person(session, userid=userid, settings=self.settings) is not None

    def remember(self, userid: str) -> None:
        """Note that `userid` has a Person (call from one thread: the event loop's)."""
        known = self._known
        known[userid] = None
        while len(known) > KNOWN_MAX:
            known.pop(next(iter(known)))
