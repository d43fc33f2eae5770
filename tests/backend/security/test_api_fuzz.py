"""API fuzzing with schemathesis against /api/schema/, through the WSGI application, signed in as
each role (by API token) and anonymous: valid and invalid data for every operation; no response is
a 5xx, and every documented response conforms to its schema.

Bounded: ``FUZZ_EXAMPLES`` examples per operation, role and mode (positive, negative), and a time
budget (``FUZZ_BUDGET_SECONDS``, 60 s by default; a first pass calls every operation for every role, alternating valid and invalid data, a second pass swaps them) after which the remaining cases are skipped and
the test reports how far it went. Failures are collected (not shrunk) and listed together."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import schemathesis
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.throttling import SimpleRateThrottle
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1"))
BUDGET_SECONDS = float(os.environ.get("FUZZ_BUDGET_SECONDS", "60"))
ROLES = ["anonymous", "eugenie", "mentor", "company", "coordinator", "administrator"]
# Operations that would end the caller's own session for the rest of the run: their access is in
# the URL matrix, their input handling in the tests of their apps.
SKIPPED = {("POST", "/api/auth/logout/")}
# Known nonconformances, reported to their owners; tolerated here (not required) so that any new
# failure still fails the test. Remove an entry once fixed.
# Schema mismatches known and tolerated (operation, fragment of the failure): none today.
KNOWN: set[tuple[str, str]] = set()


def _known(failure: str) -> bool:
    return any(f" {operation} -> " in failure and fragment in failure for operation, fragment in KNOWN)


@pytest.fixture
def fuzz_world(world, monkeypatch, request):
    from rest_framework.authtoken.models import Token

    # Throttles would answer 429 (undocumented) after a few hundred calls: they have their own tests.
    for scope in ("login", "register", "password_reset", "user", "anon", "gdpr"):
        monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, scope, "1000000/min")
    # The WSGI handler closes "old" connections at each request's start and end; inside the test's
    # transaction that would close it (Django's own test client disconnects these handlers too).
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
        request.addfinalizer(lambda signal=signal: signal.connect(close_old_connections))
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
            # Each call in a savepoint rolled back afterwards: on PostgreSQL a database error would
            # otherwise poison the test's transaction for every later call (in production each
            # request has its own), and every call meets the same world.
            sid = transaction.savepoint()
            try:
                response = case.call(headers=headers)
            finally:
                transaction.savepoint_rollback(sid)
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

    # A first sweep calls every operation once (roles and kinds of data rotating), so that even a
    # loaded machine reaches them all; then two passes over every (operation, role), alternating
    # valid and invalid data, the second swapping them.
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    fuzzed = [op for op in operations if (op.method.upper(), op.path) not in SKIPPED]
    sweep = [(op, ROLES[i % len(ROLES)], modes[i % 2]) for i, op in enumerate(fuzzed)]
    pairs = [(op, role) for op in fuzzed for role in ROLES]
    plan = sweep + [(op, role, modes[(i + k) % 2]) for k in range(2) for i, (op, role) in enumerate(pairs)]
    for operation, role, mode in plan:
        if time.monotonic() - started > BUDGET_SECONDS:
            break
        headers = {} if role == "anonymous" else {"Authorization": f"Token {fuzz_world[role]}"}
        run(operation, headers, mode, role)
        covered.add((operation.method.upper(), operation.path))

    elapsed = time.monotonic() - started
    print(f"\nfuzz: {calls} calls over {len(covered)} operations, {len(ROLES)} roles, in {elapsed:.0f} s"
          f" (plan: {len(plan)} operation-role-mode runs)")
    distinct = sorted({f for f in failures if not _known(f)})
    if len(distinct) != len(set(failures)):
        print("known, tolerated:", sorted({f for f in failures if _known(f)}))
    assert not distinct, f"{len(distinct)} failing cases:\n" + "\n".join(distinct[:60])
    assert len(covered) == len(fuzzed), "the budget ran out before every operation was called once"
