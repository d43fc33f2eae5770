"""Throttling: password guessing is slowed per (account, address) and per address, never per
account alone, so an attacker cannot lock the victim out; registration, password reset, message
sending and the API per user are rate limited; every 429 says when to retry (Retry-After)."""

from __future__ import annotations

import pytest
from rest_framework.throttling import SimpleRateThrottle

from tests.conftest import client_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ATTACKER, VICTIM_HOME, OTHER = "198.51.100.66", "203.0.113.10", "192.0.2.44"


@pytest.fixture
def rates(monkeypatch):
    """Set DRF rates for one test (throttle classes read one shared dict)."""

    def set_rates(**values: str) -> None:
        for scope, rate in values.items():
            monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, scope, rate)

    return set_rates


def _api_login(email: str, password: str, address: str):
    return client_for(None).post("/api/auth/login/", {"email": email, "password": password}, format="json",
                                 REMOTE_ADDR=address)


def _page_login(email: str, password: str, address: str):
    from django.test import Client

    return Client(REMOTE_ADDR=address).post("/connexion/", {"username": email, "password": password})


def _assert_429(response) -> int:
    assert response.status_code == 429, response.content[:300]
    assert int(response["Retry-After"]) >= 1
    return int(response["Retry-After"])


def test_guessing_a_password_is_stopped_for_the_guessing_address_only(entrepreneur, settings):
    email = entrepreneur.email
    for _ in range(settings.LOGIN_FAILURES_PER_ACCOUNT_ADDRESS):
        assert _api_login(email, "guess-123456", ATTACKER).status_code == 400
    wait = _assert_429(_api_login(email, PASSWORD, ATTACKER))  # even the right password: not from there
    assert wait <= settings.LOGIN_FAILURE_WINDOW_SECONDS
    # The victim, from home, is not locked out.
    assert _api_login(email, PASSWORD, VICTIM_HOME).status_code == 200
    # The token endpoint shares the counters.
    _assert_429(client_for(None).post("/api/auth/token/", {"email": email, "password": PASSWORD},
                                      format="json", REMOTE_ADDR=ATTACKER))


def test_a_successful_login_clears_that_address_failures_for_that_account(entrepreneur, settings, rates):
    rates(login="1000/min")
    for _ in range(settings.LOGIN_FAILURES_PER_ACCOUNT_ADDRESS - 1):
        _api_login(entrepreneur.email, "typo-typo-1", VICTIM_HOME)
    assert _api_login(entrepreneur.email, PASSWORD, VICTIM_HOME).status_code == 200
    for _ in range(settings.LOGIN_FAILURES_PER_ACCOUNT_ADDRESS - 1):
        assert _api_login(entrepreneur.email, "typo-typo-2", VICTIM_HOME).status_code == 400
    assert _api_login(entrepreneur.email, PASSWORD, VICTIM_HOME).status_code == 200


def test_one_address_trying_many_accounts_is_stopped(entrepreneur, mentor, company, settings, rates):
    rates(login="1000/min")
    settings.LOGIN_FAILURES_PER_ADDRESS = 4
    for user in (entrepreneur, mentor, company, entrepreneur):
        assert _api_login(user.email, "guess-123456", ATTACKER).status_code == 400
    _assert_429(_api_login(mentor.email, PASSWORD, ATTACKER))
    assert _api_login(mentor.email, PASSWORD, OTHER).status_code == 200


def test_every_login_attempt_counts_against_the_address_rate(entrepreneur):
    statuses = [_api_login(f"nobody{i}@example.org", "x", OTHER).status_code for i in range(10)]
    assert set(statuses) == {400}
    _assert_429(_api_login(entrepreneur.email, PASSWORD, OTHER))
    assert _api_login(entrepreneur.email, PASSWORD, VICTIM_HOME).status_code == 200


def test_the_login_page_is_throttled_like_the_api_and_shares_its_counters(entrepreneur, settings):
    email = entrepreneur.email
    for _ in range(settings.LOGIN_FAILURES_PER_ACCOUNT_ADDRESS - 1):
        assert _page_login(email, "guess-123456", ATTACKER).status_code == 200  # the form, with an error
    assert _api_login(email, "guess-123456", ATTACKER).status_code == 400  # the fifth failure, via the API
    page = _page_login(email, PASSWORD, ATTACKER)
    _assert_429(page)
    assert "Trop de tentatives" in page.content.decode()
    assert _page_login(email, PASSWORD, VICTIM_HOME).status_code == 302


def test_the_login_page_obeys_the_address_rate(entrepreneur, rates):
    rates(login="3/min")
    for i in range(3):
        _page_login(f"n{i}@example.org", "x", OTHER)
    _assert_429(_page_login(entrepreneur.email, PASSWORD, OTHER))


def test_registration_and_password_reset_are_rate_limited(rates):
    rates(register="2/hour", password_reset="2/hour")
    api = client_for(None)
    for i in range(2):
        api.post("/api/auth/register/", {"email": "bad"}, format="json", REMOTE_ADDR=OTHER)
        api.post("/api/auth/password/reset/", {"email": f"a{i}@example.org"}, format="json", REMOTE_ADDR=OTHER)
    _assert_429(api.post("/api/auth/register/", {"email": "bad"}, format="json", REMOTE_ADDR=OTHER))
    _assert_429(api.post("/api/auth/password/reset/", {"email": "z@example.org"}, format="json", REMOTE_ADDR=OTHER))
    _assert_429(api.post("/api/auth/password/reset/confirm/", {}, format="json", REMOTE_ADDR=OTHER))


def test_the_api_is_rate_limited_per_user_not_for_everyone(entrepreneur, mentor, rates):
    rates(user="5/min")
    amina = client_for(entrepreneur)
    assert [amina.get("/api/me/").status_code for _ in range(5)] == [200] * 5
    _assert_429(amina.get("/api/projects/"))
    assert client_for(mentor).get("/api/me/").status_code == 200


def test_anonymous_api_calls_are_rate_limited_per_address(rates):
    rates(anon="3/min")
    api = client_for(None)
    assert [api.get("/api/reference/skills/", REMOTE_ADDR=OTHER).status_code for _ in range(3)] == [200] * 3
    _assert_429(api.get("/api/reference/skills/", REMOTE_ADDR=OTHER))
    assert api.get("/api/reference/skills/", REMOTE_ADDR=VICTIM_HOME).status_code == 200


def test_message_flooding_is_refused_with_retry_after(entrepreneur, mentor, settings):
    from chat.services import conversation_open_for_match
    from cycles.models import Match
    from tests.factories import ProjectFactory, request_for

    settings.CHAT_RATE_LIMIT_MESSAGES = 3
    # The chat's window is fixed (aligned on multiples of its length): a long one, so that these few
    # sends do not straddle two windows.
    settings.CHAT_RATE_LIMIT_WINDOW_SECONDS = 3600
    req = request_for(ProjectFactory(owner=entrepreneur))
    match = Match.objects.create(request=req, entrepreneur=entrepreneur, provider_user=mentor,
                                 mentor=mentor.mentor_profile, territory=req.territory, status="active", slot=1)
    conversation = conversation_open_for_match(match=match)
    api = client_for(entrepreneur)
    url = f"/api/conversations/{conversation.pk}/messages/"
    assert [api.post(url, {"client_id": f"c{i}", "body": "salut"}, format="json").status_code
            for i in range(3)] == [201] * 3
    _assert_429(api.post(url, {"client_id": "c9", "body": "encore"}, format="json"))
    # The other party is not throttled by her flood.
    assert client_for(mentor).post(url, {"client_id": "m1", "body": "ok"}, format="json").status_code == 201


def test_a_429_always_says_when_to_retry():
    from rest_framework.exceptions import Throttled

    from marketplace.api.errors import exception_handler

    response = exception_handler(Throttled(wait=None), {})
    assert response.status_code == 429 and response["Retry-After"] == "60"


def test_the_gdpr_endpoints_are_rate_limited_per_user(entrepreneur, rates):
    rates(gdpr="2/hour")
    api = client_for(entrepreneur)
    for _ in range(2):
        assert api.post("/api/me/export/", {"password": "wrong"}, format="json").status_code == 400
    _assert_429(api.post("/api/me/erase/", {"password": PASSWORD, "confirm": True}, format="json"))


def test_the_registration_and_reset_pages_share_the_api_rates(rates):
    from django.test import Client

    rates(register="2/hour", password_reset="2/hour")
    api = client_for(None)
    api.post("/api/auth/register/", {"email": "bad"}, format="json", REMOTE_ADDR=OTHER)
    api.post("/api/auth/password/reset/", {"email": "a@example.org"}, format="json", REMOTE_ADDR=OTHER)
    browser = Client(REMOTE_ADDR=OTHER)
    assert browser.post("/inscription/", {"email": "bad"}).status_code == 200  # the form, with errors
    page = browser.post("/inscription/", {"email": "bad"})
    _assert_429(page)
    assert "Trop de tentatives" in page.content.decode()
    assert browser.post("/mot-de-passe/oublie/", {"email": "b@example.org"}).status_code == 302
    _assert_429(browser.post("/mot-de-passe/oublie/", {"email": "c@example.org"}))
    # Another address is not affected.
    assert Client(REMOTE_ADDR=VICTIM_HOME).post("/mot-de-passe/oublie/", {"email": "d@example.org"}).status_code == 302


def test_a_throttled_reset_page_sends_no_mail(rates, entrepreneur):
    from django.core import mail
    from django.test import Client

    rates(password_reset="1/hour")
    browser = Client(REMOTE_ADDR=OTHER)
    browser.post("/mot-de-passe/oublie/", {"email": entrepreneur.email})
    sent = len(mail.outbox)
    _assert_429(browser.post("/mot-de-passe/oublie/", {"email": entrepreneur.email}))
    assert len(mail.outbox) == sent
