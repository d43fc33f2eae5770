"""Structured logs: one JSON object per line, each carrying the request id of its request.

What a line may hold is decided here, not at each call site: the time, level, logger, the
message, the request id, the process, and a short list of known request fields (method, route,
status, duration, user id). Arbitrary ``extra`` values (Django attaches the whole request object
to ``django.request`` records) are never serialised, and Django's request warnings lose their
path, which can carry a password-reset token. Request bodies, query strings and headers are
never logged, so neither are message texts, passwords or tokens.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import uuid
from datetime import UTC, datetime

#: The id of the request being served in this context (thread or task), or None outside one.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# What a caller may send as X-Request-ID: enough for UUIDs and proxies' ids, nothing that could
# forge a log line or smuggle data (no spaces, quotes, newlines).
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

#: Record attributes copied to the JSON line when a call site sets them through ``extra``.
REQUEST_FIELDS = ("method", "route", "status", "duration_ms", "user_id")

# Django's request loggers format "%s: %s" % (reason phrase, request.path); the path may hold
# a token (password reset links), so only the reason phrase is kept.
_PATH_LOGGERS = {"django.request", "django.server", "django.channels.server"}


def new_request_id() -> str:
    return uuid.uuid4().hex


def clean_request_id(value: str | None) -> str:
    """The caller's id when it is well-formed (to follow a request across proxies), else a new one."""
    if value and _REQUEST_ID_RE.match(value):
        return value
    return new_request_id()


class RequestIdFilter(logging.Filter):
    """Attach the current request id to every record (on a handler, so all loggers get it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        if request_id is None:
            # Django logs 4xx/5xx responses after the middleware chain has returned, with the
            # request attached: take the id the middleware stored on it.
            request_id = getattr(getattr(record, "request", None), "request_id", None)
        record.request_id = request_id
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _safe_message(record),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "pid": os.getpid(),
        }
        for name in REQUEST_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.name in _PATH_LOGGERS and hasattr(record, "status_code"):
            entry["status"] = record.status_code
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Development: one readable line, with the same fields as the JSON line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = _safe_message(record)
        line = super().formatMessage(record)
        fields = [f"{name}={getattr(record, name)}" for name in REQUEST_FIELDS if getattr(record, name, None) is not None]
        return f"{line} {' '.join(fields)}" if fields else line


def _safe_message(record: logging.LogRecord) -> str:
    if record.name in _PATH_LOGGERS and record.msg == "%s: %s" and isinstance(record.args, tuple):
        return str(record.args[0])
    try:
        return record.getMessage()
    except Exception:  # a bad format string must not lose the line
        return str(record.msg)


def logging_config(*, fmt: str, level: str) -> dict[str, object]:
    """The LOGGING setting: ``fmt`` is "json" (production default) or "text" (development)."""
    formatter = {"()": "config.logging.JsonFormatter" if fmt == "json" else "config.logging.TextFormatter"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "config.logging.RequestIdFilter"}},
        "formatters": {"main": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # Django's own console handler for these would bypass the formatter above.
            "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }
