"""The conversation WebSocket (protocol: docs/websocket.md).

Thin: authorise through the selector before accepting, call services through
``database_sync_to_async`` (on PostgreSQL the send is awaited on the event loop instead:
``services.message_send_async``), relay group events. The consumer keeps, per socket, the highest
sequence number it delivered: a live event that skips numbers (a lost or reordered doorbell) is
preceded by the missing messages read from the database, and an event already delivered is
dropped, so a socket sees every message once and in order."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import Http404
from django.utils.translation import gettext as _

from chat import selectors, services
from chat.conf import chat_setting
from chat.dbthreads import DB_EXECUTOR
from chat.events import (
    CLOSE_CONVERSATION_ENDED,
    CLOSE_FRAME_TOO_LARGE,
    CLOSE_NOT_MEMBER,
    MessagePayload,
    conversation_group,
    message_payload,
)
from chat.models import Conversation, ConversationMember
from config.env import env_bool, env_int

logger = logging.getLogger(__name__)

MAX_SEQ = 2**31 - 1

# On PostgreSQL, database calls run on a small pool of threads (chat.dbthreads).
_DB_EXECUTOR = DB_EXECUTOR

# A database thread whose query has answered must take the GIL back from the busy event loop, and
# Python lets it wait up to the switch interval (5 ms by default) each time, several times per
# query: under load every send queued behind the loop's work. With a shorter interval the loop
# yields sooner (benchmarks/chat.py, 300 msg/s, one process, one run each on the shared machine:
# p50 7 ms / p99 46 ms with 500 µs against 12 / 78 ms with 5 ms). Process-wide, set by the process
# that serves the chat on PostgreSQL; CHAT_GIL_SWITCH_INTERVAL_US=0 keeps Python's default.
_SWITCH_US = env_int("CHAT_GIL_SWITCH_INTERVAL_US", 500, minimum=0)
if _SWITCH_US and not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    sys.setswitchinterval(_SWITCH_US / 1_000_000)


def db(func: Callable[..., Any]) -> Callable[..., Any]:
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        return database_sync_to_async(func)
    return database_sync_to_async(func, thread_sensitive=False, executor=_DB_EXECUTOR)


def _keep_connection_fresh() -> None:
    """What ``close_old_connections`` does before a call, without its cost on every message: that
    function re-arms Django's health check, so the next query of the thread is preceded by a
    ``SELECT 1`` round trip. Here the thread's connection is only checked (and closed if broken)
    after an error, or closed once it outlived CONN_MAX_AGE. A connection that died while idle
    makes one call fail (an error frame; the client resends with the same client id)."""
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.connection is None:
        return
    if conn.errors_occurred or (conn.close_at is not None and time.monotonic() >= conn.close_at):
        conn.close_if_unusable_or_obsolete()
    elif conn.get_autocommit() != conn.settings_dict["AUTOCOMMIT"]:
        conn.close()


def _hot_call(func: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    _keep_connection_fresh()
    return func(*args)


def hot_db(func: Callable[..., Any]) -> Callable[..., Any]:
    """``db`` for the per-message calls (send, replay) on PostgreSQL: the same thread pool, called
    with ``run_in_executor`` directly. asgiref's wrapper copies the context and shields the future
    on every call, and Channels' runs ``close_old_connections`` around it, which re-arms a health
    check round trip (see ``_keep_connection_fresh``); these functions need neither (they use
    only their thread's own connection and no context variables)."""
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        return database_sync_to_async(func)

    @functools.wraps(func)
    async def call(*args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(_DB_EXECUTOR, _hot_call, func, args)

    return call


def _is_seq(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEQ


# --- Database calls (each runs in a worker thread with a fresh-enough connection) ---------------


@db
def _authorise(user: Any, conversation_id: Any) -> Conversation | None:
    try:
        return selectors.conversation_get_for_user(user=user, conversation_id=conversation_id)
    except Http404:
        return None


@db
def _register(channel_name: str, conversation_id: int, user_id: int) -> tuple[int, int]:
    """Record the open socket; return (last_seq, my read position), read after joining the group
    so that nothing committed in between is missed."""
    services.chat_socket_open(channel_name=channel_name, conversation_id=conversation_id, user_id=user_id)
    last_seq = Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation_id)
    read = ConversationMember.objects.values_list("last_read_seq", flat=True).get(
        conversation_id=conversation_id, user_id=user_id
    )
    return last_seq, read


@db
def _heartbeat(channel_name: str, conversation_id: int, user_id: int) -> tuple[str, int]:
    return services.chat_socket_touch(channel_name=channel_name, conversation_id=conversation_id, user_id=user_id)


@db
def _unregister(channel_name: str) -> None:
    services.chat_socket_close(channel_name=channel_name)


@hot_db
def _messages_after(conversation_id: int, after_seq: int, limit: int) -> list[dict[str, Any]]:
    return [
        message_payload(m)
        for m in selectors.messages_after(conversation_id=conversation_id, after_seq=after_seq, limit=limit)
    ]


@hot_db
def _send_in_thread(user: Any, conversation_id: int, client_id: Any, body: Any) -> tuple[MessagePayload, bool]:
    """Store (committed when this returns: no transaction is open in these threads); the consumer
    publishes the message itself, from the event loop, without a second thread hop."""
    conversation = Conversation(pk=conversation_id)
    result = services.message_send(
        user=user, conversation=conversation, client_id=client_id, body=body, broadcast=False
    )
    return message_payload(result.message), result.created


# On PostgreSQL the send statement is awaited on the event loop, on the loop's own connections
# (chat.pg): no thread hop, a prepared statement. CHAT_DB_ASYNC=0 keeps the thread path (A/B runs).
_ASYNC_SEND = not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") and env_bool("CHAT_DB_ASYNC", True)


async def _send(user: Any, conversation_id: int, client_id: Any, body: Any) -> tuple[MessagePayload, bool]:
    """Store one message; return its row (as sent on the socket) and whether it is new."""
    if _ASYNC_SEND:
        stored = await services.message_send_async(
            user=user, conversation_id=conversation_id, client_id=client_id, body=body
        )
        return stored.payload(), stored.created
    return await _send_in_thread(user, conversation_id, client_id, body)  # type: ignore[no-any-return]


@db
def _mark_read(user: Any, conversation_id: int, up_to_seq: int) -> int:
    return services.conversation_mark_read(user=user, conversation=Conversation(pk=conversation_id), up_to_seq=up_to_seq)


class ConversationConsumer(AsyncWebsocketConsumer):
    conversation_id: int
    user: Any
    group: str

    async def connect(self) -> None:
        self.delivered = 0
        self.heartbeat_task: asyncio.Task[None] | None = None
        self.joined = False
        self.deliver_lock = asyncio.Lock()
        self.last_typing = 0.0
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        conversation = await _authorise(user, self.scope["url_route"]["kwargs"].get("conversation_id"))
        if conversation is None:
            await self.close()  # not a member (or no such conversation): refused before accept
            return
        self.user = user
        self.conversation_id = conversation.pk
        self.group = conversation_group(conversation.pk)
        if conversation.closed_at is not None:
            # A member may know why: accept, then close with "conversation ended" at once.
            await self.accept()
            await self.close(code=CLOSE_CONVERSATION_ENDED)
            return
        after_seq = self._after_seq_from_query()
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.joined = True
        await self.accept()
        last_seq, read_seq = await _register(self.channel_name, self.conversation_id, user.pk)
        self.delivered = last_seq if after_seq is None else min(after_seq, last_seq)
        await self._send_frame(
            {
                "type": "hello",
                "conversation_id": self.conversation_id,
                "user_id": user.pk,
                "last_seq": last_seq,
                "read_up_to_seq": read_seq,
                "heartbeat_seconds": chat_setting("CHAT_HEARTBEAT_SECONDS"),
                "max_body_chars": chat_setting("CHAT_MESSAGE_MAX_CHARS"),
            }
        )
        if after_seq is not None:
            await self._resume(after_seq)
        self.heartbeat_task = asyncio.create_task(self._heartbeat_loop())

    def _after_seq_from_query(self) -> int | None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        values = query.get("after_seq")
        if not values:
            return None
        try:
            value = int(values[0])
        except ValueError:
            return None
        return value if 0 <= value <= MAX_SEQ else None

    async def disconnect(self, code: int) -> None:
        if self.heartbeat_task is not None:
            self.heartbeat_task.cancel()
        if self.joined:
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except Exception:  # noqa: BLE001 - the group entry expires anyway
                logger.info("group_discard failed", exc_info=True)
            try:
                await _unregister(self.channel_name)
            except Exception:  # noqa: BLE001 - the presence row goes stale and is swept
                logger.info("socket unregister failed", exc_info=True)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch, without its ``aclose_old_connections()`` before every handler: that
        is one hop to the sync thread per frame and per group event (three per message sent), for
        a connection this consumer never uses. Its database calls go through ``db`` / ``hot_db``,
        which look after the connection of the thread they run on."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- Frames from the client ----------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        limit = chat_setting("CHAT_FRAME_MAX_BYTES")
        size = len(bytes_data) if bytes_data is not None else len((text_data or "").encode("utf-8"))
        if size > limit:
            await self._error("frame_too_large", _("Trame de plus de %(kb)s Ko refusée.") % {"kb": limit // 1024})
            await self.close(code=CLOSE_FRAME_TOO_LARGE)
            return
        if bytes_data is not None:
            await self._error("invalid_frame", _("Seules les trames texte JSON sont acceptées."))
            return
        try:
            frame = json.loads(text_data or "")
        except (ValueError, RecursionError):
            await self._error("invalid_json", _("La trame n'est pas du JSON valide."))
            return
        if not isinstance(frame, dict):
            await self._error("invalid_frame", _("La trame doit être un objet JSON."))
            return
        handler = {
            "send": self._on_send,
            "resume": self._on_resume,
            "read": self._on_read,
            "typing": self._on_typing,
            "ping": self._on_ping,
        }.get(frame.get("type"))  # type: ignore[arg-type]
        if handler is None:
            await self._error("unknown_type", _("Type de trame inconnu."), field="type")
            return
        await handler(frame)

    async def _on_send(self, frame: dict[str, Any]) -> None:
        client_id = frame.get("client_id")
        if not isinstance(client_id, str) or len(client_id) > 64:
            client_id = None  # echoed in error frames only when it can be a valid id
        try:
            result = await _send(self.user, self.conversation_id, frame.get("client_id"), frame.get("body"))
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                await self._error("invalid", " ".join(messages), field=field, client_id=client_id)
            return
        except services.RateLimited as exc:
            await self._error("rate_limited", str(exc.message), client_id=client_id, retry_after=exc.retry_after)
            return
        except services.ConversationClosed as exc:
            await self._error("conversation_ended", str(exc.message), client_id=client_id)
            await self._end(CLOSE_CONVERSATION_ENDED)
            return
        except PermissionDenied:
            await self._end(CLOSE_NOT_MEMBER)
            return
        payload, created = result
        await self._send_frame(
            {
                "type": "ack",
                "client_id": payload["client_id"],
                "id": payload["id"],
                "seq": payload["seq"],
                "created_at": payload["created_at"],
                "duplicate": not created,
            }
        )
        if created:
            # Committed (acknowledged) first, then the doorbell, carrying the stored row so that
            # receivers need not read it back. Best effort: a lost one is filled from the database.
            try:
                await self.channel_layer.group_send(self.group, {"type": "chat.message", "message": payload})
            except Exception:  # noqa: BLE001 - the database already holds the truth
                logger.warning("chat broadcast to conversation %s failed", self.conversation_id, exc_info=True)

    async def _on_resume(self, frame: dict[str, Any]) -> None:
        after_seq = frame.get("after_seq")
        if not _is_seq(after_seq):
            await self._error("invalid", _("after_seq doit être un entier positif ou nul."), field="after_seq")
            return
        await self._resume(after_seq)

    async def _on_read(self, frame: dict[str, Any]) -> None:
        up_to_seq = frame.get("up_to_seq")
        if not _is_seq(up_to_seq):
            await self._error("invalid", _("up_to_seq doit être un entier positif ou nul."), field="up_to_seq")
            return
        try:
            position = await _mark_read(self.user, self.conversation_id, up_to_seq)
        except PermissionDenied:
            await self._end(CLOSE_NOT_MEMBER)
            return
        await self._send_frame({"type": "read", "user_id": self.user.pk, "up_to_seq": position})

    async def _on_typing(self, frame: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self.last_typing < chat_setting("CHAT_TYPING_MIN_INTERVAL_SECONDS"):
            return  # ephemeral: extra typing frames are dropped, not errors
        self.last_typing = now
        await self.channel_layer.group_send(
            self.group, {"type": "chat.typing", "user_id": self.user.pk, "channel": self.channel_name}
        )

    async def _on_ping(self, frame: dict[str, Any]) -> None:
        await self._send_frame({"type": "pong"})

    # --- Group events ----------------------------------------------------------------------------

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self._deliver_up_to(event["message"]["seq"], event["message"])

    async def chat_read(self, event: dict[str, Any]) -> None:
        await self._send_frame({"type": "read", "user_id": event["user_id"], "up_to_seq": event["up_to_seq"]})

    async def chat_typing(self, event: dict[str, Any]) -> None:
        if event["user_id"] != self.user.pk:
            await self._send_frame({"type": "typing", "user_id": event["user_id"]})

    async def chat_closed(self, event: dict[str, Any]) -> None:
        await self._end(CLOSE_CONVERSATION_ENDED)

    async def chat_member_removed(self, event: dict[str, Any]) -> None:
        if event["user_id"] == self.user.pk:
            await self._end(CLOSE_NOT_MEMBER)

    # --- Delivery --------------------------------------------------------------------------------

    async def _deliver_up_to(self, seq: int, payload: dict[str, Any] | None = None) -> None:
        """Deliver every message up to ``seq`` not yet delivered on this socket, in order:
        missing ones from the database, then ``payload`` (the event's own message) if given."""
        async with self.deliver_lock:
            if seq <= self.delivered:
                return  # already delivered (by a gap fill or a resume)
            if seq > self.delivered + 1 or payload is None:
                await self._replay_locked(self.delivered, up_to=seq if payload is not None else None)
            if payload is not None and seq == self.delivered + 1:
                await self._send_frame({"type": "message", **payload})
                self.delivered = seq

    async def _replay_locked(self, after_seq: int, up_to: int | None = None) -> int:
        """Send messages after ``after_seq`` from the database (up to ``up_to`` excluded, or to the
        end), advance the delivered mark, return how many were sent."""
        page = chat_setting("CHAT_REPLAY_PAGE")
        sent = 0
        cursor = after_seq
        while True:
            rows = await _messages_after(self.conversation_id, cursor, page)
            for row in rows:
                if up_to is not None and row["seq"] >= up_to:
                    return sent
                await self._send_frame({"type": "message", **row})
                cursor = row["seq"]
                self.delivered = max(self.delivered, cursor)
                sent += 1
            if len(rows) < page:
                return sent

    async def _resume(self, after_seq: int) -> None:
        async with self.deliver_lock:
            await self._replay_locked(after_seq)
            await self._send_frame({"type": "resumed", "after_seq": after_seq, "last_seq": self.delivered})

    async def _heartbeat_loop(self) -> None:
        """Refresh presence, re-check membership (a lost "ended" doorbell still closes the socket
        within one period) and deliver anything a lost doorbell left behind."""
        interval = chat_setting("CHAT_HEARTBEAT_SECONDS")
        while True:
            await asyncio.sleep(interval)
            try:
                status, last_seq = await _heartbeat(self.channel_name, self.conversation_id, self.user.pk)
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the socket
                logger.warning("chat heartbeat failed", exc_info=True)
                continue
            if status == "ended":
                await self._end(CLOSE_CONVERSATION_ENDED)
                return
            if status == "removed":
                await self._end(CLOSE_NOT_MEMBER)
                return
            if last_seq > self.delivered:
                await self._deliver_up_to(last_seq)

    async def _end(self, code: int) -> None:
        """Close with ``code``; for an ended conversation, deliver what was committed first."""
        if code == CLOSE_CONVERSATION_ENDED:
            async with self.deliver_lock:
                await self._replay_locked(self.delivered)
        if self.heartbeat_task is not None and self.heartbeat_task is not asyncio.current_task():
            self.heartbeat_task.cancel()
        await self.close(code=code)

    # --- Output ----------------------------------------------------------------------------------

    async def _send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False, separators=(",", ":")))

    async def _error(self, code: str, message: str, **extra: Any) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        frame.update({k: v for k, v in extra.items() if v is not None})
        await self._send_frame(frame)
