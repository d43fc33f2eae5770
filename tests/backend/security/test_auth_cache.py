"""The cached user of API tokens and sessions (accounts/authcache.py): no query per request for
who is calling, and every change that matters takes effect on the very next request: a revoked
token, a deactivated or erased account, a role change, a coordinator's territories, a password
change. On the embedded default the cache is in memory; with REDIS_URL, Redis (as in production)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Role
from marketplace.models import CoordinatorScope, Territory
from tests.factories import PASSWORD, ProjectFactory, other_territory, request_for

pytestmark = pytest.mark.django_db


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def _queries(callable_):
    with CaptureQueriesContext(connection) as ctx:
        response = callable_()
    return response, [q["sql"] for q in ctx.captured_queries]


def test_a_known_token_costs_no_query(entrepreneur):
    api = _token_client(entrepreneur)
    assert api.get("/api/me/").status_code == 200  # first call: the token's row, then cached
    response, queries = _queries(lambda: api.get("/api/me/"))
    assert response.status_code == 200 and response.json()["email"] == entrepreneur.email
    assert queries == []


def test_an_unknown_token_is_refused_every_time(entrepreneur):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert [api.get("/api/me/").status_code for _ in range(2)] == [403, 403]


def test_a_deleted_token_is_refused_at_once(entrepreneur):
    api = _token_client(entrepreneur)
    assert api.get("/api/me/").status_code == 200
    Token.objects.filter(user=entrepreneur).delete()
    assert api.get("/api/me/").status_code == 403


def test_a_password_change_revokes_the_cached_token(entrepreneur):
    api = _token_client(entrepreneur)
    assert api.get("/api/me/").status_code == 200
    changed = api.post("/api/auth/password/change/", {"old_password": PASSWORD, "new_password": "Nouveau-secret-2027"},
                       format="json")
    assert changed.status_code == 204
    assert api.get("/api/me/").status_code == 403


def test_a_deactivated_account_is_refused_at_once(entrepreneur):
    api = _token_client(entrepreneur)
    assert api.get("/api/me/").status_code == 200
    entrepreneur.is_active = False
    entrepreneur.save()
    assert api.get("/api/me/").status_code == 403


def test_an_erased_account_is_refused_at_once(entrepreneur):
    api = _token_client(entrepreneur)
    assert api.get("/api/me/").status_code == 200
    erased = api.post("/api/me/erase/", {"password": PASSWORD, "confirm": True}, format="json")
    assert erased.status_code == 204
    assert api.get("/api/me/").status_code == 403


def test_a_role_change_applies_to_the_next_request(entrepreneur):
    api = _token_client(entrepreneur)
    assert api.get("/api/me/").json()["role"] == Role.ENTREPRENEUR
    assert api.get("/api/audit/").status_code == 403
    entrepreneur.role = Role.COORDINATOR
    entrepreneur.save()
    assert api.get("/api/me/").json()["role"] == Role.COORDINATOR
    assert api.get("/api/audit/").status_code == 200


def test_a_coordinators_territories_are_cached_and_follow_every_change(coordinator, entrepreneur):
    paris = other_territory()
    request_for(ProjectFactory(owner=entrepreneur))  # a request of the Rive Droite
    api = _token_client(coordinator)
    assert api.get("/api/requests/").json()["count"] == 1
    response, queries = _queries(lambda: api.get("/api/requests/"))
    assert response.json()["count"] == 1
    assert not any("coordinatorscope" in sql.lower() for sql in queries)  # the scope came with the user

    CoordinatorScope.objects.filter(user=coordinator).delete()
    assert api.get("/api/requests/").json()["count"] == 0
    CoordinatorScope.objects.create(user=coordinator, territory=paris)
    assert api.get("/api/requests/").json()["count"] == 0
    scope = CoordinatorScope.objects.create(user=coordinator, territory=Territory.objects.get(code="rive-droite"))
    assert api.get("/api/requests/").json()["count"] == 1
    scope.delete()
    assert api.get("/api/requests/").json()["count"] == 0


def test_a_session_user_is_cached_and_follows_changes(client, coordinator):
    assert client.post("/connexion/", {"username": coordinator.email, "password": PASSWORD}).status_code == 302
    assert client.get("/coordination/cycles/").status_code == 200
    response, queries = _queries(lambda: client.get("/coordination/cycles/"))
    assert response.status_code == 200
    assert not any('from "accounts_user"' in sql.lower() for sql in queries)
    coordinator.is_active = False
    coordinator.save()
    assert client.get("/coordination/cycles/").status_code == 302  # signed out: to the login page


def test_a_password_changed_elsewhere_ends_cached_sessions(client, entrepreneur):
    assert client.post("/connexion/", {"username": entrepreneur.email, "password": PASSWORD}).status_code == 302
    assert client.get("/api/me/").status_code == 200
    entrepreneur.set_password("Un-autre-secret-2027")
    entrepreneur.save()
    assert client.get("/api/me/").status_code == 403  # the session's password hash no longer matches


def test_a_wrong_password_is_refused_by_the_backends(entrepreneur):
    from django.contrib.auth import authenticate

    assert authenticate(None, username=entrepreneur.email, password="pas-le-bon-123") is None
    assert authenticate(None, username=entrepreneur.email, password=PASSWORD) == entrepreneur


def test_the_cache_is_dropped_again_when_the_transaction_commits(entrepreneur, django_capture_on_commit_callbacks):
    """A request that read the row before the commit must not keep the old state cached."""
    from django.core.cache import cache

    from accounts import authcache

    api = _token_client(entrepreneur)
    assert api.get("/api/me/").status_code == 200
    key = Token.objects.get(user=entrepreneur).key
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        entrepreneur.role = Role.MENTOR
        entrepreneur.save()
        # What a concurrent request reading before the commit would have cached:
        stale = Token.objects.select_related("user").get(key=key).user
        stale.role = Role.ENTREPRENEUR
        cache.set(authcache._token_key(key), stale, 60)
    for callback in callbacks:
        callback()
    assert api.get("/api/me/").json()["role"] == Role.MENTOR


def test_without_the_cache_every_request_reads_the_database(entrepreneur, settings):
    settings.AUTH_CACHE_SECONDS = 0
    api = _token_client(entrepreneur)
    assert api.get("/api/me/").status_code == 200
    response, queries = _queries(lambda: api.get("/api/me/"))
    assert response.status_code == 200 and len(queries) == 1


def test_sessions_are_cached_and_an_erasure_drops_them(client, entrepreneur, administrator):
    from django.conf import settings
    from django.contrib.sessions.backends.cached_db import KEY_PREFIX
    from django.core.cache import cache

    from accounts.gdpr import user_erase

    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.cached_db"
    assert client.post("/connexion/", {"username": entrepreneur.email, "password": PASSWORD}).status_code == 302
    assert client.get("/api/me/").status_code == 200
    response, queries = _queries(lambda: client.get("/api/me/"))
    assert response.status_code == 200
    assert not any("django_session" in sql for sql in queries)  # the session came from the cache
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert cache.get(KEY_PREFIX + session_key) is not None
    user_erase(user=entrepreneur, actor=administrator)
    assert cache.get(KEY_PREFIX + session_key) is None
    assert client.get("/api/me/").status_code == 403
