"""WeChat / WeCom access tokens (access_token) shared by every worker, with one refresher at a time.

A token lives in three places: this process's memory (no round trip for most calls), the shared store
(Redis when HOUQIN_REDIS_URL is set, else the `wechat_token` table), and WeChat. A worker whose memory copy
is missing or near expiry reads the shared store (a plain read: on SQLite a deferred transaction, never
the write lock); only when that too is missing, near expiry, or known bad (WeChat answered 40001 /
40014 / 42001 with it) does it fetch a new one, and then only while holding the refresher lock: Redis
`SET NX PX` when Redis is configured, else `core.locks.exclusive` (a PostgreSQL advisory lock, or a file
lock under the data dir beside SQLite). Workers that find the lock taken wait briefly and re-read the
store, so N workers, or N new WeCom members at once, cost one token fetch. The HTTP fetch runs with no
database transaction open; the store is written afterwards in a short one.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from wechatpy.session import SessionStorage

from core.db import _sqlite_begin_mode, _sqlite_pragmas, read_bind
from core.locks import exclusive
from core.models import WechatToken
from core.settings import Settings

log = logging.getLogger("houqin.tokens")

# a token this close to its expiry is refreshed (stable_token hands out the next one in the last 5 minutes)
MARGIN_S = 300
# how long a Redis refresher lock lives if its holder dies mid-fetch
REDIS_LOCK_MS = 15000
POLL_S = 0.05
STORE_WAIT_MS = 250
_TABLE = WechatToken.__table__  # type: ignore[attr-defined]

# fetch(timeout_s) -> (access_token, expires_in seconds)
Fetch = Callable[[float], tuple[str, int]]


class TokenUnavailable(Exception):
    """No usable token within the time allowed (another worker holds the refresher lock, or WeChat is slow)."""


@dataclass(frozen=True, slots=True)
class Held:
    """A token and when it expires (unix seconds)."""

    value: str
    expires_at: float

    def fresh(self, now: float) -> bool:
        """True when it is still good for more than MARGIN_S."""
        return self.expires_at - now > MARGIN_S


class _Shared:
    """The store every worker reads: get, put, drop; and the refresher lock."""

    def get(self, key: str) -> Held | None:
        raise NotImplementedError

    def put(self, key: str, held: Held) -> None:
        raise NotImplementedError

    def drop(self, key: str) -> None:
        raise NotImplementedError

    def lock(self, key: str) -> Any:
        """A context manager yielding True when this caller is the refresher, False when another is."""
        raise NotImplementedError


class RedisShared(_Shared):
    """Tokens in Redis (`<prefix>:token:<key>`, with Redis's own expiry); the lock is `SET NX PX`."""

    def __init__(self, url: str, prefix: str = "houqin") -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def _k(self, key: str) -> str:
        return f"{self.prefix}:token:{key}"

    def get(self, key: str) -> Held | None:
        """The stored token, or None."""
        raw = self.redis.hmget(self._k(key), ["value", "expires_at"])
        if not raw or raw[0] is None or raw[1] is None:
            return None
        value = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
        return Held(value, float(raw[1]))

    def put(self, key: str, held: Held) -> None:
        """Store a token until it expires."""
        pipe = self.redis.pipeline()
        pipe.hset(self._k(key), mapping={"value": held.value, "expires_at": str(held.expires_at)})
        pipe.expireat(self._k(key), int(held.expires_at) + 1)
        pipe.execute()

    def drop(self, key: str) -> None:
        """Forget a token."""
        self.redis.delete(self._k(key))

    @contextmanager
    def lock(self, key: str) -> Iterator[bool]:
        """`SET NX PX`: held by whoever set it; released only by its holder."""
        name, mine = f"{self.prefix}:token-lock:{key}", uuid.uuid4().hex
        held = bool(self.redis.set(name, mine, nx=True, px=REDIS_LOCK_MS))
        try:
            yield held
        finally:
            if held:
                # compare-and-delete: a lock that expired and was taken by another is not ours to free
                self.redis.eval(
                    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end",
                    1,
                    name,
                    mine,
                )


def _store_pragmas(dbapi_conn: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_conn, record)
    # the caller may hold SQLite's write lock itself (a console request issuing a QR code): storing the
    # token must not wait for it; the token is kept in memory and stored by the next fetch instead
    dbapi_conn.execute(f"PRAGMA busy_timeout={STORE_WAIT_MS}")


def _store_engine(url: str) -> Engine:
    # unpooled: a worker reads the store seldom (its memory copy serves most calls), and an idle pooled
    # connection to a database that goes away would only linger
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, poolclass=NullPool, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _store_pragmas)
        event.listen(engine, "begin", _sqlite_begin_mode)
        return engine
    return create_engine(url, poolclass=NullPool)


class DatabaseShared(_Shared):
    """Tokens in the `wechat_token` table; the lock is core.locks (advisory lock or file lock)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = _store_engine(settings.database_url)

    def get(self, key: str) -> Held | None:
        """The stored token, or None (a read: no write lock)."""
        query = select(_TABLE.c.value, _TABLE.c.expires_at).where(_TABLE.c.key == key)
        try:
            with read_bind(self.engine).connect() as conn:
                row = conn.execute(query).first()
                conn.rollback()
        except OperationalError as exc:  # the database is away: WeChat can still be asked
            log.warning("access token store unreadable: %s", str(exc.orig or exc).splitlines()[0])
            return None
        return None if row is None else Held(str(row[0]), float(row[1]))

    def put(self, key: str, held: Held) -> None:
        """Store a token (a short write, after the HTTP fetch)."""
        values = {
            "key": key,
            "value": held.value,
            "expires_at": int(held.expires_at),
            "fetched_at": int(time.time()),
        }
        dialect = pg_dialect if self.engine.dialect.name == "postgresql" else sqlite_dialect
        stmt = dialect.insert(_TABLE).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "value": values["value"],
                "expires_at": values["expires_at"],
                "fetched_at": values["fetched_at"],
            },
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(stmt)
        except OperationalError as exc:  # SQLite busy: this process keeps the token in memory
            log.warning("access token for %s not stored: %s", key, str(exc.orig or exc).splitlines()[0])

    def drop(self, key: str) -> None:
        """Forget a token."""
        with self.engine.begin() as conn:
            conn.execute(_TABLE.delete().where(_TABLE.c.key == key))

    @contextmanager
    def lock(self, key: str) -> Iterator[bool]:
        """core.locks.exclusive without waiting: the caller polls and re-reads the store meanwhile."""
        with exclusive(self.engine, name=f"wechat-token-{key}", settings=self.settings, wait=False) as held:
            yield held


class TokenKeeper:
    """The tokens of one deployment (one shared store) as this process sees them."""

    def __init__(self, shared: _Shared) -> None:
        self.shared = shared
        self._memory: dict[str, Held] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _local(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def peek(self, key: str) -> Held | None:
        """This process's copy, fresh or not (no I/O)."""
        return self._memory.get(key)

    def shared_usable(self, key: str, bad: str | None) -> Held | None:
        held = self.shared.get(key)
        if held is None or held.value == bad or not held.fresh(time.time()):
            return None
        self._memory[key] = held
        return held

    def token(self, key: str, fetch: Fetch, *, timeout: float) -> str:
        """A fresh token for `key`: from memory, else the shared store, else fetched by one refresher."""
        held = self._memory.get(key)
        if held is not None and held.fresh(time.time()):
            return held.value
        shared = self.shared_usable(key, None)
        if shared is not None:
            return shared.value
        return self.refresh(key, fetch, bad=None, timeout=timeout)

    def refresh(self, key: str, fetch: Fetch, *, bad: str | None, timeout: float) -> str:
        """A token other than `bad`: the one another worker stored meanwhile, or one fetched by this worker
        while it holds the refresher lock. Raises TokenUnavailable after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        local = self._local(key)
        if not local.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise TokenUnavailable(f"another thread is refreshing {key}")
        try:
            while True:
                held = self.shared_usable(key, bad)
                if held is not None:
                    return held.value
                with self.shared.lock(key) as refresher:
                    if refresher:
                        held = self.shared_usable(key, bad)  # stored between our read and our lock
                        if held is not None:
                            return held.value
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise TokenUnavailable(f"no time left to fetch {key}")
                        value, expires_in = fetch(left)
                        held = Held(value, time.time() + max(0, int(expires_in)))
                        self.shared.put(key, held)
                        self._memory[key] = held
                        return value
                if time.monotonic() + POLL_S >= deadline:
                    raise TokenUnavailable(f"another worker is refreshing {key}")
                time.sleep(POLL_S)
        finally:
            local.release()

    def forget(self, key: str) -> None:
        """Drop the token here and in the shared store."""
        self._memory.pop(key, None)
        self.shared.drop(key)


class KeeperSession(SessionStorage):
    """wechatpy's session interface (get / set / delete) over a TokenKeeper, for wechatpy's own code paths."""

    def __init__(self, keeper: TokenKeeper) -> None:
        self.keeper = keeper

    def get(self, key: str, default: Any = None) -> Any:
        """The fresh token for `key` (memory or shared store), or `default`."""
        held = self.keeper.peek(key)
        if held is None or not held.fresh(time.time()):
            held = self.keeper.shared_usable(key, None)
        return held.value if held is not None else default

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Store a token for `ttl` seconds (7200 when not given)."""
        held = Held(str(value), time.time() + (ttl if ttl is not None else 7200))
        self.keeper.shared.put(key, held)
        self.keeper._memory[key] = held

    def delete(self, key: str) -> None:
        """Forget a token."""
        self.keeper.forget(key)


_keepers: dict[tuple[str, str], TokenKeeper] = {}
_keepers_guard = threading.Lock()


def keeper_for(settings: Settings) -> TokenKeeper:
    """This process's keeper for the settings' shared store (Redis when configured, else the database)."""
    where = ("redis", settings.redis_url) if settings.redis_url else ("db", settings.database_url)
    with _keepers_guard:
        keeper = _keepers.get(where)
        if keeper is None:
            shared: _Shared = (
                RedisShared(settings.redis_url) if settings.redis_url else DatabaseShared(settings)
            )
            keeper = _keepers[where] = TokenKeeper(shared)
            while len(_keepers) > 64:  # one per database: only tests make many
                _keepers.pop(next(iter(_keepers)))
        return keeper
