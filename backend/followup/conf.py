"""Follow-up tunables, read once from the environment with the project's loud helpers.

Each can be overridden by a Django setting of the same name (tests use ``settings`` fixtures)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.env import env_int, env_list


def _days(name: str, default: list[str]) -> tuple[int, ...]:
    raw = env_list(name, default)
    try:
        days = tuple(sorted({int(d) for d in raw}))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} must be a comma-separated list of days") from exc
    if not days or days[0] < 1:
        raise ImproperlyConfigured(f"{name}={raw!r} must list positive numbers of days")
    return days

_DEFAULTS: dict[str, Any] = {
    # An active pair is stalled after this many days with no message and no meeting.
    "FOLLOWUP_STALLED_DAYS": env_int("FOLLOWUP_STALLED_DAYS", 21, minimum=1, maximum=365),
    # Days after publication at which a party that has not answered a proposal is reminded.
    "FOLLOWUP_PROPOSAL_REMINDER_DAYS": _days("FOLLOWUP_PROPOSAL_REMINDER_DAYS", ["3", "7", "14"]),
    # A coordinator may nudge one pair at most once in this many hours (double clicks, two
    # coordinators at once).
    "FOLLOWUP_NUDGE_MIN_INTERVAL_HOURS": env_int("FOLLOWUP_NUDGE_MIN_INTERVAL_HOURS", 24, minimum=0),
    # Outbox delivery: attempts before a message is given up, and the exponential backoff
    # (base * 2**(attempt-1), capped).
    "OUTBOX_MAX_ATTEMPTS": env_int("OUTBOX_MAX_ATTEMPTS", 8, minimum=1, maximum=50),
    "OUTBOX_BACKOFF_BASE_SECONDS": env_int("OUTBOX_BACKOFF_BASE_SECONDS", 60, minimum=1),
    "OUTBOX_BACKOFF_MAX_SECONDS": env_int("OUTBOX_BACKOFF_MAX_SECONDS", 6 * 3600, minimum=1),
    # A claimed message whose worker has not finished within this lease may be claimed again
    # (the worker died between the claim and the result).
    "OUTBOX_LEASE_SECONDS": env_int("OUTBOX_LEASE_SECONDS", 300, minimum=10),
    "OUTBOX_BATCH": env_int("OUTBOX_BATCH", 200, minimum=1, maximum=10_000),
    # Reports hide every count below this threshold (statistical secrecy).
    "REPORT_MIN_COUNT": 5,
}


def followup_setting(name: str) -> Any:
    return getattr(settings, name, _DEFAULTS[name])
