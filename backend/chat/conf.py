"""Chat tunables, read once from the environment with the project's loud helpers.

They live here rather than in ``config/settings.py`` so the chat app owns them; each can still be
overridden by a Django setting of the same name (tests use ``settings`` fixtures)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from config.env import env_int

_DEFAULTS: dict[str, Any] = {
    # Plain text only; the database has the same limit as a CHECK constraint.
    "CHAT_MESSAGE_MAX_CHARS": 4000,
    # Frames above this size are refused and the socket is closed with 1009 (hostile input).
    "CHAT_FRAME_MAX_BYTES": 64 * 1024,
    # Per-user send rate: at most N new messages in any window of W seconds, socket and REST
    # together (counted from the stored messages, in the send statement: chat.services).
    "CHAT_RATE_LIMIT_MESSAGES": env_int("CHAT_RATE_LIMIT_MESSAGES", 30, minimum=1),
    "CHAT_RATE_LIMIT_WINDOW_SECONDS": env_int("CHAT_RATE_LIMIT_WINDOW_SECONDS", 10, minimum=1),
    # Each socket refreshes its presence row and re-checks membership this often; a socket whose
    # row is older than PRESENCE_TTL counts as gone (its disconnect() may never have run).
    "CHAT_HEARTBEAT_SECONDS": env_int("CHAT_HEARTBEAT_SECONDS", 20, minimum=1),
    "CHAT_PRESENCE_TTL_SECONDS": env_int("CHAT_PRESENCE_TTL_SECONDS", 60, minimum=2),
    # At most one e-mail per member and conversation in this window.
    "CHAT_NOTIFY_EVERY_SECONDS": env_int("CHAT_NOTIFY_EVERY_SECONDS", 15 * 60, minimum=0),
    # Typing events are ephemeral; at most one per socket in this interval is relayed.
    "CHAT_TYPING_MIN_INTERVAL_SECONDS": 2,
    # Messages replayed per database round trip on resume.
    "CHAT_REPLAY_PAGE": 200,
}


def chat_setting(name: str) -> Any:
    return getattr(settings, name, _DEFAULTS[name])
