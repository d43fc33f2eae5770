"""A cache of whole API answers and pages that is never stale: each entry remembers the version
of every table its computation read, and PostgreSQL tells every process when a table changes.

How it stays exact:

- **Every write is seen.** A statement-level trigger on every table (installed after each
  ``migrate``, ``install_triggers``) calls ``pg_notify('sociallab_data', <table>)``: ORM saves,
  queryset ``update()``/``delete()``, raw SQL, ``COPY`` and ``TRUNCATE`` alike. PostgreSQL
  delivers a notification only once its transaction has committed, in commit order, and drops
  the duplicates of one transaction (a cycle's 500,000-row write is one notification per table).
- **Each process listens** on its own connection (``_Listener``) and keeps a counter per table.
  Before a lookup it makes one round trip on that connection (an empty statement): a committing
  transaction signals the listening sessions before its COMMIT returns, and PostgreSQL sends a
  listening session its pending notifications before it reports ready for the next statement,
  so every transaction that committed before the request started has bumped its tables'
  counters. A request therefore never gets an answer older than a commit that finished before
  it, whichever process made it (read-your-writes across processes).
- **Dependencies are recorded, not declared.** While an answer is computed, every SQL statement
  of the request goes through ``_Recorder``, which collects the tables it names. The entry is
  kept only if every one of them has a trigger, no statement wrote or asked for the clock
  (``now()``…), the counters of those tables did not move during the computation (checked with a
  second round trip) and the answer is a 200 (rendered as JSON, for the API).
- **Who asks is part of the key**: the user's whole row and a coordinator's territories
  (``USER_KEY_PARTS``; read from ``accounts.authcache``, not from SQL), the full URL (scheme,
  host, path, query: the pagination's links carry them), the language, the renderer and today's
  date (offers open and close by date). A page's CSRF tokens are replaced by a fresh one on every
  hit; a page with a message to show, or that changed the session, is not kept.
- **Only outside a transaction.** A request inside ``atomic()`` may read its own uncommitted
  writes, which no notification covers: it neither reads nor fills the cache.
- **When in doubt, compute.** The listener's connection failing (server restart, network)
  empties the cache and turns it off until a new connection listens again; SQLite, the
  ``RESPONSE_CACHE_MB=0`` setting, excluded tables and clock-reading statements all simply
  compute the answer as before.

API views opt in with ``ResponseCacheMixin``, pages with ``cached_page`` (or ``PageCache`` when
part of the key is known only inside the view); they must not read anything but SQL and the
user (no other cache, no ``timezone.now()`` finer than the date). Each process keeps its own
entries, at most ``RESPONSE_CACHE_MB`` of bytes, least recently used out first. The same sync
lets ``accounts.authcache`` keep a token's owner per process (``memo_get``/``memo_put``).

Cost on writers: one ``pg_notify`` per statement; at commit PostgreSQL serialises the
transactions that notified. The chat's tables (hundreds of writes a second) and a few other
busy ones have no trigger (``EXCLUDED_TABLES``); an answer that reads them is never kept.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.utils import timezone, translation

logger = logging.getLogger("sociallab.response_cache")

CHANNEL = "sociallab_data"
TRIGGER = "sociallab_notify_change"

#: Tables written too often to notify on every statement, or never read by a cached view.
#: A response that reads one of them is not cached.
EXCLUDED_TABLES = frozenset(
    {
        "chat_message",  # every chat message
        "chat_conversation",  # its numbering, on every message
        "chat_conversationmember",  # read marks
        "chat_chatsocket",  # every socket opened or closed
        "followup_outboxmessage",  # e-mails to send, queued by chat messages among others
        "django_session",  # every sign-in
        "django_tasks_database_dbtaskresult",  # every background task and its progress
        "django_migrations",
    }
)

#: SQL that reads the clock: its answer changes without any write.
_CLOCK = re.compile(
    r"\b(now|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday)\s*\(|"
    r"\b(current_date|current_time|current_timestamp|localtime|localtimestamp)\b",
    re.IGNORECASE,
)
_IDENT = re.compile(r'"([A-Za-z0-9_]+)"|\b([A-Za-z_][A-Za-z0-9_]*)\b')
#: Seconds before trying to listen again after the connection failed.
RETRY_SECONDS = 5.0


def enabled() -> bool:
    return (
        int(getattr(settings, "RESPONSE_CACHE_MB", 0)) > 0
        and connection.vendor == "postgresql"
    )


# --- Triggers -------------------------------------------------------------------------------------


def install_triggers(using: str = "default") -> list[str]:
    """Create (or replace) the notifying trigger on every table of the database but
    ``EXCLUDED_TABLES``; returns the tables that have it. Idempotent; run after each migrate."""
    from django.db import connections

    conn = connections[using]
    if conn.vendor != "postgresql":
        return []
    with conn.cursor() as cursor:
        cursor.execute(
            f"""CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME); RETURN NULL; END $$"""
        )
        every = _tables(cursor)
        for table in every:
            if table in EXCLUDED_TABLES:
                cursor.execute(f'DROP TRIGGER IF EXISTS {TRIGGER} ON "{table}"')
            else:
                cursor.execute(
                    f"CREATE OR REPLACE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                    f'ON "{table}" FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER}()'
                )
    return [t for t in every if t not in EXCLUDED_TABLES]


def _tables(cursor: Any) -> list[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1"
    )
    return [row[0] for row in cursor.fetchall()]


def post_migrate(using: str = "default", **kwargs: Any) -> None:
    install_triggers(using)


# --- The listener: one connection per process -----------------------------------------------------

#: What a psycopg connection of its own needs from Django's (not Django's cursor factory or context).
_PSYCOPG_PARAMS = frozenset({"dbname", "user", "password", "host", "port", "sslmode", "options", "sslrootcert",
                             "sslcert", "sslkey", "passfile", "service"})


def connection_params() -> dict[str, Any]:
    """Django's default database as ``psycopg.connect`` keywords (the test database in tests)."""
    return {k: v for k, v in connection.get_connection_params().items() if k in _PSYCOPG_PARAMS}


class _Listener:
    """LISTENs on its own connection; ``sync()`` makes one round trip and applies the
    notifications that arrived. Thread-safe (Daphne runs views on threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = 0
        self.conn: Any = None
        self.versions: dict[str, int] = {}
        #: Changes whenever the connection is (re)made: every entry of an older epoch is void.
        self.epoch = 0
        #: Tables that have the trigger (others are never a cached dependency) and the relations
        #: a statement may name (tables and views), read when the connection is made.
        self.watched: frozenset[str] = frozenset()
        self.relations: frozenset[str] = frozenset()
        self.retry_at = 0.0

    def _connect(self) -> None:
        import psycopg

        conn = psycopg.connect(**connection_params(), autocommit=True, connect_timeout=5,
                               application_name="sociallab-response-cache")
        try:
            conn.execute(f"LISTEN {CHANNEL}")
            watched = conn.execute(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE t.tgname = %s AND n.nspname = current_schema()", (TRIGGER,)
            ).fetchall()
            relations = conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
            ).fetchall()
        except Exception:
            conn.close()
            raise
        self.conn = conn
        self.pid = os.getpid()
        self.watched = frozenset(row[0] for row in watched)
        self.relations = frozenset(row[0] for row in relations)
        self.versions = {}
        self.epoch += 1

    def _drop(self) -> None:
        conn, self.conn = self.conn, None
        self.versions = {}
        self.epoch += 1
        clear()
        if conn is not None and self.pid == os.getpid():
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass

    def close(self) -> None:
        with self.lock:
            self._drop()
            self.retry_at = 0.0

    def sync(self) -> tuple[int, dict[str, int]] | None:
        """(epoch, versions) as of now, or None when not listening (the cache is then off)."""
        from psycopg import pq

        with self.lock:
            if self.conn is not None and self.pid != os.getpid():
                self.conn = None  # inherited through fork: the parent's socket, never used here
                self.versions = {}
                self.epoch += 1
                clear()
            if self.conn is None:
                if time.monotonic() < self.retry_at:
                    return None
                try:
                    self._connect()
                except Exception as exc:  # noqa: BLE001 - any failure: compute without the cache
                    logger.warning("response cache off: cannot listen", extra={"error": str(exc)})
                    self.retry_at = time.monotonic() + RETRY_SECONDS
                    return None
            pgconn = self.conn.pgconn
            # An empty statement: the round trip without parsing or planning anything. PostgreSQL
            # sends an idle listening session its pending notifications before ReadyForQuery.
            result = pgconn.exec_(b"")
            if result.status != pq.ExecStatus.EMPTY_QUERY or pgconn.status != pq.ConnStatus.OK:
                logger.warning("response cache off: the listening connection failed")
                self._drop()
                self.retry_at = time.monotonic() + RETRY_SECONDS
                return None
            versions = self.versions
            while (note := pgconn.notifies()) is not None:
                table = note.extra.decode()
                versions[table] = versions.get(table, 0) + 1
            return self.epoch, dict(versions)  # a copy: other threads go on changing this one


_LISTENER = _Listener()


def close() -> None:
    """Stop listening in this process (tests close it before dropping their database)."""
    _LISTENER.close()


# --- Entries --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    epoch: int
    versions: tuple[tuple[str, int], ...]
    #: The body, cut where a page had a CSRF token (one part when it had none).
    parts: tuple[bytes, ...]
    headers: tuple[tuple[str, str], ...]
    #: The view's name, for the access log of an answer served at the front door.
    route: str = ""

    @property
    def size(self) -> int:
        return sum(map(len, self.parts)) + sum(len(k) + len(v) for k, v in self.headers)


def _cost(key: tuple[object, ...], entry: Entry) -> int:
    return entry.size + len(repr(key)) + 300


class _Entries:
    """Least-recently-used entries, bounded by the bytes of their content."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: OrderedDict[tuple[object, ...], Entry] = OrderedDict()
        self.size = 0

    def get(self, key: tuple[object, ...]) -> Entry | None:
        with self.lock:
            entry = self.items.get(key)
            if entry is not None:
                self.items.move_to_end(key)
            return entry

    def put(self, key: tuple[object, ...], entry: Entry) -> None:
        limit = int(getattr(settings, "RESPONSE_CACHE_MB", 0)) * 1024 * 1024
        cost = _cost(key, entry)
        if cost > limit // 4:
            return  # one huge answer would push out everything else
        with self.lock:
            old = self.items.pop(key, None)
            if old is not None:
                self.size -= _cost(key, old)
            self.items[key] = entry
            self.size += cost
            while self.size > limit and self.items:
                dropped_key, dropped = self.items.popitem(last=False)
                self.size -= _cost(dropped_key, dropped)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.size = 0

    def __len__(self) -> int:
        return len(self.items)


_ENTRIES = _Entries()


def clear() -> None:
    _ENTRIES.clear()
    _MEMO.clear()


def stats() -> dict[str, int]:
    return {"entries": len(_ENTRIES), "bytes": _ENTRIES.size, "epoch": _LISTENER.epoch}


# --- A memo of what a request needs before its answer (who is calling) ----------------------------

#: The (epoch, versions) of the sync the current request made before authenticating.
_STATE: ContextVar[tuple[int, dict[str, int]] | None] = ContextVar("response_cache_state", default=None)
#: The recorder of the answer being computed, if any (``recording``).
_RECORDER: ContextVar[Any] = ContextVar("response_cache_recorder", default=None)
#: Values kept by ``memo_put``, at most this many (least recently used out first).
MEMO_SIZE = 10_000


class _Memo:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: OrderedDict[tuple[object, ...], tuple[Any, int, tuple[tuple[str, int], ...]]] = OrderedDict()

    def get(self, key: tuple[object, ...]) -> tuple[Any, int, tuple[tuple[str, int], ...]] | None:
        with self.lock:
            item = self.items.get(key)
            if item is not None:
                self.items.move_to_end(key)
            return item

    def put(self, key: tuple[object, ...], item: tuple[Any, int, tuple[tuple[str, int], ...]]) -> None:
        with self.lock:
            self.items[key] = item
            self.items.move_to_end(key)
            while len(self.items) > MEMO_SIZE:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


_MEMO = _Memo()


def _unchanged(epoch: int, versions: tuple[tuple[str, int], ...], state: tuple[int, dict[str, int]]) -> bool:
    """Whether what was kept at ``epoch`` with these table ``versions`` is still current as of
    the sync ``state`` (same listening connection, none of its tables changed since)."""
    now_epoch, current = state
    return epoch == now_epoch and all(current.get(t, 0) == v for t, v in versions)


def memo_get(key: tuple[object, ...], tables: tuple[str, ...]) -> Any | None:
    """A copy of the value ``memo_put`` kept under ``key`` if none of ``tables`` has changed since
    (as of this request's sync); None otherwise, or outside a request that synced."""
    state = _STATE.get()
    if state is None:
        return None
    item = _MEMO.get(key)
    if item is None:
        return None
    value, epoch, versions = item
    if not _unchanged(epoch, versions, state):
        return None
    recorder = _RECORDER.get()
    if recorder is not None:  # an answer being recorded read these tables, through the memo
        recorder.names.update(tables)
    return copy.copy(value)  # the request may change its copy


def memo_enabled(tables: tuple[str, ...]) -> bool:
    """Whether this request synced, so that ``memo_put`` may keep what it reads from ``tables``."""
    return _STATE.get() is not None and set(tables) <= _LISTENER.watched


def memo_put(key: tuple[object, ...], value: Any, tables: tuple[str, ...]) -> None:
    """Keep a copy of ``value`` until one of ``tables`` changes. ``value`` must have been read
    from the database itself after this request's sync (not from another cache, which may hold
    an older state), so that it is at least as new as the versions it is kept under."""
    state = _STATE.get()
    if state is None or not set(tables) <= _LISTENER.watched:
        return
    epoch, current = state
    _MEMO.put(key, (copy.copy(value), epoch, tuple((t, current.get(t, 0)) for t in tables)))


# --- Recording what a computation reads -----------------------------------------------------------


class _Recorder:
    """A ``connection.execute_wrapper``: the tables named by every statement, whether one of them
    read the clock, and whether one was not a plain ``SELECT`` (a side effect to repeat)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.clock = False
        self.writes = False

    def __call__(self, execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: Any) -> Any:
        text = sql if isinstance(sql, str) else str(sql)
        for quoted, bare in _IDENT.findall(text):
            self.names.add(quoted or bare.lower())  # PostgreSQL folds unquoted names
        if _CLOCK.search(text):
            self.clock = True
        if many or text.lstrip()[:6].upper() != "SELECT":
            self.writes = True
        return execute(sql, params, many, context)


#: What else about the user decides what a cached view shows, beyond the user's own row
#: (marketplace adds a coordinator's territories). Each part may query the database: it is
#: computed before the recording starts, and its value is in the key.
USER_KEY_PARTS: list[Callable[[Any], object]] = []


def _user_key(user: Any) -> tuple[object, ...]:
    """The user's whole row (as ``accounts.authcache`` gives it: any change of it is a new object)
    and the ``USER_KEY_PARTS``: a page may show any of it."""
    if not getattr(user, "is_authenticated", False):  # (this also loads a page's lazy user)
        return ()
    user = getattr(user, "_wrapped", user)  # the user itself, not Django's lazy wrapper
    known = user.__dict__.get("_response_cache_user_key")
    if known is not None:
        return known  # type: ignore[no-any-return]
    parts: list[object] = [getattr(user, name) for name in _user_columns(user)]
    for part in USER_KEY_PARTS:
        value = part(user)
        parts.append(tuple(value) if isinstance(value, list) else value)
    return tuple(parts)


def remember_user_key(user: Any) -> None:
    """Compute the user's part of the key once, on a user about to be kept (``memo_put``): its
    copies carry it. Nothing may change the user afterwards (the memo's copies are per request,
    and a change of the row is a new user)."""
    user.__dict__.pop("_response_cache_user_key", None)
    user.__dict__["_response_cache_user_key"] = _user_key(user)


def _user_columns(user: Any, _cache: dict[type, tuple[str, ...]] = {}) -> tuple[str, ...]:  # noqa: B006
    columns = _cache.get(type(user))
    if columns is None:
        columns = _cache[type(user)] = tuple(field.attname for field in user._meta.concrete_fields)
    return columns


def request_key(request: Any, kind: str) -> tuple[object, ...]:
    """Everything an answer may depend on besides the tables it reads. The host is the one
    Django already validated (``CommonMiddleware`` calls ``get_host()``), the scheme the one the
    proxy reports: the pagination's links carry both."""
    renderer = getattr(request, "accepted_renderer", None)
    return (
        kind,
        request.scheme,
        request.META.get("HTTP_HOST", ""),
        request.get_full_path(),
        _user_key(request.user),
        translation.get_language() or "",
        getattr(renderer, "format", ""),
        getattr(request, "accepted_media_type", ""),
        timezone.localdate().isoformat(),
    )


# --- CSRF tokens of pages -------------------------------------------------------------------------

#: A masked CSRF token as Django renders it: 64 letters and digits, alone.
_TOKEN = re.compile(rb"(?<![A-Za-z0-9])[A-Za-z0-9]{64}(?![A-Za-z0-9])")


def _cut_csrf(content: bytes, request: Any) -> tuple[bytes, ...]:
    """The page cut at each of its CSRF tokens (masks of this request's secret), so that a hit
    can put fresh ones there."""
    from django.middleware.csrf import _unmask_cipher_token

    secret = request.META.get("CSRF_COOKIE")
    parts: list[bytes] = []
    last = 0
    for match in _TOKEN.finditer(content):
        token = match.group().decode()
        if secret and _unmask_cipher_token(token) == secret:
            parts.append(content[last:match.start()])
            last = match.end()
    parts.append(content[last:])
    return tuple(parts)


def _join_csrf(parts: tuple[bytes, ...], request: Any) -> bytes:
    if len(parts) == 1:
        return parts[0]
    from django.middleware.csrf import get_token

    # One new mask of the secret for the whole answer (Django masks each token apart; masking per
    # answer is what defeats BREACH-style guessing, and a page of 40 forms costs one mask).
    token = get_token(request).encode()
    out = [parts[0]]
    for part in parts[1:]:
        out.append(token)
        out.append(part)
    return b"".join(out)


# --- Lookup and store -----------------------------------------------------------------------------


class _Hit(Exception):
    def __init__(self, response: HttpResponse) -> None:
        self.response = response


class _Pending:
    """A miss being computed: the versions before, the recorder, and the key to fill."""

    def __init__(self, key: tuple[object, ...], epoch: int, before: dict[str, int]) -> None:
        self.key = key
        self.epoch = epoch
        self.before = before  # sync's own copy
        self.recorder = _Recorder()
        #: The entry ``lookup`` found, if any.
        self.hit: Entry | None = None


def _pending_messages(request: Any) -> bool:
    storage = getattr(request, "_messages", None)
    return storage is not None and len(storage) > 0


def _cacheable(request: Any, kind: str) -> bool:
    if request.method != "GET" or connection.in_atomic_block or not enabled():
        return False
    if kind == "api":
        from rest_framework.renderers import JSONRenderer

        return isinstance(getattr(request, "accepted_renderer", None), JSONRenderer)
    # A page: for a signed-in user, with no message waiting to be shown on it.
    return bool(request.user.is_authenticated) and not _pending_messages(request)


def start(request: Any, kind: str) -> _Pending | None:
    """A computation that may be stored (None: compute without the cache): the versions as of
    now and a recorder; the key comes with ``lookup``."""
    if not _cacheable(request, kind):
        return None
    state = _LISTENER.sync()
    if state is None:
        return None
    epoch, versions = state
    return _Pending((kind,), epoch, versions)


def lookup(pending: _Pending, request: Any, extra: tuple[object, ...] = ()) -> HttpResponse | None:
    """The stored answer for this request (``extra``: what else its answer depends on, known to
    the view only), or None after fixing the key under which ``finish`` stores it."""
    pending.key = request_key(request, pending.key[0]) + extra
    entry = _ENTRIES.get(pending.key)
    if entry is None or not _unchanged(entry.epoch, entry.versions, (pending.epoch, pending.before)):
        return None
    pending.hit = entry
    response = HttpResponse(_join_csrf(entry.parts, request))
    for header, value in entry.headers:
        response[header] = value
    response["X-Response-Cache"] = "hit"
    return response


def begin(request: Any, kind: str = "api") -> _Pending | None:
    """Called once the request is authenticated and allowed (and, for the API, not throttled):
    raises ``_Hit`` with the stored answer, or returns what is needed to store the one about to
    be computed (None: compute without the cache)."""
    pending = start(request, kind)
    if pending is not None:
        response = lookup(pending, request)
        if response is not None:
            raise _Hit(response)
    return pending


#: Headers a stored answer keeps (the middleware adds the others on every answer, hit or not).
_KEPT_HEADERS = frozenset({"content-type", "content-language", "content-disposition", "allow", "vary",
                           "cache-control", "expires", "x-robots-tag"})


def finish(pending: _Pending, response: Any, request: Any = None) -> Entry | None:
    """Store the rendered answer if everything it read is watched, it wrote nothing, and nothing
    it read moved meanwhile."""
    if response.status_code != 200 or getattr(response, "streaming", False) or getattr(response, "exception", False):
        return None
    recorder = pending.recorder
    if recorder.clock or recorder.writes:
        return None
    listener = _LISTENER
    read = recorder.names & listener.relations
    if not read <= listener.watched:
        return None  # a table without the trigger (excluded, or created after the listener) or a view
    if hasattr(response, "render"):
        response.render()
    parts: tuple[bytes, ...] = (bytes(response.content),)
    if pending.key[0] == "page":
        session = getattr(request, "session", None)
        if session is not None and session.modified:
            return None  # the page changed the session: a side effect to repeat
        storage = getattr(request, "_messages", None)
        if storage is not None and getattr(storage, "_queued_messages", None):
            return None  # a message was added for the next page
        parts = _cut_csrf(parts[0], request)
    state = listener.sync()
    if state is None:
        return None
    epoch, after = state
    if epoch != pending.epoch or any(after.get(t, 0) != pending.before.get(t, 0) for t in read):
        return None  # written meanwhile: what was read may mix both states
    headers = tuple((k, v) for k, v in response.items() if k.lower() in _KEPT_HEADERS)
    entry = Entry(epoch, tuple(sorted((t, after.get(t, 0)) for t in read)), parts, headers)
    _ENTRIES.put(pending.key, entry)
    response["X-Response-Cache"] = "miss"
    return entry


@contextmanager
def recording(pending: _Pending | None) -> Iterator[None]:
    """Record what the computation reads; ``memo_get``/``memo_put`` work meanwhile (the request
    synced)."""
    if pending is None:
        yield
        return
    state = _STATE.set((pending.epoch, pending.before))
    recorder = _RECORDER.set(pending.recorder)
    try:
        with connection.execute_wrapper(pending.recorder):
            yield
    finally:
        _RECORDER.reset(recorder)
        _STATE.reset(state)


class ResponseCacheMixin:
    """For DRF views whose GET answers depend only on SQL and on who asks (see the module). The
    sync is made before authentication, so that who is calling can come from ``memo_get``."""

    _response_pending: _Pending | None = None
    _response_recording: ExitStack | None = None

    @property
    def answer_is_recorded(self) -> bool:
        """True while the answer being computed will be kept (what it reads is recorded): a view
        must then read SQL only, not another cache."""
        return self._response_recording is not None

    def perform_authentication(self, request: Any) -> None:
        # After content negotiation (the answer's renderer is known), before the caller is.
        self._response_pending = start(request, "api")
        if self._response_pending is None:
            super().perform_authentication(request)  # type: ignore[misc]
            return
        token = _STATE.set((self._response_pending.epoch, self._response_pending.before))
        try:
            super().perform_authentication(request)  # type: ignore[misc]
        finally:
            _STATE.reset(token)

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        pending = self._response_pending
        if pending is not None:
            response = lookup(pending, request)
            if response is not None:
                self._response_pending = None
                _front_door_note(self, request, pending.key, pending.hit)
                raise _Hit(response)
            self._response_recording = ExitStack()
            self._response_recording.enter_context(recording(pending))

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, _Hit):
            return exc.response
        return super().handle_exception(exc)  # type: ignore[misc]

    def _end_recording(self) -> bool:
        """Stop recording; True if the answer was computed under the recording."""
        recorded, self._response_recording = self._response_recording, None
        if recorded is None:
            return False
        recorded.close()
        return True

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        pending, self._response_pending = self._response_pending, None
        if self._end_recording() and pending is not None:
            _front_door_note(self, request, pending.key, finish(pending, response, request))
        return response

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        finally:
            self._response_pending = None  # an exception escaped finalize_response
            self._end_recording()


def cached_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For page views (under their access decorator) whose HTML depends only on SQL, the user,
    the URL and the language. The CSRF tokens of a stored page are replaced by a fresh one on
    every hit; a page with a message to show, or that changes the session, is not stored."""

    @wraps(view)
    def wrapped(request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            pending = begin(request, "page")
        except _Hit as hit:
            return hit.response
        if pending is None:
            return view(request, *args, **kwargs)
        with recording(pending):
            response = view(request, *args, **kwargs)
        finish(pending, response, request)
        return response

    return wrapped


class PageCache:
    """For a page whose answer also depends on something the view reads before it can be looked
    up (the dashboard: figures cached elsewhere, known by their computation time)::

        with PageCache(request) as page:
            ...                                 # recorded from here
            hit = page.lookup(generated_at)     # None on a miss, or when the cache is off
            if hit is not None:
                return hit
            response = render(...)
            return page.finish(response)
    """

    def __init__(self, request: Any) -> None:
        self.request = request
        self.pending = start(request, "page")
        self._stack = ExitStack()
        self.looked_up = self.hit = False

    def __enter__(self) -> PageCache:
        self._stack.enter_context(recording(self.pending))
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    def lookup(self, *extra: str) -> HttpResponse | None:
        if self.pending is None:
            return None
        self.looked_up = True
        hit = lookup(self.pending, self.request, tuple(extra))
        self.hit = hit is not None
        return hit

    def finish(self, response: HttpResponse) -> HttpResponse:
        self._stack.close()  # the recording ends with the answer
        if self.pending is not None and self.looked_up and not self.hit:
            finish(self.pending, response, self.request)
        return response


# --- The front door: kept API answers served before the middleware stack and DRF ------------------
#
# A kept API answer still costs the whole middleware stack, URL resolution and DRF's dispatch
# (negotiation, authentication, permissions, throttles) before ``lookup`` finds it: about half
# the CPU of a hit. ``FrontDoorMiddleware``, second in MIDDLEWARE, serves a GET that carries an
# API token (and no session cookie) from a copy of the *final* response the full path produced
# for the same request: same token owner (the memo ``accounts.authcache`` keeps, valid only while
# no user, token or scope row changed), same URL, language, ``Accept`` header and date. The copy
# is made on the way out, only when the full path kept (or found) its answer with DRF's token
# authentication and the default throttles, set no cookie and answered 200; it carries the
# versions of that answer, so it is void as soon as one of the tables it read changes. The
# default throttles (they read only the caller) still count every answer served here. Anything
# else (a miss, a refusal, an unknown token) goes down the full path unchanged.


class _Route:
    """What the access log reads of ``request.resolver_match`` for an answer served here."""

    __slots__ = ("view_name", "route")

    def __init__(self, view_name: str) -> None:
        self.view_name = view_name
        self.route = view_name


class _Caller:
    """What the default throttles read of a request: the caller and the addresses."""

    __slots__ = ("user", "META")

    def __init__(self, user: Any, meta: dict[str, Any]) -> None:
        self.user = user
        self.META = meta


#: Headers the full path adds per request (or that say where the answer came from).
_FRONT_SKIPPED_HEADERS = frozenset({"x-request-id", "x-response-cache"})


def _token_class() -> type:
    from accounts.authcache import CachedTokenAuthentication

    return CachedTokenAuthentication


def _default_throttle_classes() -> tuple[type, ...]:
    from rest_framework.settings import api_settings

    return tuple(api_settings.DEFAULT_THROTTLE_CLASSES)


def _door_token(request: Any) -> str | None:
    """The API token of a GET that only a token can authenticate (DRF tries the session first:
    a request with a session cookie goes the full path), read as DRF reads it; else None."""
    if request.method != "GET" or "HTTP_AUTHORIZATION" not in request.META:
        return None
    if settings.SESSION_COOKIE_NAME in request.COOKIES:
        return None
    from rest_framework.authentication import get_authorization_header

    words = get_authorization_header(request).split()
    if len(words) != 2 or words[0].lower() != _token_class().keyword.lower().encode():
        return None
    try:
        return words[1].decode()  # type: ignore[no-any-return]
    except UnicodeError:
        return None


def _door_language(request: Any) -> str:
    """The language ``LocaleMiddleware`` would activate for this request."""
    from django.conf.urls.i18n import is_language_prefix_patterns_used

    urlconf = getattr(request, "urlconf", settings.ROOT_URLCONF)
    prefixed, prefixed_default = is_language_prefix_patterns_used(urlconf)
    language = translation.get_language_from_request(request, check_path=prefixed)
    if prefixed and not prefixed_default and not translation.get_language_from_path(request.path_info):
        language = settings.LANGUAGE_CODE
    return language


def _front_key(request: Any, user: Any) -> tuple[object, ...]:
    return (
        "front",
        request.scheme,
        request.META.get("HTTP_HOST", ""),
        request.get_full_path(),
        _user_key(user),
        _door_language(request),
        timezone.localdate().isoformat(),
        request.META.get("HTTP_ACCEPT", ""),
    )


def _front_door_note(view: Any, request: Any, key: tuple[object, ...], entry: Entry | None) -> None:
    """Mark the request (kept or found by ``ResponseCacheMixin``) for a front-door copy, if the
    caller was authenticated by an API token and the view counts only the default throttles."""
    if entry is None or key[0] != "api":
        return
    if type(getattr(request, "_authenticator", None)) is not _token_class():
        return
    if tuple(map(type, view.get_throttles())) != _default_throttle_classes():
        return
    http = request._request
    match = getattr(http, "resolver_match", None)
    http._response_cache_front = (key, entry, getattr(match, "view_name", "") or "")


def _serve_front(request: Any, token: str) -> HttpResponse | None:
    if connection.in_atomic_block or not enabled():
        return None
    state = _LISTENER.sync()
    if state is None:
        return None
    from accounts.authcache import _token_key

    item = _MEMO.get(("auth-token", _token_key(token)))
    if item is None:
        return None
    user, user_epoch, user_versions = item
    if not _unchanged(user_epoch, user_versions, state) or not user.is_active:
        return None
    entry = _ENTRIES.get(_front_key(request, user))
    if entry is None or not _unchanged(entry.epoch, entry.versions, state):
        return None
    caller = _Caller(user, request.META)
    for throttle_class in _default_throttle_classes():
        if not throttle_class().allow_request(caller, None):
            return None  # the full path answers 429 with its Retry-After
    response = HttpResponse(entry.parts[0])
    for header, value in entry.headers:
        response[header] = value
    response["X-Response-Cache"] = "hit"
    request.user = user  # for the access log
    request.resolver_match = _Route(entry.route)
    return response


def _keep_front(request: Any, response: Any) -> None:
    note = request.__dict__.get("_response_cache_front")
    if note is None:
        return
    inner_key, inner, route = note
    if response.status_code != 200 or getattr(response, "streaming", False) or response.cookies:
        return
    key = _front_key(request, request.user)
    # The same request as the kept answer's (``request_key``'s layout): scheme, host, URL,
    # caller, language and date.
    if key[1:6] != inner_key[1:6] or key[6] != inner_key[8]:
        return
    headers = tuple((k, v) for k, v in response.items() if k.lower() not in _FRONT_SKIPPED_HEADERS)
    _ENTRIES.put(key, Entry(inner.epoch, inner.versions, (bytes(response.content),), headers, route))


class FrontDoorMiddleware:
    """Second in ``MIDDLEWARE`` (after the request id): serves a kept API answer to a GET with an
    API token before the rest of the stack runs, and keeps the final answers of the full path
    for it (see above)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        token = _door_token(request)
        if token is not None:
            response = _serve_front(request, token)
            if response is not None:
                return response
        response = self.get_response(request)
        if token is not None:
            _keep_front(request, response)
        return response
