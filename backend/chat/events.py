"""Payloads that travel on the channel layer and over the socket, and the after-commit doorbells.

Group names come from database ids only. Every broadcast here is best effort (channel layers
deliver at most once): consumers fill gaps from the database, clients resume by sequence number."""

from __future__ import annotations

import logging
from typing import TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

# Close codes (documented in docs/websocket.md).
CLOSE_NOT_MEMBER = 4403
CLOSE_CONVERSATION_ENDED = 4410
CLOSE_FRAME_TOO_LARGE = 1009


class MessagePayload(TypedDict):
    id: int
    seq: int
    sender_id: int | None
    client_id: str
    body: str
    created_at: str


class MessageEvent(TypedDict):
    type: str  # "chat.message"
    message: MessagePayload


class ReadEvent(TypedDict):
    type: str  # "chat.read"
    user_id: int
    up_to_seq: int


class TypingEvent(TypedDict):
    type: str  # "chat.typing"
    user_id: int
    channel: str


class ClosedEvent(TypedDict):
    type: str  # "chat.closed"


class MemberRemovedEvent(TypedDict):
    type: str  # "chat.member_removed"
    user_id: int


def conversation_group(conversation_id: int) -> str:
    return f"chat.conversation.{int(conversation_id)}"


def message_payload(message: object) -> MessagePayload:
    return {
        "id": message.pk,  # type: ignore[attr-defined]
        "seq": message.seq,  # type: ignore[attr-defined]
        "sender_id": message.sender_id,  # type: ignore[attr-defined]
        "client_id": message.client_id,  # type: ignore[attr-defined]
        "body": message.body,  # type: ignore[attr-defined]
        "created_at": message.created_at.isoformat(),  # type: ignore[attr-defined]
    }


def group_send_now(conversation_id: int, event: dict) -> None:
    """Ring the conversation's group. Never raises: a lost doorbell is recovered by resume and
    by the consumers' gap filling, while an exception here would fail a committed request."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(conversation_group(conversation_id), event)
    except Exception:  # noqa: BLE001 - the database already holds the truth
        logger.warning("chat broadcast to conversation %s failed", conversation_id, exc_info=True)


def broadcast_on_commit(conversation_id: int, event: dict) -> None:
    """Schedule the doorbell after the surrounding transaction commits (never inside it)."""
    transaction.on_commit(lambda: group_send_now(conversation_id, event))
