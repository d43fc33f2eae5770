"""Throttles of sign-in and of the API, shared by the API views and the login page.

Password guessing is slowed three ways, none of which lets an attacker lock a victim out:

- every login attempt counts against the caller's address (``login`` rate, e.g. 10/min);
- failed attempts count per (account, address): past ``LOGIN_FAILURES_PER_ACCOUNT_ADDRESS``
  failures in ``LOGIN_FAILURE_WINDOW_SECONDS`` that address may not try that account any more,
  while the account's owner, from any other address, still signs in;
- failed attempts count per address, whatever the account (``LOGIN_FAILURES_PER_ADDRESS``),
  against one address trying many accounts.

There is deliberately no per-account lock: it would let anyone lock anyone out. Every refusal
says when to come back (``Retry-After``). Counters live in the cache (Redis in production,
shared by every process); the account's e-mail is hashed in the cache key."""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import threading
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from rest_framework.throttling import (
    AnonRateThrottle,
    BaseThrottle,
    SimpleRateThrottle,
    UserRateThrottle,
)

THROTTLED_MESSAGE = _("Trop de tentatives. Réessayez dans quelques minutes.")


def client_address(request: Any) -> str:
    """The client's address as DRF's throttles see it (``NUM_PROXIES`` behind the proxy)."""
    return BaseThrottle().get_ident(request)


class _AlwaysWait:
    """DRF returns ``wait() is None`` when the history is over the limit; a 429 must always
    say when to retry, so fall back to the whole window."""

    def wait(self) -> float:  # type: ignore[override]
        value = super().wait()  # type: ignore[misc]
        return value if value is not None else float(self.duration)  # type: ignore[attr-defined]


class LoginAddressThrottle(_AlwaysWait, SimpleRateThrottle):
    """Every login attempt of an address (API login, token and the login page share it)."""

    scope = "login"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class ScopedAddressThrottle(_AlwaysWait, SimpleRateThrottle):
    """Per-address throttle of one named scope, for anonymous endpoints (registration, reset)."""

    def __init__(self) -> None:  # the scope is given by the view, as with ScopedRateThrottle
        pass

    def allow_request(self, request: Any, view: Any) -> bool:
        self.scope = getattr(view, "throttle_scope", None) or ""
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class _PageScopeThrottle(_AlwaysWait, SimpleRateThrottle):
    """A scope's per-address throttle for pages, with the same cache key as the API's
    ``ScopedRateThrottle``: a page and its API endpoint share one budget."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__()

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def page_rate_retry_after(request: Any, scope: str) -> float | None:
    """Count one POST of a page against ``scope``; the seconds to wait if over the rate."""
    throttle = _PageScopeThrottle(scope)
    return None if throttle.allow_request(request, None) else throttle.wait()


class ThrottledFormPageMixin:
    """For a form page (``FormView``) whose POST the API also offers: same scope, same budget,
    429 with ``Retry-After`` and the form shown again, unvalidated."""

    throttle_scope = ""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = page_rate_retry_after(request, self.throttle_scope)
        if wait is not None:
            kwargs = {k: v for k, v in self.get_form_kwargs().items() if k not in ("data", "files")}  # type: ignore[attr-defined]
            form = self.get_form_class()(**kwargs)  # type: ignore[attr-defined]  (unbound: not validated)
            form.cleaned_data = {}  # add_error expects a validated form; this one never will be
            form.add_error(None, str(THROTTLED_MESSAGE))
            response = self.render_to_response(self.get_context_data(form=form), status=429)  # type: ignore[attr-defined]
            return retry_after_header(response, wait)
        return super().post(request, *args, **kwargs)  # type: ignore[misc]


# --- The API's per-call throttles, in one Redis round trip ---------------------------------------

# DRF's SimpleRateThrottle keeps each key's history as a pickled list of timestamps: a GET and a
# SET per API call (two round trips, and up to ``THROTTLE_USER`` timestamps pickled both ways).
# On Redis the same sliding window is a sorted set, checked and updated by this script in one
# round trip, with DRF's semantics: timestamps older than the window drop out, a refused call is
# not recorded, and ``wait()`` is computed from the count and the oldest timestamp as DRF does.
_WINDOW_SCRIPT = """
local key, now, duration, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - duration)
local n = redis.call('ZCARD', key)
if n >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {0, n, oldest[2]}
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('EXPIRE', key, math.ceil(duration))
return {1, n + 1, '0'}
"""

_redis_lock = threading.Lock()
_redis_script: dict[str, Any] = {}
_member_counter = itertools.count()


def _window_script() -> Any:
    """The registered script on a client of the cache's Redis (one per process), or None when the
    cache is not Redis (development, most tests: DRF's own history in the cache then)."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend not in ("accounts.redis_cache.RedisCache", "django.core.cache.backends.redis.RedisCache"):
        return None
    location = settings.CACHES["default"]["LOCATION"]
    script = _redis_script.get(location)
    if script is None:
        import redis

        with _redis_lock:
            script = _redis_script.get(location)
            if script is None:
                client = redis.Redis.from_url(location, socket_timeout=2, socket_connect_timeout=2)
                script = _redis_script[location] = client.register_script(_WINDOW_SCRIPT)
    return script


class _RedisWindow:
    """``allow_request`` of DRF's SimpleRateThrottle in one Redis round trip (see above)."""

    def allow_request(self, request: Any, view: Any) -> bool:
        script = _window_script()
        if script is None:
            return super().allow_request(request, view)  # type: ignore[misc, no-any-return]
        if self.rate is None:  # type: ignore[attr-defined]
            return True
        self.key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if self.key is None:
            return True
        self.now = self.timer()  # type: ignore[attr-defined]
        member = f"{self.now!r}:{os.getpid()}:{next(_member_counter)}"
        allowed, count, oldest = script(
            keys=[cache.make_key(f"zw:{self.key}")],
            args=[repr(self.now), self.duration, self.num_requests, member],  # type: ignore[attr-defined]
        )
        if allowed:
            return True
        # What DRF's wait() reads: the history's length and its oldest entry (last).
        self.history = [float(oldest)] * int(count)
        return False


class UserThrottle(_RedisWindow, _AlwaysWait, UserRateThrottle):
    """The API per signed-in user (``user`` rate); anonymous callers fall to ``AnonThrottle``."""

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class AnonThrottle(_RedisWindow, _AlwaysWait, AnonRateThrottle):
    """The API per address for anonymous callers (``anon`` rate)."""


class GdprThrottle(_AlwaysWait, UserRateThrottle):
    """Export and erasure re-check the password: a stolen session must not guess it quickly."""

    scope = "gdpr"


# --- Failed sign-ins ------------------------------------------------------------------------------


def _window() -> int:
    return int(settings.LOGIN_FAILURE_WINDOW_SECONDS)


class LoginGuard:
    """Failure counters of one sign-in attempt: per (account, address) and per address."""

    def __init__(self, request: Any, email: str) -> None:
        self.address = client_address(request)
        digest = hashlib.sha256(f"{(email or '').strip().lower()}|{self.address}".encode()).hexdigest()[:32]
        self.pair_key = f"login-fail:pair:{digest}"
        self.address_key = f"login-fail:addr:{self.address}"

    @staticmethod
    def _recent(key: str, now: float) -> list[float]:
        return [t for t in cache.get(key, []) if t > now - _window()]

    def retry_after(self) -> int | None:
        """Seconds to wait before this address may try this account again, or None."""
        now = time.time()
        waits = []
        for key, limit in (
            (self.pair_key, settings.LOGIN_FAILURES_PER_ACCOUNT_ADDRESS),
            (self.address_key, settings.LOGIN_FAILURES_PER_ADDRESS),
        ):
            recent = self._recent(key, now)
            if len(recent) >= limit:
                # Free again when the oldest failure that keeps it at the limit leaves the window.
                oldest = sorted(recent)[len(recent) - limit]
                waits.append(max(1, math.ceil(oldest + _window() - now)))
        return max(waits) if waits else None

    def failed(self) -> None:
        now = time.time()
        for key in (self.pair_key, self.address_key):
            cache.set(key, [*self._recent(key, now), now], _window())

    def succeeded(self) -> None:
        # The owner proved the password from this address: that pair starts afresh. The address
        # counter is kept (one success must not reset guessing of other accounts).
        cache.delete(self.pair_key)


class LoginThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def authenticate_guarded(request: Any, *, email: str, password: str) -> Any:
    """``authenticate`` behind the failure counters: raises ``LoginThrottled`` when this address
    may not try this account now; returns the user or None, and counts the outcome."""
    guard = LoginGuard(request, email)
    wait = guard.retry_after()
    if wait is not None:
        raise LoginThrottled(wait)
    user = authenticate(getattr(request, "_request", request), username=(email or "").strip().lower(),
                        password=password)
    if user is None:
        guard.failed()
    else:
        guard.succeeded()
    return user


def retry_after_header(response: HttpResponse, seconds: float) -> HttpResponse:
    response["Retry-After"] = str(max(1, math.ceil(seconds)))
    return response


class ThrottledLoginPageMixin:
    """For ``django.contrib.auth.views.LoginView``: the login page obeys the same address rate
    and failure counters as the API (429 with ``Retry-After``, the form shown again)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        address = LoginAddressThrottle()
        if not address.allow_request(request, self):
            return self._throttled(address.wait())
        wait = LoginGuard(request, request.POST.get("username", "")).retry_after()
        if wait is not None:
            return self._throttled(wait)
        return super().post(request, *args, **kwargs)  # type: ignore[misc]

    def _throttled(self, seconds: float) -> HttpResponse:
        # An unbound form: this attempt is not validated, so the password is not even checked.
        form = self.get_form_class()(  # type: ignore[attr-defined]
            self.request, initial={"username": self.request.POST.get("username", "")}  # type: ignore[attr-defined]
        )
        form.cleaned_data = {}  # add_error expects a validated form; this one never will be
        form.add_error(None, str(THROTTLED_MESSAGE))
        response = self.render_to_response(self.get_context_data(form=form), status=429)  # type: ignore[attr-defined]
        return retry_after_header(response, seconds)

    def form_invalid(self, form: Any) -> HttpResponse:
        LoginGuard(self.request, self.request.POST.get("username", "")).failed()  # type: ignore[attr-defined]
        return super().form_invalid(form)  # type: ignore[misc]

    def form_valid(self, form: Any) -> HttpResponse:
        from audit.services import audit_record

        LoginGuard(self.request, self.request.POST.get("username", "")).succeeded()  # type: ignore[attr-defined]
        response = super().form_valid(form)  # type: ignore[misc]  (logs in: the session key rotates)
        user = form.get_user()
        audit_record(actor=user, action="account.login", target=user, request=self.request,  # type: ignore[attr-defined]
                     data={"via": "page"})
        return response
