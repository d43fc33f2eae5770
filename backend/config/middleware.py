"""Request id and access log: first in MIDDLEWARE, so every later log line of a request has it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.functional import empty

from config.logging import clean_request_id, request_id_var

access_logger = logging.getLogger("sociallab.request")

REQUEST_ID_HEADER = "X-Request-ID"
_HEALTH_PATHS = {"/healthz", "/readyz"}


class RequestIdMiddleware:
    """Take the caller's X-Request-ID (the proxy's or a client's) or make one, bind it to the
    logs of this request, return it in the response, and write one access line.

    The access line names the matched view (``request-detail``, or the URL pattern of an unnamed
    one), never the path or the query string: paths and queries can carry tokens.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = clean_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            self._log(request, response.status_code, started)
            return response
        finally:
            request_id_var.reset(token)

    @staticmethod
    def _log(request: HttpRequest, status: int, started: float) -> None:
        if request.path in _HEALTH_PATHS and status == 200:
            return  # probes every few seconds would drown the real traffic
        match = getattr(request, "resolver_match", None)
        if match is not None:
            route = match.view_name or match.route
        elif request.path.startswith(settings.STATIC_URL):
            route = "static"
        else:
            route = "unmatched"
        user = _loaded_user(request)
        access_logger.info(
            "request",
            extra={
                "method": request.method,
                "route": route,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "user_id": user.pk if getattr(user, "is_authenticated", False) else None,
            },
        )


def _loaded_user(request: HttpRequest) -> object | None:
    """The user if something already loaded it; never a query of its own (query budgets)."""
    user = request.__dict__.get("user")
    wrapped = getattr(user, "_wrapped", user)
    return None if wrapped is empty else wrapped
