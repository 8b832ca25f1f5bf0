"""What arrives and what is answered: a verified `Delivery`, the `Result` it gets, and how to tell an outage
of the database (`database_unavailable`: spool and retry later) from a bug (store the message as failed).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from handlers.router import Incoming

# SQLite says "OperationalError" for outages and for bugs alike ("no such column"): only these are outages.
# "readonly": a filesystem remounted read-only or a file whose permissions changed; it cannot write now,
# which is an outage to wait out like any other (issue 11), not a bug.
_SQLITE_OUTAGE = (
    "unable to open",
    "database is locked",
    "disk i/o error",
    "database or disk is full",
    "readonly database",
    "read-only",
)
# PostgreSQL SQLSTATEs that mean "cannot write now": 25006 read_only_sql_transaction (a failover onto a
# standby, default_transaction_read_only), 57P0x shutdowns and 53xxx (disk full, out of memory,
# too many connections) whatever the exception class psycopg raises them as.
_PG_OUTAGE_STATES = ("25006", "57P01", "57P02", "57P03", "53100", "53200", "53300", "08")


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` means the database cannot be reached or cannot serve now (an outage), not a bug."""
    if isinstance(exc, PoolTimeout):  # every pooled connection is stuck on a database that does not answer
        return True
    orig: BaseException | None = exc
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
    # psycopg's OperationalError covers refused connections, shutdowns, "starting up", disk full, too many
    # connections, deadlocks and cancelled statements: all worth waiting out. InterfaceError: a closed
    # connection.
    if isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    if isinstance(orig, psycopg.Error) and (orig.sqlstate or "").startswith(_PG_OUTAGE_STATES):
        return True
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        return any(part in message for part in _SQLITE_OUTAGE)
    return False


@dataclass(frozen=True)
class Delivery:
    """One verified delivery from WeChat: its dedupe key, parsed form and raw (decrypted) XML."""

    key: str
    incoming: Incoming
    raw_xml: str


@dataclass(frozen=True)
class Result:
    """What to answer: the reply text (empty → `success`), and whether this delivery was a duplicate."""

    reply: str
    duplicate: bool = False
    feedback_id: int | None = None
    stored: bool = True  # False only when not even a `failed` row could be written (a bug, not an outage)
