"""Security headers for the pages: a Content-Security-Policy without inline script.

Django 5.2 has no built-in CSP. The policy is small and fixed, so a dozen lines beat a dependency:
every script and style is a same-origin file, nothing inline, nothing framed."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

DEFAULT_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    # WebSockets of the chat: 'self' covers ws(s) to the same host in CSP 3, but older engines
    # only honour an explicit scheme, so the host is added per request (see below).
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    # Clickjacking: the modern equivalent of X-Frame-Options: DENY (which is also sent).
    "frame-ancestors": ["'none'"],
}


def build_policy(request: HttpRequest) -> str:
    policy = {key: list(values) for key, values in DEFAULT_POLICY.items()}
    for key, values in getattr(settings, "CONTENT_SECURITY_POLICY_EXTRA", {}).items():
        policy.setdefault(key, []).extend(values)
    try:
        host = request.get_host()
    except Exception:  # DisallowedHost: CommonMiddleware answers 400 anyway; keep the header sane
        host = ""
    if host:
        scheme = "wss" if request.is_secure() else "ws"
        policy["connect-src"].append(f"{scheme}://{host}")
    return "; ".join(f"{key} {' '.join(values)}" for key, values in policy.items())


class ContentSecurityPolicyMiddleware:
    """Adds ``Content-Security-Policy`` to every response that has none, except the API's
    interactive docs (Swagger UI is loaded from a CDN with an inline bootstrap script)."""

    exempt_prefixes = ("/api/docs/",)

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response and not request.path.startswith(self.exempt_prefixes):
            response["Content-Security-Policy"] = build_policy(request)
        return response
