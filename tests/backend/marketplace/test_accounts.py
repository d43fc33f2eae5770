import re

import pytest
from django.core import mail

from accounts.models import Role, User
from audit.models import AuditEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "un-long-mot-de-passe-2026"


@pytest.mark.parametrize("role", ["entrepreneur", "mentor", "company"])
def test_each_self_registering_role_can_register_and_is_logged_in(api, role):
    response = api.post(
        "/api/auth/register/",
        {"email": f"New.{role}@Example.org", "password": GOOD_PASSWORD, "display_name": "Nouvelle", "role": role},
    )
    assert response.status_code == 201, response.content
    assert response.json()["role"] == role
    assert response.json()["email"] == f"new.{role}@example.org"
    assert api.get("/api/me/").json()["role"] == role
    assert AuditEvent.objects.filter(action="account.register").count() == 1


@pytest.mark.parametrize("role", ["coordinator", "administrator"])
def test_coordinators_and_administrators_cannot_register_themselves(api, role):
    response = api.post(
        "/api/auth/register/",
        {"email": "x@example.org", "password": GOOD_PASSWORD, "display_name": "X", "role": role},
    )
    assert response.status_code == 400
    assert "role" in response.json()
    assert not User.objects.filter(email="x@example.org").exists()


def test_registration_refuses_a_weak_password_naming_the_field(api):
    response = api.post(
        "/api/auth/register/", {"email": "x@example.org", "password": "123456", "display_name": "X", "role": "mentor"}
    )
    assert response.status_code == 400
    assert "password" in response.json()
    assert not User.objects.exists()


def test_registration_refuses_an_address_already_used(api, entrepreneur):
    response = api.post(
        "/api/auth/register/",
        {"email": "AMINA@example.org", "password": GOOD_PASSWORD, "display_name": "A", "role": "mentor"},
    )
    assert response.status_code == 400
    assert "email" in response.json()


@pytest.mark.parametrize(
    "persona", ["entrepreneur", "mentor", "company", "coordinator", "administrator"]
)
def test_every_role_logs_in_with_email_and_password_and_out(api, request, persona):
    user = request.getfixturevalue(persona)
    response = api.post("/api/auth/login/", {"email": user.email.upper(), "password": PASSWORD})
    assert response.status_code == 200, response.content
    assert response.json()["role"] == user.role
    assert api.get("/api/me/").status_code == 200
    assert api.post("/api/auth/logout/").status_code == 204
    assert api.get("/api/me/").status_code == 403


def test_login_with_a_wrong_password_is_refused_without_saying_which_part_is_wrong(api, mentor):
    response = api.post("/api/auth/login/", {"email": mentor.email, "password": "wrong-password-1"})
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_login_rotates_the_session_key(client, mentor):
    client.get("/api/reference/towns/")
    session = client.session
    session["probe"] = 1
    session.save()
    before = client.cookies["sessionid"].value
    client.post("/api/auth/login/", {"email": mentor.email, "password": PASSWORD}, content_type="application/json")
    assert client.cookies["sessionid"].value != before


def test_an_api_client_gets_a_token_and_uses_it(api, company):
    token = api.post("/api/auth/token/", {"email": company.email, "password": PASSWORD}).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/me/").json()["email"] == company.email


def test_password_change_checks_the_old_password_and_validates_the_new(api, mentor):
    api.force_authenticate(mentor)
    assert api.post("/api/auth/password/change/", {"old_password": "nope", "new_password": GOOD_PASSWORD}).status_code == 400
    weak = api.post("/api/auth/password/change/", {"old_password": PASSWORD, "new_password": "azerty"})
    assert weak.status_code == 400 and "new_password" in weak.json()
    assert api.post("/api/auth/password/change/", {"old_password": PASSWORD, "new_password": GOOD_PASSWORD}).status_code == 204
    mentor.refresh_from_db()
    assert mentor.check_password(GOOD_PASSWORD)


def test_password_reset_sends_a_link_that_sets_a_new_password(api, mentor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("/api/auth/password/reset/", {"email": mentor.email}).status_code == 204
    assert len(mail.outbox) == 1
    uid, token = re.search(r"uid=(\S+) token=(\S+)", mail.outbox[0].body).groups()
    response = api.post("/api/auth/password/reset/confirm/", {"uid": uid, "token": token, "new_password": GOOD_PASSWORD})
    assert response.status_code == 204
    mentor.refresh_from_db()
    assert mentor.check_password(GOOD_PASSWORD)
    # The link works once.
    again = api.post("/api/auth/password/reset/confirm/", {"uid": uid, "token": token, "new_password": GOOD_PASSWORD + "x"})
    assert again.status_code == 400 and "token" in again.json()


def test_password_reset_does_not_reveal_whether_an_account_exists(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("/api/auth/password/reset/", {"email": "nobody@example.org"}).status_code == 204
    assert mail.outbox == []


def test_an_administrator_creates_a_coordinator_scoped_to_territories(db):
    from marketplace.models import CoordinatorScope, Territory

    user = UserFactory(role=Role.COORDINATOR)
    CoordinatorScope.objects.create(user=user, territory=Territory.objects.get(code="rive-droite"))
    from marketplace.selectors import coordinator_territory_ids

    assert coordinator_territory_ids(user) == [Territory.objects.get(code="rive-droite").pk]
