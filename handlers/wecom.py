"""WeCom senders: the Person behind a userid, made sure of before the user's message is handled.

The webhook edge calls this once per WeCom message from a userid it does not know yet, off the writer
thread and outside its transaction. The look-up asks WeCom's user API over HTTP with no transaction open
(lookups.identity.wecom_user_info, a hard overall timeout), then links or creates the Person in a short
transaction of its own: a WeCom API that hangs holds neither the database nor the ingest writer
(issue 11). A failed look-up is remembered for HOUQIN_WECOM_LOOKUP_RETRY_S, so a failing API is not
asked again for every message; two messages of one new member share one look-up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from core.db import read_unit, unit_of_work
from core.settings import Settings
from lookups.identity import link_wecom_person, wecom_person, wecom_user_info

# userids remembered per database (known to have a Person, or recently failed); the oldest are forgotten
# first (and merely looked up again)
KNOWN_MAX = 10000
FAILED_MAX = 10000


class WecomUsers:
    """The WeCom userids of one database known to have a Person, and the look-up of the others."""

    def __init__(
        self, engine: Engine, settings: Settings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self._known: dict[str, None] = {}  # an insertion-ordered set
        self._failed: dict[str, float] = {}  # userid -> when it may be looked up again
        self._inflight: dict[str, threading.Event] = {}
        self._guard = threading.Lock()

    def known(self, userid: str) -> bool:
        """True when `userid` was seen to have a Person (no database round trip)."""
        return userid in self._known

    def failed_recently(self, userid: str) -> bool:
        """True when a look-up of `userid` failed less than HOUQIN_WECOM_LOOKUP_RETRY_S ago."""
        until = self._failed.get(userid)
        return until is not None and self.clock() < until

    def _fail(self, userid: str) -> None:
        with self._guard:
            failed = self._failed
            failed.pop(userid, None)
            failed[userid] = self.clock() + self.settings.wecom_lookup_retry_s
            while len(failed) > FAILED_MAX:
                failed.pop(next(iter(failed)))

    def _has_person(self, userid: str) -> bool:
        with read_unit(self.engine) as session:  # a read: no SQLite write lock
            return wecom_person(session, userid=userid) is not None

    def resolve(self, userid: str) -> bool:
        """Make sure `userid` has a Person (name and department from WeCom's user API); True when it has
        one. HTTP outside any transaction, then a short transaction. Blocking: call it off the event loop."""
        if self.failed_recently(userid):
            return False
        with self._guard:
            running = self._inflight.get(userid)
            if running is None:
                self._inflight[userid] = threading.Event()
        if running is not None:  # the same member's earlier message is looking them up: share its answer
            running.wait(self.settings.wecom_lookup_timeout_s + 1)
            return self._has_person(userid)
        try:
            if self._has_person(userid):
                return True
            info = wecom_user_info(self.settings, userid)  # HTTP: no transaction is open
            if info is None:
                self._fail(userid)
                return False
            with unit_of_work(self.engine) as session:
                link_wecom_person(session, userid=userid, info=info)
            return True
        finally:
            with self._guard:
                self._inflight.pop(userid).set()

    def remember(self, userid: str) -> None:
        """Note that `userid` has a Person (call from one thread: the event loop's)."""
        known = self._known
        known[userid] = None
        while len(known) > KNOWN_MAX:
            known.pop(next(iter(known)))
