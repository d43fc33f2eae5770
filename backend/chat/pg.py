"""A few asynchronous PostgreSQL connections owned by the event loop, for the socket's send.

The consumer's send is one SQL statement in autocommit (``chat.services``). Run through Django it
needs a thread of the pool (a hop there and back, the GIL handed over twice, Django's cursor
wrappers and client-side parameter interpolation). Here it is awaited on the event loop itself,
as a server-side prepared statement (parsed and planned once per connection), on one of a few
psycopg ``AsyncConnection``\\ s in autocommit that belong to the running loop.

- Connections open lazily, up to ``CHAT_DB_ASYNC_CONNECTIONS`` per loop (default 4); a caller
  waits for a free one beyond that. Each runs one statement at a time. Like Django's, a
  connection is reused for ``CONN_MAX_AGE`` seconds (0: closed after its statement; None: kept).
- Same database, user, options and time-zone handling as Django's ``default`` connection (its
  ``get_connection_params``), read when the connection opens (so tests reach the test database).
- A connection that failed with anything but a database error (cancelled mid-statement, network
  lost) is closed, never reused; the call fails, the client resends with the same client id (the
  send is idempotent). A database error (a unique violation, say) leaves it usable.
- ``close_all()`` closes every pool's connections synchronously (tests, before the test database
  is dropped; nothing may be using them then).

Only for PostgreSQL; SQLite keeps the thread path."""

from __future__ import annotations

import asyncio
import collections
import time
import weakref
from collections.abc import Mapping
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import sql

from config.env import env_int

_MAX_CONNECTIONS = env_int("CHAT_DB_ASYNC_CONNECTIONS", 4, minimum=1)


class AsyncPgPool:
    """Up to ``size`` autocommit ``AsyncConnection``\\ s of one event loop."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._all: dict[psycopg.AsyncConnection[Any], float | None] = {}  # -> close after (monotonic)
        self._opening = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def fetchone(self, query: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run ``query`` (prepared on first use) in autocommit and return its first row."""
        conn = await self._acquire()
        reusable = False
        try:
            cursor = await conn.execute(query, params, prepare=True)
            row = await cursor.fetchone()
            reusable = True
            return row
        except psycopg.DatabaseError:
            # The server refused the statement (constraint, serialization...): in autocommit the
            # connection is idle again and stays usable, unless the error broke it.
            reusable = True
            raise
        finally:
            self._release(conn, reusable=reusable)

    async def _acquire(self) -> psycopg.AsyncConnection[Any]:
        while True:
            if self._idle:
                return self._idle.pop()
            if len(self._all) + self._opening < self.size:
                self._opening += 1
                try:
                    conn, max_age = await _connect()
                finally:
                    self._opening -= 1
                self._all[conn] = None if max_age is None else time.monotonic() + max_age
                return conn
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # we were woken but leave: pass the turn on
                else:
                    try:
                        self._waiters.remove(waiter)
                    except ValueError:
                        pass
                raise

    def _release(self, conn: psycopg.AsyncConnection[Any], *, reusable: bool) -> None:
        close_after = self._all.get(conn, 0.0)
        if (
            reusable and not conn.closed and not conn.broken
            and (close_after is None or time.monotonic() < close_after)
        ):
            self._idle.append(conn)
        else:
            self._all.pop(conn, None)
            _finish(conn)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        """Close every connection now (synchronously); the pool can be used again afterwards."""
        for conn in list(self._all):
            _finish(conn)
        self._all.clear()
        self._idle.clear()


def _finish(conn: psycopg.AsyncConnection[Any]) -> None:
    # libpq's PQfinish: closes the socket at once, no await needed (also from a sync teardown).
    if not conn.closed:
        conn.pgconn.finish()


async def _connect() -> tuple[psycopg.AsyncConnection[Any], float | None]:
    """A new autocommit connection like Django's ``default`` one, and its CONN_MAX_AGE."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    max_age = wrapper.settings_dict["CONN_MAX_AGE"]
    params = wrapper.get_connection_params()
    params.setdefault("application_name", "sociallab-chat-send")
    params.pop("cursor_factory", None)  # Django's (sync, client-side binding) cursor
    params.pop("prepare_threshold", None)  # prepared explicitly, statement by statement
    conn = await psycopg.AsyncConnection.connect(autocommit=True, **params)
    try:
        # As Django's ensure_timezone() / ensure_role(): same session time zone and role.
        timezone_name = wrapper.timezone_name
        if conn.info.parameter_status("TimeZone") != timezone_name:
            await conn.execute("SELECT set_config('TimeZone', %s, false)", [timezone_name])
        role = wrapper.settings_dict["OPTIONS"].get("assume_role")
        if role:
            await conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    except BaseException:
        _finish(conn)
        raise
    return conn, max_age


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncPgPool] = weakref.WeakKeyDictionary()


def pool() -> AsyncPgPool:
    """The running loop's pool (created on first use)."""
    loop = asyncio.get_running_loop()
    found = _POOLS.get(loop)
    if found is None:
        found = _POOLS[loop] = AsyncPgPool(_MAX_CONNECTIONS)
    return found


def close_all() -> None:
    """Close the connections of every loop's pool (tests: before the test database goes)."""
    for found in list(_POOLS.values()):
        found.close()
