"""GDPR endpoints of the signed-in user: export and erasure, each behind a password re-check."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import logout
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.gdpr import user_erase, user_export
from accounts.throttling import GdprThrottle


class PasswordConfirmSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})

    def validate_password(self, value: str) -> str:
        if not self.context["request"].user.check_password(value):
            raise serializers.ValidationError(_("Mot de passe incorrect."))
        return value


class EraseSerializer(PasswordConfirmSerializer):
    confirm = serializers.BooleanField(help_text="Must be true: the erasure cannot be undone.")

    def validate_confirm(self, value: bool) -> bool:
        if value is not True:
            raise serializers.ValidationError(_("Confirmez l'effacement : il est définitif."))
        return value


class MyDataExportView(APIView):
    """All the data the platform holds about the caller, as one JSON document (GDPR art. 15, 20)."""

    throttle_classes = [GdprThrottle]

    @extend_schema(
        request=PasswordConfirmSerializer,
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="The export (sociallab-export/1).")},
    )
    def post(self, request: Request) -> Response:
        PasswordConfirmSerializer(data=request.data, context={"request": request}).is_valid(raise_exception=True)
        data = user_export(user=request.user, actor=request.user, request=request)
        stamp = timezone.now().astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        response = Response(data)
        response["Content-Disposition"] = f'attachment; filename="sociallab-export-{stamp}.json"'
        response["Cache-Control"] = "no-store"
        return response


class MyAccountEraseView(APIView):
    """Erase the caller's account (GDPR art. 17): irreversible; the session ends."""

    throttle_classes = [GdprThrottle]

    @extend_schema(request=EraseSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        EraseSerializer(data=request.data, context={"request": request}).is_valid(raise_exception=True)
        user_erase(user=request.user, actor=request.user, request=request)
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)
