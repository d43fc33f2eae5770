"""The API's per-call throttles on Redis (accounts/throttling.py): DRF's sliding window kept as a
sorted set and checked in one round trip, with DRF's semantics, compared with DRF's own
implementation (the pickled history in the cache) on the same sequence of calls."""

from __future__ import annotations

import pytest
from rest_framework.throttling import SimpleRateThrottle

from accounts import throttling
from tests.conftest import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _run(monkeypatch, user, *, use_script: bool) -> list[tuple[int, str | None]]:
    from django.core.cache import cache

    cache.clear()
    clock = Clock()
    monkeypatch.setattr(throttling.UserThrottle, "timer", lambda self: clock())
    if not use_script:
        monkeypatch.setattr(throttling, "_window_script", lambda: None)
    api = client_for(user)
    seen = []
    for step in [0, 1, 1, 1, 10, 20, 29, 31, 0.5, 60, 1]:
        clock.now += step
        response = api.get("/api/me/")
        seen.append((response.status_code, response.get("Retry-After")))
    return seen


def test_the_redis_window_behaves_as_drf(monkeypatch, entrepreneur):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "user", "3/min")
    assert throttling._window_script() is not None  # Redis: the script is used
    with_script = _run(monkeypatch, entrepreneur, use_script=True)
    monkeypatch.undo()
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "user", "3/min")
    drf = _run(monkeypatch, entrepreneur, use_script=False)
    assert with_script == drf
    statuses = [status for status, _ in with_script]
    assert statuses[:3] == [200] * 3 and statuses[3] == 429  # the 4th call within the minute
    assert 200 in statuses[4:] and 429 in statuses[4:]


def test_a_refused_call_is_not_recorded(monkeypatch, entrepreneur):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "user", "2/min")
    clock = Clock()
    monkeypatch.setattr(throttling.UserThrottle, "timer", lambda self: clock())
    api = client_for(entrepreneur)
    assert [api.get("/api/me/").status_code for _ in range(2)] == [200, 200]
    for _ in range(5):
        clock.now += 1
        refused = api.get("/api/me/")
        assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    clock.now += 56  # 61 s after the first two calls: both left the window, the refusals never entered
    assert api.get("/api/me/").status_code == 200
