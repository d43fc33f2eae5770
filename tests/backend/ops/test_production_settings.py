"""Production mode, checked in fresh processes with production variables (as an operator runs it).

No service is reached: ``check --deploy`` reads settings only, so the URLs may point anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MANAGE = REPO / "backend" / "manage.py"
STRONG_SECRET = "q8Vh3kLz0pX7wR2nT5yB9mC4fJ6sD1gA8eU3iO7tY2rW5bN0vM"  # 50 characters, test only
assert len(STRONG_SECRET) == 50

# Variables of the developer's shell or of CI that would change what the subprocess sees.
_OURS = {
    "SOCIALLAB_MODE", "SECRET_KEY", "SECRET_KEY_FILE", "DATABASE_URL", "DATABASE_URL_FILE",
    "REDIS_URL", "ALLOWED_HOSTS", "DEBUG", "SECURE_SSL_REDIRECT", "LOG_FORMAT", "BEHIND_PROXY",
    "SECURE_HSTS_PRELOAD", "DJANGO_SETTINGS_MODULE",
}


def production_env(**overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _OURS}
    env.update(
        SOCIALLAB_MODE="production",
        SECRET_KEY=STRONG_SECRET,
        DATABASE_URL="postgres://sociallab@db.internal:5432/sociallab",
        REDIS_URL="redis://redis.internal:6379/0",
        ALLOWED_HOSTS="sociallab.example.org",
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MANAGE), *args], env=env, capture_output=True, text=True, timeout=120, cwd=REPO
    )


def test_check_deploy_is_clean_in_production_mode_with_secrets_from_files(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(STRONG_SECRET + "\n")
    url_file = tmp_path / "database_url"
    url_file.write_text("postgres://sociallab:pw@db.internal:5432/sociallab\n")
    env = production_env(SECRET_KEY=None, DATABASE_URL=None)
    env.update(SECRET_KEY_FILE=str(secret_file), DATABASE_URL_FILE=str(url_file))

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_when_a_protection_is_turned_off():
    """The check above can fail: without the HTTPS redirect it reports security.W008."""
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(SECURE_SSL_REDIRECT="0"))
    assert result.returncode != 0
    assert "security.W008" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DATABASE_URL": None}, "DATABASE_URL must point to PostgreSQL"),
        ({"DATABASE_URL": "sqlite:////tmp/x.sqlite3"}, "DATABASE_URL must point to PostgreSQL"),
        ({"REDIS_URL": None}, "REDIS_URL must be set"),
        ({"SECRET_KEY": None}, "SECRET_KEY must be set to a random value of at least 40 characters"),
        ({"SECRET_KEY": "too-short-secret"}, "SECRET_KEY must be set to a random value of at least 40 characters"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS must list the public host names"),
        ({"DEBUG": "1"}, "DEBUG must be off"),
    ],
    ids=["no-database", "sqlite", "no-redis", "no-secret", "weak-secret", "no-hosts", "debug"],
)
def test_production_mode_refuses_to_start_without_its_services_and_secrets(overrides, message):
    result = manage("check", env=production_env(**overrides))
    assert result.returncode != 0
    assert "Production mode refuses to start" in result.stderr
    assert message in result.stderr


def test_production_mode_refuses_a_secret_file_that_cannot_be_read(tmp_path):
    env = production_env(SECRET_KEY=None)
    env["SECRET_KEY_FILE"] = str(tmp_path / "missing")
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY_FILE=" in result.stderr and "cannot be read" in result.stderr


_PROBE = textwrap.dedent(
    """
    import json, django
    django.setup()
    from django.conf import settings
    from django.test import Client
    client = Client(HTTP_HOST="sociallab.example.org")
    print(json.dumps({
        "ssl_redirect": settings.SECURE_SSL_REDIRECT,
        "hsts": settings.SECURE_HSTS_SECONDS,
        "session_secure": settings.SESSION_COOKIE_SECURE,
        "csrf_secure": settings.CSRF_COOKIE_SECURE,
        "proxy_header": settings.SECURE_PROXY_SSL_HEADER,
        "static": settings.STORAGES["staticfiles"]["BACKEND"],
        "log_format": settings.LOG_FORMAT,
        "healthz": client.get("/healthz").status_code,
        "healthz_header": client.get("/healthz").headers.get("X-Request-ID") is not None,
        # Without the redirect the API view would run and reach the (unreachable) cache.
        "api_over_http": client.get("/api/schema/").status_code if settings.SECURE_SSL_REDIRECT else None,
        "api_location": (client.get("/api/schema/").headers.get("Location")
                         if settings.SECURE_SSL_REDIRECT else None),
        # A view that needs neither the database, the cache nor the static manifest (none exists
        # here): the language switch answers a GET with a plain redirect to ``next``.
        "setlang_over_http": client.get("/i18n/setlang/?next=/").status_code,
        "hsts_over_http": client.get("/healthz").headers.get("Strict-Transport-Security"),
        "hsts_header": client.get("/healthz", HTTP_X_FORWARDED_PROTO="https").headers.get("Strict-Transport-Security"),
    }))
    """
)


def run_probe(env: dict[str, str]) -> dict:
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "backend"), str(REPO)])
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_serves_https_only_except_the_health_probes():
    # Database access is never attempted: /healthz does no I/O and the redirect comes first.
    facts = run_probe(production_env())
    assert facts["ssl_redirect"] is True
    assert facts["hsts"] >= 31536000
    assert facts["session_secure"] and facts["csrf_secure"]
    assert facts["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert facts["static"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert facts["log_format"] == "json"
    assert facts["healthz"] == 200 and facts["healthz_header"]
    assert facts["api_over_http"] == 301
    assert facts["api_location"] == "https://sociallab.example.org/api/schema/"
    # HSTS only on requests the proxy marks as HTTPS (browsers ignore it over HTTP anyway).
    assert facts["hsts_over_http"] is None
    assert facts["hsts_header"] == "max-age=31536000; includeSubDomains; preload"


def test_the_https_redirect_can_be_left_to_the_proxy():
    facts = run_probe(production_env(SECURE_SSL_REDIRECT="0"))
    assert facts["ssl_redirect"] is False
    assert facts["setlang_over_http"] == 302


_ROTATION_PROBE = textwrap.dedent(
    """
    import django
    django.setup()
    from django.core import signing
    old = signing.dumps({"user": 7}, key=OLD_KEY)
    assert signing.loads(old) == {"user": 7}, "signed with the previous key, still valid"
    try:
        signing.loads(signing.dumps({"user": 7}, key="x" * 50))
    except signing.BadSignature:
        print("unknown key refused")
    """
)


def test_a_rotated_secret_key_still_accepts_what_the_previous_key_signed(tmp_path):
    previous = "P" * 25 + "r3v10u5-k3y-" + "z" * 13
    fallbacks = tmp_path / "secret_key_fallbacks"
    fallbacks.write_text(previous + "\n")
    env = production_env()
    env.update(SECRET_KEY_FALLBACKS_FILE=str(fallbacks), DJANGO_SETTINGS_MODULE="config.settings",
               PYTHONPATH=os.pathsep.join([str(REPO / "backend"), str(REPO)]))
    result = subprocess.run(
        [sys.executable, "-c", f"OLD_KEY = {previous!r}\n" + _ROTATION_PROBE],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "unknown key refused" in result.stdout
