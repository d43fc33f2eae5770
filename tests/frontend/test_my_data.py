"""The "my data" page: every signed-in user downloads everything held about them, or erases
their account, each behind their password."""

from __future__ import annotations

import json

import pytest

from accounts.models import User
from tests.factories import PASSWORD
from tests.frontend.test_pages import errors_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("persona", ["entrepreneur", "mentor", "company", "coordinator"])
def test_every_role_has_the_page_in_its_menu(request, page_client, persona):
    html = page_client(request.getfixturevalue(persona)).get("/mes-donnees/").content.decode()
    assert '<a href="/mes-donnees/" aria-current="page">Mes données</a>' in html


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    assert client.get("/mes-donnees/")["Location"] == "/connexion/?next=/mes-donnees/"


def test_the_export_needs_the_password_and_then_downloads_everything_as_json(page_client, entrepreneur):
    client = page_client(entrepreneur)
    response = client.post("/mes-donnees/", {"action": "export", "export-password": "faux"})
    assert response.status_code == 200
    assert "Mot de passe incorrect." in errors_of(response, "export-password")
    response = client.post("/mes-donnees/", {"action": "export", "export-password": PASSWORD})
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith('attachment; filename="sociallab-mes-donnees-')
    assert response["Cache-Control"] == "no-store"
    data = json.loads(response.content)
    assert data["account"]["email"] == "amina@example.org"
    assert data["sections"]["entrepreneur_profile"][0]["user_id"] == entrepreneur.pk


def test_erasing_needs_the_password_and_the_confirmation(page_client, mentor):
    client = page_client(mentor)
    response = client.post("/mes-donnees/", {"action": "erase", "erase-password": PASSWORD})
    assert "Cochez cette case pour confirmer l'effacement." in errors_of(response, "erase-confirm")
    response = client.post("/mes-donnees/", {"action": "erase", "erase-password": "faux", "erase-confirm": "on"})
    assert "Mot de passe incorrect." in errors_of(response, "erase-password")
    mentor.refresh_from_db()
    assert mentor.erased_at is None and mentor.is_active


def test_erasing_anonymises_the_account_and_ends_the_session(page_client, mentor):
    client = page_client(mentor)
    response = client.post("/mes-donnees/", {"action": "erase", "erase-password": PASSWORD, "erase-confirm": "on"},
                           follow=True)
    assert response.redirect_chain == [("/", 302)]
    assert "Votre compte est effacé." in response.content.decode()
    erased = User.objects.get(pk=mentor.pk)
    assert erased.erased_at is not None and not erased.is_active and erased.email.endswith("@erased.invalid")
    assert client.get("/parrainage/").status_code == 302  # logged out


def test_password_guessing_on_the_page_is_throttled(page_client, entrepreneur, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    # The throttle classes share one dict of rates (as in tests/backend/security/test_throttling.py).
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "gdpr", "1/hour")
    client = page_client(entrepreneur)
    assert client.post("/mes-donnees/", {"action": "export", "export-password": "faux"}).status_code == 200
    response = client.post("/mes-donnees/", {"action": "export", "export-password": PASSWORD})
    assert response.status_code == 429
    assert "Trop de tentatives." in response.content.decode()
