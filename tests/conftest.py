"""Shared fixtures: personas (one per role, plus outsiders of the same role) and API clients.

Service availability: tests marked ``postgres``/``redis`` (and the browser tests, without Chromium)
skip when the service is missing, unless ``SOCIALLAB_REQUIRE_SERVICES=1`` (set by CI), which turns
every such skip into a failure. CI's first pass, on the embedded default, deselects the
``postgres``/``redis`` tests (``-m "not postgres and not redis"``): they run in its second pass,
where the services are configured, so nothing is skipped in CI."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

REQUIRE_SERVICES = os.environ.get("SOCIALLAB_REQUIRE_SERVICES", "") in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> None:
    """Skip for a missing service on a developer's machine; fail in CI."""
    if REQUIRE_SERVICES:
        pytest.fail(f"service missing in CI: {reason}")
    pytest.skip(reason)


def using_postgres() -> bool:
    from django.conf import settings

    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def using_redis() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "REDIS_URL", None))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and not using_postgres():
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://...")
    if item.get_closest_marker("redis") and not using_redis():
        skip_or_fail("needs Redis: set REDIS_URL=redis://...")


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    from config import response_cache

    cache.clear()
    response_cache.clear()
    yield
    cache.clear()
    response_cache.clear()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """pytest-django's, then: stop the response cache's listening connection before the test
    database is dropped (PostgreSQL refuses to drop a database someone is connected to)."""
    yield
    from config import response_cache

    response_cache.close()


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()


def client_for(user):
    from rest_framework.test import APIClient

    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    return client


@pytest.fixture
def entrepreneur(db):
    from tests.factories import EntrepreneurProfileFactory

    return EntrepreneurProfileFactory(user__email="amina@example.org", user__display_name="Amina").user


@pytest.fixture
def other_entrepreneur(db):
    from tests.factories import EntrepreneurProfileFactory

    return EntrepreneurProfileFactory(user__email="karim@example.org", user__display_name="Karim").user


@pytest.fixture
def mentor(db):
    from tests.factories import MentorProfileFactory

    return MentorProfileFactory(user__email="mentor@example.org", user__display_name="Sophie").user


@pytest.fixture
def other_mentor(db):
    from tests.factories import MentorProfileFactory

    return MentorProfileFactory(user__email="mentor2@example.org", user__display_name="Paul").user


@pytest.fixture
def company(db):
    from tests.factories import CompanyProfileFactory

    return CompanyProfileFactory(user__email="rh@acme.example", name="Acme").user


@pytest.fixture
def other_company(db):
    from tests.factories import CompanyProfileFactory

    return CompanyProfileFactory(user__email="rh@globex.example", name="Globex").user


@pytest.fixture
def coordinator(db):
    from tests.factories import coordinator

    return coordinator(email="coord@sociallab.example", display_name="Nadia")


@pytest.fixture
def outside_coordinator(db):
    """A coordinator of another territory."""
    from tests.factories import coordinator, other_territory

    other_territory()
    return coordinator("grand-paris", email="coord@paris.example", display_name="Luc")


@pytest.fixture
def administrator(db):
    from accounts.models import Role
    from tests.factories import UserFactory

    return UserFactory(role=Role.ADMINISTRATOR, is_staff=True, is_superuser=True, email="admin@sociallab.example")


# --- Browser tests (tests/frontend, tests/backend/security): one Daphne server and one Chromium for
# the whole session ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def server():
    from pathlib import Path

    from tests.frontend.live import live_server

    if not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)):
        skip_or_fail(f"browser tests need Debian's Chromium at {CHROMIUM}")
    with live_server() as live:
        yield live


@pytest.fixture(scope="session")
def cycle_worker(server):
    """The background worker that solves cycles, on the live server's database (lazily: only
    the tests that run a cycle start it, once)."""
    from tests.frontend.live import worker

    with worker(server) as process:
        yield process


@pytest.fixture(scope="session")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()
