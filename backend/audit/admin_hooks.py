"""Audit records of what administrators change in the Django admin: roles and rights of accounts,
coordinators' territories, towns moved between territories. Called from the ModelAdmin save and
delete hooks (never signals), inside the admin's transaction, so the change and its record commit
together."""

from __future__ import annotations

from typing import Any

from audit.services import audit_record

TRACKED_USER_FIELDS = ("role", "is_active", "is_staff", "is_superuser", "email_verified")


def user_rights_snapshot(user_id: int | None) -> dict[str, Any] | None:
    from accounts.models import User

    if user_id is None:
        return None
    return User.objects.filter(pk=user_id).values(*TRACKED_USER_FIELDS).first()


def record_user_saved(*, request: Any, user: Any, before: dict[str, Any] | None) -> None:
    if before is None:
        audit_record(actor=request.user, action="account.create", target=user, request=request,
                     data={field: getattr(user, field) for field in TRACKED_USER_FIELDS})
        return
    diff = {
        field: {"from": before[field], "to": getattr(user, field)}
        for field in TRACKED_USER_FIELDS
        if before[field] != getattr(user, field)
    }
    if diff:
        audit_record(actor=request.user, action="account.role_change", target=user, request=request, data=diff)


def permissions_snapshot(user: Any) -> dict[str, list[str]]:
    return {
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "permissions": sorted(user.user_permissions.values_list("codename", flat=True)),
    }


def record_permissions_change(*, request: Any, user: Any, before: dict[str, list[str]]) -> None:
    after = permissions_snapshot(user)
    if after != before:
        audit_record(actor=request.user, action="account.permissions_change", target=user, request=request,
                     data={"from": before, "to": after})


def scopes_snapshot(user_id: int | None) -> set[str]:
    from marketplace.models import CoordinatorScope

    if user_id is None:
        return set()
    return set(CoordinatorScope.objects.filter(user_id=user_id).values_list("territory__code", flat=True))


def record_scopes_change(*, request: Any, user_id: int, before: set[str]) -> None:
    from accounts.models import User

    after = scopes_snapshot(user_id)
    if after == before:
        return
    user = User.objects.get(pk=user_id)
    audit_record(actor=request.user, action="coordinator.territories_change", target=user, request=request,
                 data={"added": sorted(after - before), "removed": sorted(before - after), "now": sorted(after)})


def record_town_saved(*, request: Any, town: Any, before_territory_id: int | None, created: bool) -> None:
    if created:
        audit_record(actor=request.user, action="town.create", target=town, territory_id=town.territory_id,
                     request=request, data={"insee_code": town.insee_code, "territory": town.territory_id})
    elif before_territory_id != town.territory_id:
        audit_record(actor=request.user, action="town.territory_change", target=town,
                     territory_id=town.territory_id, request=request,
                     data={"insee_code": town.insee_code, "from": before_territory_id, "to": town.territory_id})


def record_territory_saved(*, request: Any, territory: Any, created: bool, changed: list[str]) -> None:
    if created or changed:
        audit_record(actor=request.user, action="territory.create" if created else "territory.change",
                     target=territory, territory_id=territory.pk, request=request,
                     data={"code": territory.code, "changed": changed})


def record_deleted(*, request: Any, action: str, obj: Any, data: dict[str, Any]) -> None:
    audit_record(actor=request.user, action=action, request=request, data={"id": obj.pk, **data})
