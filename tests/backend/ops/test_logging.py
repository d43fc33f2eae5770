"""Structured logs: one JSON object a line, the request id on every line of its request, and
never a password, a token, a message text or a query string."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from config.logging import JsonFormatter, RequestIdFilter
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_lines():
    """What the production handler writes, as parsed JSON lines (the list fills as logs come)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    class Lines(list):
        def raw(self) -> str:
            return stream.getvalue()

        def refresh(self) -> Lines:
            self[:] = [json.loads(line) for line in stream.getvalue().splitlines()]
            return self

    try:
        yield Lines()
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


def test_the_callers_request_id_is_kept_and_returned(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="proxy-7f3a9c1e")
    assert response["X-Request-ID"] == "proxy-7f3a9c1e"


def test_a_request_without_an_id_gets_a_new_one_each_time(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


@pytest.mark.parametrize("forged", ["short", "two words here", "id\nFAKE LOG LINE", "x" * 200, "<script>"])
def test_a_malformed_request_id_is_replaced_so_it_cannot_forge_log_lines(client, forged):
    returned = client.get("/healthz", HTTP_X_REQUEST_ID=forged)["X-Request-ID"]
    assert returned != forged
    assert re.fullmatch(r"[0-9a-f]{32}", returned)


def test_every_line_of_a_request_is_json_and_carries_its_request_id(api, entrepreneur, log_lines):
    response = api.post(
        "/api/auth/login/",
        {"email": entrepreneur.email, "password": "not-the-right-password-123"},
        HTTP_X_REQUEST_ID="login-attempt-0001",
    )
    assert response.status_code == 400

    lines = log_lines.refresh()
    assert len(lines) >= 2  # Django's "Bad Request" warning and our access line
    assert {line["request_id"] for line in lines} == {"login-attempt-0001"}
    access = [line for line in lines if line["logger"] == "sociallab.request"]
    assert access == [
        {
            **access[0],
            "level": "INFO",
            "message": "request",
            "method": "POST",
            "route": "auth-login",
            "status": 400,
        }
    ]
    assert access[0]["duration_ms"] >= 0


def test_a_login_a_token_and_a_message_text_never_reach_the_logs(api, entrepreneur, log_lines):
    wrong = api.post("/api/auth/login/", {"email": entrepreneur.email, "password": "Wr0ng-but-secret-pw"})
    right = api.post("/api/auth/login/", {"email": entrepreneur.email, "password": PASSWORD})
    issued = api.post("/api/auth/token/", {"email": entrepreneur.email, "password": PASSWORD})
    assert (wrong.status_code, right.status_code, issued.status_code) == (400, 200, 200)
    token = issued.json()["token"]

    api.logout()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = api.get("/api/me/?access_token=query-string-secret")
    assert me.status_code == 200
    # A body with a private text, on a route that refuses it: the text must not be echoed to logs.
    api.post("/api/requests/", {"description": "Mon projet confidentiel de boulangerie"})

    output = log_lines.raw()
    assert output, "nothing was logged: the test would prove nothing"
    for secret in (PASSWORD, "Wr0ng-but-secret-pw", token, "query-string-secret", "confidentiel"):
        assert secret not in output
    routes = [line.get("route") for line in log_lines.refresh() if line["logger"] == "sociallab.request"]
    assert routes[:4] == ["auth-login", "auth-login", "auth-token", "me"]


def test_a_path_that_carries_a_token_is_logged_by_its_route_only(api, log_lines):
    response = api.get("/api/requests/8675309/?token=path-secret-token")
    assert response.status_code in {401, 403, 404}
    output = log_lines.raw()
    assert "8675309" not in output and "path-secret-token" not in output
    access = [line for line in log_lines.refresh() if line["logger"] == "sociallab.request"]
    assert access[0]["route"] == "request-detail"


def test_a_url_that_matches_nothing_is_logged_without_its_path(client, log_lines):
    response = client.get("/reset/MQ/c8x-2f1e9a7b3d5c/does-not-exist/")
    assert response.status_code == 404
    output = log_lines.raw()
    assert "c8x-2f1e9a7b3d5c" not in output
    assert any(line.get("route") == "unmatched" for line in log_lines.refresh())


def test_health_probes_are_not_logged_when_they_succeed(client, log_lines):
    assert client.get("/healthz").status_code == 200
    assert log_lines.raw() == ""


def test_an_exception_is_logged_with_its_traceback_and_request_id(log_lines):
    from config.logging import request_id_var

    token = request_id_var.set("job-1234567890")
    try:
        try:
            raise RuntimeError("solver crashed")
        except RuntimeError:
            logging.getLogger("cycles").exception("cycle solve failed")
    finally:
        request_id_var.reset(token)
    (line,) = log_lines.refresh()
    assert line["request_id"] == "job-1234567890"
    assert line["level"] == "ERROR" and "RuntimeError: solver crashed" in line["exception"]
