"""The security and privacy trail for administrators: every audit entry, with the address it came
from. (Coordinators read their territories' decisions at /api/audit/, without addresses.)"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django_filters import rest_framework as filters
from rest_framework import generics, permissions, serializers

from audit.models import AuditEvent
from config.response_cache import ResponseCacheMixin


class IsAdministrator(permissions.BasePermission):
    message = "Réservé aux administrateurs."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_administrator)


class AuditTrailSerializer(serializers.ModelSerializer):
    at = serializers.DateTimeField(default_timezone=dt.UTC, read_only=True)
    data = serializers.JSONField(read_only=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "actor_label", "action", "target_type", "target_id", "territory_id",
                  "reason_code", "reason", "data", "ip"]
        read_only_fields = fields


class AuditTrailFilter(filters.FilterSet):
    action = filters.CharFilter()
    action_prefix = filters.CharFilter(field_name="action", lookup_expr="startswith")
    actor = filters.NumberFilter(field_name="actor_id")
    target_type = filters.CharFilter()
    target_id = filters.NumberFilter()
    ip = filters.CharFilter()
    since = filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    until = filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "target_type", "target_id", "ip"]


class AuditTrailView(ResponseCacheMixin, generics.ListAPIView):
    """Who did what, when (UTC) and from where: logins, registrations, consents, role and
    territory changes, coordinators' decisions, data exports and erasures. Administrators only."""

    permission_classes = [IsAdministrator]
    serializer_class = AuditTrailSerializer
    filterset_class = AuditTrailFilter
    ordering_fields = ["at", "id"]
    ordering = ["-at", "-id"]
    queryset = AuditEvent.objects.all()
