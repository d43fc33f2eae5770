"""The audit trail: logins, role and territory changes made in the admin, coordinators' decisions,
data exports and erasures, each with who, what, when (UTC) and from where; administrators read it
(admin site and API); it never holds a message's text."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from accounts.models import Role, User
from audit.models import AuditEvent
from marketplace.models import CoordinatorScope, Territory
from tests.conftest import client_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ADMIN_ADDRESS = "192.0.2.10"


def _admin(administrator) -> Client:
    browser = Client(REMOTE_ADDR=ADMIN_ADDRESS)
    browser.force_login(administrator)
    return browser


def _user_change_form(user, *, role: str, territories: list[Territory], existing: list[CoordinatorScope]):
    """The POST of the admin's user change page, with the coordinator-territory inline."""
    data = {
        "email": user.email, "display_name": user.display_name, "role": role, "phone": user.phone,
        "preferred_language": user.preferred_language, "is_active": "on", "email_verified": "on",
        "date_joined_0": user.date_joined.strftime("%d/%m/%Y"), "date_joined_1": "10:00:00",
        "last_login_0": "", "last_login_1": "",
        "coordinator_scopes-TOTAL_FORMS": str(len(existing) + len(territories)),
        "coordinator_scopes-INITIAL_FORMS": str(len(existing)),
        "coordinator_scopes-MIN_NUM_FORMS": "0", "coordinator_scopes-MAX_NUM_FORMS": "1000",
    }
    for i, scope in enumerate(existing):
        data |= {f"coordinator_scopes-{i}-id": str(scope.pk), f"coordinator_scopes-{i}-user": str(user.pk),
                 f"coordinator_scopes-{i}-territory": str(scope.territory_id)}
    for j, territory in enumerate(territories, start=len(existing)):
        data |= {f"coordinator_scopes-{j}-user": str(user.pk), f"coordinator_scopes-{j}-territory": str(territory.pk)}
    return data


def _is_utc(value: dt.datetime) -> bool:
    return value.utcoffset() == dt.timedelta(0)


def test_a_role_and_territory_change_in_the_admin_is_recorded(administrator, other_mentor):
    rive_droite = Territory.objects.get(code="rive-droite")
    response = _admin(administrator).post(
        f"/admin/accounts/user/{other_mentor.pk}/change/",
        _user_change_form(other_mentor, role=Role.COORDINATOR, territories=[rive_droite], existing=[]),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert User.objects.get(pk=other_mentor.pk).role == Role.COORDINATOR

    role = AuditEvent.objects.get(action="account.role_change")
    assert role.data == {"role": {"from": "mentor", "to": "coordinator"}}
    assert (role.actor_id, role.target_id, role.ip) == (administrator.pk, other_mentor.pk, ADMIN_ADDRESS)
    assert _is_utc(role.at)
    scopes = AuditEvent.objects.get(action="coordinator.territories_change")
    assert scopes.data == {"added": ["rive-droite"], "removed": [], "now": ["rive-droite"]}
    assert (scopes.actor_id, scopes.target_id, scopes.ip) == (administrator.pk, other_mentor.pk, ADMIN_ADDRESS)


def test_saving_an_unchanged_user_records_nothing(administrator, coordinator):
    scope = CoordinatorScope.objects.get(user=coordinator)
    response = _admin(administrator).post(
        f"/admin/accounts/user/{coordinator.pk}/change/",
        _user_change_form(coordinator, role=Role.COORDINATOR, territories=[], existing=[scope]),
    )
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action__in=["account.role_change", "coordinator.territories_change"])


def test_territory_scopes_changed_on_their_own_admin_page_are_recorded(administrator, outside_coordinator):
    admin = _admin(administrator)
    rive_droite = Territory.objects.get(code="rive-droite")
    response = admin.post("/admin/marketplace/coordinatorscope/add/",
                          {"user": outside_coordinator.pk, "territory": rive_droite.pk})
    assert response.status_code == 302
    added = AuditEvent.objects.get(action="coordinator.territories_change")
    assert added.data["added"] == ["rive-droite"] and added.target_id == outside_coordinator.pk
    scope = CoordinatorScope.objects.get(user=outside_coordinator, territory=rive_droite)
    assert admin.post(f"/admin/marketplace/coordinatorscope/{scope.pk}/delete/", {"post": "yes"}).status_code == 302
    removed = AuditEvent.objects.filter(action="coordinator.territories_change").order_by("-id").first()
    assert removed.data["removed"] == ["rive-droite"] and removed.ip == ADMIN_ADDRESS


def test_a_town_moved_to_another_territory_is_recorded(administrator, rf):
    from django.contrib import admin as django_admin

    from marketplace.admin import TownAdmin
    from marketplace.models import Town
    from tests.factories import other_territory

    paris = other_territory()
    town = Town.objects.get(insee_code="33249")
    before = town.territory_id
    request = rf.post("/admin/", REMOTE_ADDR=ADMIN_ADDRESS)
    request.user = administrator
    town.territory = paris
    TownAdmin(Town, django_admin.site).save_model(request, town, form=None, change=True)
    entry = AuditEvent.objects.get(action="town.territory_change")
    assert entry.data == {"insee_code": "33249", "from": before, "to": paris.pk}
    assert (entry.actor_id, entry.ip) == (administrator.pk, ADMIN_ADDRESS)


def test_logins_through_the_api_and_the_page_are_recorded_with_their_address(entrepreneur):
    client_for(None).post("/api/auth/login/", {"email": entrepreneur.email, "password": PASSWORD},
                          format="json", REMOTE_ADDR="198.51.100.1")
    Client(REMOTE_ADDR="198.51.100.2").post("/connexion/", {"username": entrepreneur.email, "password": PASSWORD})
    logins = list(AuditEvent.objects.filter(action="account.login").order_by("id"))
    assert [(e.actor_id, e.ip) for e in logins] == [(entrepreneur.pk, "198.51.100.1"),
                                                    (entrepreneur.pk, "198.51.100.2")]
    assert all(_is_utc(e.at) for e in logins)


def test_administrators_read_the_whole_trail_with_addresses_and_nobody_else_does(world):
    from accounts.gdpr import user_export

    user_export(user=world.eugenie, actor=world.administrator,
                request=type("R", (), {"META": {"REMOTE_ADDR": "203.0.113.5"}})())
    trail = client_for(world.administrator).get("/api/audit/trail/", {"action": "gdpr.export"})
    assert trail.status_code == 200
    [row] = trail.json()["results"]
    assert (row["actor"], row["target_id"], row["ip"]) == (world.administrator.pk, world.eugenie.pk, "203.0.113.5")
    assert row["at"].endswith("Z") or row["at"].endswith("+00:00")
    everything = client_for(world.administrator).get("/api/audit/trail/").json()
    assert everything["count"] == AuditEvent.objects.count()
    for persona in (world.coordinator, world.mentor, world.eugenie):
        assert client_for(persona).get("/api/audit/trail/").status_code == 403
    assert client_for(None).get("/api/audit/trail/").status_code == 403
    # The coordinators' decision log shows no addresses.
    decisions = client_for(world.coordinator).get("/api/audit/").json()["results"]
    assert decisions and all("ip" not in row for row in decisions)


def test_the_admin_site_shows_the_trail_read_only(administrator, entrepreneur):
    client_for(None).post("/api/auth/login/", {"email": entrepreneur.email, "password": PASSWORD}, format="json")
    admin = _admin(administrator)
    assert admin.get("/admin/audit/auditevent/").status_code == 200
    entry = AuditEvent.objects.get(action="account.login")
    assert admin.get(f"/admin/audit/auditevent/{entry.pk}/change/").status_code == 200
    assert admin.post(f"/admin/audit/auditevent/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin.get("/admin/audit/auditevent/add/").status_code == 403


def test_the_trail_never_holds_a_message_text(world):
    """Send, resend, report, resolve, end the match, export and erase: the text of no message
    appears in any audit entry (its reason, data or label)."""
    from accounts.gdpr import user_erase, user_export
    from chat.models import Message
    from chat.services import message_report, message_send

    secret = "Le code de la porte est 4821B, ne le dis à personne"
    sent = message_send(user=world.mentor, conversation=world.conversation, client_id="secret-1", body=secret)
    message_send(user=world.mentor, conversation=world.conversation, client_id="secret-1", body=secret)
    message_report(user=world.eugenie, message=sent.message, reason="Message inapproprié")
    user_export(user=world.eugenie)
    user_erase(user=world.mentor, actor=world.administrator)
    bodies = [b for b in Message.objects.values_list("body", flat=True) if b]
    assert secret in bodies
    dumped = [json.dumps([e.reason, e.data, e.actor_label, e.reason_code, e.action], ensure_ascii=False)
              for e in AuditEvent.objects.all()]
    assert len(dumped) > 15
    for body in bodies:
        assert not any(body in text for text in dumped), body
