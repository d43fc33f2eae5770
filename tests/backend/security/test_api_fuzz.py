"""API fuzzing with schemathesis against /api/schema/, through the WSGI application, signed in as
each role (by API token) and anonymous: valid and invalid data for every operation; no response is
a 5xx, and every documented response conforms to its schema.

Bounded: ``FUZZ_EXAMPLES`` examples per operation, role and mode (positive, negative), and a time
budget (``FUZZ_BUDGET_SECONDS``, 75 s by default; every operation is called for every role with valid data first, then with invalid data) after which the remaining cases are skipped and
the test reports how far it went. Failures are collected (not shrunk) and listed together."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.throttling import SimpleRateThrottle
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1"))
BUDGET_SECONDS = float(os.environ.get("FUZZ_BUDGET_SECONDS", "75"))
ROLES = ["anonymous", "eugenie", "mentor", "company", "coordinator", "administrator"]
# Operations that would end the caller's own session for the rest of the run: their access is in
# the URL matrix, their input handling in the tests of their apps.
SKIPPED = {("POST", "/api/auth/logout/")}
# Known nonconformances, reported to their owners; tolerated here (not required) so that any new
# failure still fails the test. Remove an entry once fixed.
KNOWN = {
    # cycles/api/serializers.py CycleSerializer.territory: an administrator's all-territories cycle
    # has territory null, the schema says string (needs allow_null=True on the read-only field).
    ("POST /api/cycles/", "null is not of type"),
    ("GET /api/cycles/", "null is not of type"),
    ("PATCH /api/cycles/{id}/", "null is not of type"),
}


def _known(failure: str) -> bool:
    return any(f" {operation} -> " in failure and fragment in failure for operation, fragment in KNOWN)


@pytest.fixture
def fuzz_world(world, monkeypatch):
    from rest_framework.authtoken.models import Token

    # Throttles would answer 429 (undocumented) after a few hundred calls: they have their own tests.
    for scope in ("login", "register", "password_reset", "user", "anon", "gdpr"):
        monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, scope, "1000000/min")
    users = {"eugenie": world.eugenie, "mentor": world.mentor, "company": world.company,
             "coordinator": world.coordinator, "administrator": world.administrator}
    tokens = {name: Token.objects.get_or_create(user=user)[0].key for name, user in users.items()}
    return tokens


def _summary(exc: BaseException) -> str:
    parts = []
    for sub in getattr(exc, "exceptions", [exc]):
        lines = [line.strip() for line in str(sub).splitlines() if line.strip()]
        parts.append(f"{type(sub).__name__}: {' / '.join(lines[:2])[:240]}")
    return "; ".join(parts)


def test_no_operation_answers_5xx_or_breaks_its_schema_for_any_role(fuzz_world):
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60, "the schema lists too few operations"

    failures: list[str] = []
    calls = 0
    started = time.monotonic()
    covered: set[tuple[str, str]] = set()

    def run(operation: Any, headers: dict[str, str], mode: GenerationMode, role: str) -> None:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def one(case: Any) -> None:
            nonlocal calls
            if time.monotonic() - started > BUDGET_SECONDS:
                return
            response = case.call(headers=headers)
            calls += 1
            try:
                case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
            except (AssertionError, BaseExceptionGroup) as exc:  # a check failed: collect, go on
                failures.append(f"{role} {mode.value} {case.method} {operation.path} -> "
                                f"{response.status_code}: {_summary(exc)}")

        try:
            one()
        except Unsatisfiable:  # nothing to make invalid (an operation without input): positive covers it
            pass

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for role in ROLES:
            headers = {} if role == "anonymous" else {"Authorization": f"Token {fuzz_world[role]}"}
            for operation in operations:
                if (operation.method.upper(), operation.path) in SKIPPED:
                    continue
                if time.monotonic() - started > BUDGET_SECONDS:
                    break
                run(operation, headers, mode, role)
                covered.add((operation.method.upper(), operation.path))

    elapsed = time.monotonic() - started
    print(f"\nfuzz: {calls} calls over {len(covered)} operations, 6 roles, 2 modes, in {elapsed:.0f} s")
    distinct = sorted({f for f in failures if not _known(f)})
    if len(distinct) != len(set(failures)):
        print("known, tolerated:", sorted({f for f in failures if _known(f)}))
    assert not distinct, f"{len(distinct)} failing cases:\n" + "\n".join(distinct[:60])
    assert calls >= len(operations), "the budget ran out before each operation was called once"
