from __future__ import annotations

from typing import Any

from django.db import models

from audit.models import AuditEvent


def client_ip(request: Any) -> str | None:
    if request is None:
        return None
    meta = getattr(request, "META", None) or {}
    return meta.get("REMOTE_ADDR") or None


def audit_record(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    territory_id: int | None = None,
    reason_code: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
    request: Any = None,
) -> AuditEvent:
    """Record one decision or security event. Call it inside the transaction of the change it
    describes, so that the change and its record commit (or roll back) together."""
    actor_obj = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=actor_obj,
        actor_label=(f"{actor_obj.display_name} ({actor_obj.role})" if actor_obj else "system"),
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=target.pk if target is not None else None,
        territory_id=territory_id,
        reason_code=reason_code,
        reason=reason,
        data=data or {},
        ip=client_ip(request),
    )
