"""Security headers on pages, API and errors (CSP with frame-ancestors, nosniff, referrer policy,
frame denial), cookies that are Secure, HttpOnly and SameSite in production, and a new session
key at every login (API and page)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.test import Client, override_settings

from tests.backend.ops.test_production_settings import MANAGE, production_env
from tests.conftest import client_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

PATHS = ["/", "/connexion/", "/confidentialite/", "/api/reference/skills/", "/api/me/", "/api/schema/",
         "/page-qui-n-existe-pas/", "/api/inexistant/", "/admin/login/", "/healthz"]


@pytest.mark.parametrize("path", PATHS)
def test_every_response_carries_the_security_headers(path):
    response = Client().get(path)
    csp = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'self'"
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_the_swagger_page_is_the_only_one_without_csp_and_still_cannot_be_framed():
    response = Client().get("/api/docs/")
    assert "Content-Security-Policy" not in response
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"


def _production_settings() -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in ('SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', "
        "'SESSION_COOKIE_SAMESITE', 'CSRF_COOKIE_SECURE', 'CSRF_COOKIE_HTTPONLY', 'CSRF_COOKIE_SAMESITE', "
        "'SECURE_HSTS_SECONDS', 'SECURE_SSL_REDIRECT', 'SECURE_CONTENT_TYPE_NOSNIFF', 'SECURE_REFERRER_POLICY', "
        "'X_FRAME_OPTIONS', 'LANGUAGE_COOKIE_SECURE', 'LANGUAGE_COOKIE_HTTPONLY', 'LANGUAGE_COOKIE_SAMESITE')}))"
    )
    env = production_env() | {"DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(MANAGE.parent)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                         cwd=MANAGE.parent, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_production_cookies_are_secure_httponly_and_samesite():
    prod = _production_settings()
    assert prod["SESSION_COOKIE_SECURE"] and prod["CSRF_COOKIE_SECURE"]
    assert prod["SESSION_COOKIE_HTTPONLY"] and prod["CSRF_COOKIE_HTTPONLY"]
    assert prod["SESSION_COOKIE_SAMESITE"] == prod["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert prod["SECURE_HSTS_SECONDS"] >= 31536000 and prod["SECURE_SSL_REDIRECT"]

    # The same settings, in this process: the cookies a real login sets carry every flag.
    cookie_settings = {k: v for k, v in prod.items() if k.startswith(("SESSION_COOKIE", "CSRF_COOKIE"))}
    from tests.factories import EntrepreneurProfileFactory

    user = EntrepreneurProfileFactory().user
    with override_settings(**cookie_settings):
        browser = Client()
        browser.get("/connexion/", secure=True)
        response = browser.post("/connexion/", {"username": user.email, "password": PASSWORD}, secure=True)
        assert response.status_code == 302
        for name in (django_settings.SESSION_COOKIE_NAME, django_settings.CSRF_COOKIE_NAME):
            morsel = response.cookies[name] if name in response.cookies else browser.cookies[name]
            assert morsel["secure"] and morsel["httponly"] and morsel["samesite"] == "Lax", name


def _session_with_a_key(client: Client) -> str:
    session = client.session
    session["visited"] = True
    session.save()
    client.cookies[django_settings.SESSION_COOKIE_NAME] = session.session_key
    return session.session_key


def test_the_page_login_rotates_the_session_key(entrepreneur):
    browser = Client()
    before = _session_with_a_key(browser)
    response = browser.post("/connexion/", {"username": entrepreneur.email, "password": PASSWORD})
    assert response.status_code == 302
    after = browser.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert after and after != before
    assert not Session.objects.filter(session_key=before).exists(), "the pre-login session is gone"


def test_the_api_login_rotates_the_session_key(entrepreneur):
    api = client_for(None)
    before = _session_with_a_key(api)
    assert api.post("/api/auth/login/", {"email": entrepreneur.email, "password": PASSWORD},
                    format="json").status_code == 200
    after = api.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert after and after != before and not Session.objects.filter(session_key=before).exists()
