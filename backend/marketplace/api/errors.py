"""One error shape for the whole API: DRF's ``{"field": ["message"]}`` for validation errors,
``{"detail": "..."}`` otherwise. Django ``ValidationError`` raised by services becomes a 400
naming the field, ``PermissionDenied`` a 403, and an ``IntegrityError`` that escaped the
services' checks a 409: never a 500 for bad input."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This change conflicts with the current state."
    default_code = "conflict"


def _django_validation_detail(exc: DjangoValidationError) -> Any:
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for m in errors] for field, errors in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_validation_detail(exc))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, IntegrityError):
        exc = Conflict()
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == 429 and "Retry-After" not in response:
        # DRF omits the header when a throttle cannot compute a wait; a client must always be
        # told when to come back (docs/security.md, "Throttling").
        response["Retry-After"] = "60"
    return response
