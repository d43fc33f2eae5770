"""GDPR rights: the export holds everything about the user (checked by walking every model that
references a user), the erasure leaves none of their identifiers anywhere in the database (checked
by scanning every text column of every table), consent withdrawal stops matching from using the
data, and retention purges what has outlived its purpose."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts import gdpr
from accounts.models import ConsentPurpose, User
from audit.models import AuditEvent
from tests.backend.security.conftest import IDENTIFIERS
from tests.conftest import client_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


# --- The export walks every model that references a user -------------------------------------------


def user_relations() -> list[tuple[type, str]]:
    """(model, lookup to the user) for every FK, one-to-one and many-to-many to the user model,
    and for every relation to a model that is itself one-to-one with the user (the profiles)."""
    user_model = get_user_model()
    profiles = {
        model for model in apps.get_models()
        for fld in model._meta.concrete_fields
        if fld.one_to_one and fld.related_model is user_model and not model._meta.proxy
    }
    relations = []
    for model in apps.get_models():
        for fld in [*model._meta.concrete_fields, *model._meta.many_to_many]:
            if not fld.is_relation or model is user_model:
                continue
            if fld.related_model is user_model:
                relations.append((model, fld.name))
            elif fld.related_model in profiles:
                relations.append((model, f"{fld.name}__user"))
    return relations


def missing_relations(sections) -> list[str]:
    missing = []
    for model, path in user_relations():
        label = model._meta.label_lower
        if label in gdpr.NOT_EXPORTED:
            continue
        paths = {p for s in sections if s.model == label for p in s.paths}
        if path not in paths:
            missing.append(f"{label}.{path}")
    return missing


def test_every_model_that_references_a_user_is_in_the_export():
    assert user_relations(), "the walk found nothing: it is broken"
    assert missing_relations(gdpr.SECTIONS) == []


def test_the_walk_notices_a_model_left_out_of_the_export():
    without_meetings = [s for s in gdpr.SECTIONS if s.model != "followup.meeting"]
    assert missing_relations(without_meetings) == ["followup.meeting.logged_by"]


def _exported_ids(export: dict, label: str) -> set:
    rows = [row for s in gdpr.SECTIONS if s.model == label for row in export["sections"][s.name]]
    return {row.get("id") for row in rows} if label != "authtoken.token" else set(range(len(rows)))


def test_each_persona_export_holds_every_row_that_references_them(world):
    """Data, not only declarations: every row reachable from the user by any relation the walk
    found is in their export, and every relation has rows in this world (nothing vacuous)."""
    users = [world.eugenie, world.mentor, world.company, world.coordinator, world.administrator]
    exports = {user.pk: gdpr.user_export(user=user) for user in users}
    seen_rows = {}
    for model, path in user_relations():
        label = model._meta.label_lower
        if label in gdpr.NOT_EXPORTED:
            continue
        for user in users:
            expected = set(model._default_manager.filter(**{path: user}).values_list("pk", flat=True))
            if label == "authtoken.token":
                expected = set(range(len(expected)))
            assert expected <= _exported_ids(exports[user.pk], label), f"{label}.{path} of {user.email}"
            seen_rows[f"{label}.{path}"] = seen_rows.get(f"{label}.{path}", 0) + len(expected)
    assert [key for key, count in seen_rows.items() if count == 0] == []


def test_the_export_is_json_with_her_data_and_no_secret(world):
    export = gdpr.user_export(user=world.eugenie)
    text = json.dumps(export)
    assert export["format"] == "sociallab-export/1"
    assert export["account"]["email"] == IDENTIFIERS["email"]
    sections = export["sections"]
    assert [row["body"] for row in sections["messages_sent"]] == [world.her_message.body, "Merci, à jeudi."]
    assert world.mentor_message.body not in text, "the other party's messages are theirs, not hers"
    assert {row["purpose"] for row in sections["consents"]} == {"priority_data", "contact_phone"}
    assert sections["entrepreneur_profile"][0]["age_band"] == "under_26"
    assert {row["status"] for row in sections["matches"]} == {"active", "pending", "completed"}
    assert len(sections["projects"]) == 4 and sections["projects"][0]["needs"]
    assert sections["meetings"] and sections["feedback_given"] and sections["outcomes"] and sections["emails"]
    assert any(row["action"] == "account.register" or row["target_type"] == "accounts.user"
               for row in sections["audit_entries"]) or sections["audit_entries"]
    from rest_framework.authtoken.models import Token

    assert Token.objects.get(user=world.eugenie).key not in text
    assert world.eugenie.password not in text and "password" not in export["account"]


def test_the_export_endpoint_rechecks_the_password_and_is_audited(world):
    client = client_for(world.eugenie)
    wrong = client.post("/api/me/export/", {"password": "not-hers"}, format="json")
    assert wrong.status_code == 400 and "password" in wrong.json()
    response = client.post("/api/me/export/", {"password": PASSWORD}, format="json", REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="sociallab-export-')
    assert response.json()["account"]["id"] == world.eugenie.pk
    entry = AuditEvent.objects.get(action="gdpr.export")
    assert (entry.actor_id, entry.target_id, entry.ip) == (world.eugenie.pk, world.eugenie.pk, "198.51.100.7")
    assert entry.at.utcoffset() == dt.timedelta(0)
    assert client_for(None).post("/api/me/export/", {"password": PASSWORD}, format="json").status_code == 403


# --- Erasure leaves no identifier anywhere --------------------------------------------------------------

TEXT_TYPES = {"CharField", "TextField", "JSONField", "EmailField", "SlugField", "GenericIPAddressField"}


def identifier_hits() -> list[str]:
    """Every (table.column) of the database, whatever the app, whose text holds one of her
    identifiers (case-insensitive; the phone with and without spaces)."""
    needles = [IDENTIFIERS["email"].lower(), IDENTIFIERS["name"].lower(), IDENTIFIERS["phone"],
               IDENTIFIERS["phone"].replace(" ", ""), IDENTIFIERS["phone"].replace(" ", "")[1:]]
    quote = connection.ops.quote_name
    hits = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                try:
                    kind = connection.introspection.get_field_type(column.type_code, column)
                except KeyError:
                    continue
                if kind not in TEXT_TYPES:
                    continue
                for needle in needles:
                    cursor.execute(
                        f"SELECT COUNT(*) FROM {quote(table)} WHERE LOWER(CAST({quote(column.name)} AS TEXT)) LIKE %s",
                        [f"%{needle}%"],
                    )
                    if cursor.fetchone()[0]:
                        hits.append(f"{table}.{column.name} ~ {needle!r}")
    return hits


def test_erasure_leaves_none_of_her_identifiers_in_any_text_column(world):
    before = identifier_hits()
    # The scan sees her data everywhere before: it is able to fail.
    assert len({hit.split(" ")[0] for hit in before}) >= 15, before
    gdpr.user_erase(user=world.eugenie, actor=world.eugenie)
    assert identifier_hits() == []


def test_erasure_ends_her_matches_keeps_the_conversation_for_the_other_party(world):
    from chat.models import Conversation, Message
    from cycles.models import Match, Proposal
    from marketplace.models import EntrepreneurProfile, Request

    messages_before = Message.objects.filter(conversation=world.conversation).count()
    audit_before = AuditEvent.objects.count()
    gdpr.user_erase(user=world.eugenie, actor=world.eugenie)

    statuses = {m.pk: m.status for m in Match.objects.filter(entrepreneur=world.eugenie)}
    assert statuses[world.active_match.pk] == "ended_early"
    assert statuses[world.pending_match.pk] == "declined"
    assert Conversation.objects.get(pk=world.conversation.pk).closed_at is not None
    assert Message.objects.filter(conversation=world.conversation).count() == messages_before
    kept = Message.objects.get(pk=world.her_message.pk)
    assert kept.sender_id is None and kept.body.startswith("Bonjour, ici [supprimé]")
    assert Request.objects.get(pk=world.open_request.pk).status == "withdrawn"
    assert Proposal.objects.get(pk=world.open_proposal.pk).status == "cancelled"
    assert not EntrepreneurProfile.objects.filter(user=world.eugenie).exists()
    assert AuditEvent.objects.count() > audit_before, "audit entries are kept, not deleted"

    erased = User.objects.get(pk=world.eugenie.pk)
    assert erased.erased_at and not erased.is_active and not erased.has_usable_password()
    assert erased.display_name == "Utilisateur supprimé" and not erased.consents.filter(withdrawn_at=None)

    # The mentor still reads the whole history, her messages shown as from a deleted user.
    mentor = client_for(world.mentor)
    listed = mentor.get(f"/api/conversations/{world.conversation.pk}/messages/").json()
    rows = listed["results"] if isinstance(listed, dict) and "results" in listed else listed
    rows = rows["messages"] if isinstance(rows, dict) else rows
    assert len(rows) == messages_before
    assert mentor.get(f"/api/matches/{world.active_match.pk}/").status_code == 200
    assert client_for(world.coordinator).get(f"/api/matches/{world.active_match.pk}/").status_code == 200


def test_the_erase_endpoint_needs_her_password_and_confirmation_then_signs_her_out(world):
    from django.test import Client

    browser = Client()
    browser.force_login(world.eugenie)
    assert browser.get("/api/me/").status_code == 200
    assert browser.post("/api/me/erase/", {"password": "nope", "confirm": True},
                        content_type="application/json").status_code == 400
    assert browser.post("/api/me/erase/", {"password": PASSWORD, "confirm": False},
                        content_type="application/json").status_code == 400
    assert User.objects.get(pk=world.eugenie.pk).erased_at is None, "nothing half-written"
    response = browser.post("/api/me/erase/", {"password": PASSWORD, "confirm": True},
                            content_type="application/json")
    assert response.status_code == 204
    assert browser.get("/api/me/").status_code == 403
    login = client_for(None).post("/api/auth/login/", {"email": IDENTIFIERS["email"], "password": PASSWORD},
                                  format="json")
    assert login.status_code == 400
    entry = AuditEvent.objects.get(action="gdpr.erase")
    assert entry.target_id == world.eugenie.pk and entry.ip is None and entry.data["by"] == "self"


def test_an_erasure_by_an_administrator_is_recorded_with_their_address(world):
    gdpr.user_erase(user=world.mentor, actor=world.administrator,
                    request=type("R", (), {"META": {"REMOTE_ADDR": "203.0.113.9"}})())
    entry = AuditEvent.objects.get(action="gdpr.erase")
    assert (entry.actor_id, entry.ip, entry.data["by"]) == (world.administrator.pk, "203.0.113.9", "administrator")
    again = gdpr.user_erase(user=world.mentor, actor=world.administrator)
    assert AuditEvent.objects.filter(action="gdpr.erase").count() == 1 and again.erased_at


def test_a_company_erasure_empties_its_profile_and_withdraws_its_offers(world):
    from marketplace.models import CompanyProfile, Offer

    gdpr.user_erase(user=world.company, actor=world.company)
    profile = CompanyProfile.objects.get(user=world.company)
    assert profile.name == "Entreprise supprimée" and not profile.contact_email and not profile.description
    assert not Offer.objects.filter(company=profile, active=True).exists()
    assert not world.mentor.mentor_profile.__class__.objects.filter(employer=profile).exists()


# --- Consent: matching stops using withdrawn data ------------------------------------------------------


def _tier_in_cycle(user) -> int:
    from cycles.adapter import load_reference, load_requests
    from marketplace.models import Request

    requests, side = load_requests(Request.objects.filter(entrepreneur=user, status="open"), load_reference(),
                                   now=timezone.now())
    return int(requests.priority_tier[0])


def test_matching_uses_priority_data_only_while_the_consent_is_live(entrepreneur):
    from accounts.services import consent_grant, consent_withdraw
    from marketplace.models import EntrepreneurProfile
    from tests.factories import ProjectFactory, request_for

    request_for(ProjectFactory(owner=entrepreneur))
    consent_grant(user=entrepreneur, purpose=ConsentPurpose.PRIORITY_DATA)
    EntrepreneurProfile.objects.filter(user=entrepreneur).update(age_band="under_26", gender="woman", job_seeker=True)
    assert _tier_in_cycle(entrepreneur) == 2

    consent_withdraw(user=entrepreneur, purpose=ConsentPurpose.PRIORITY_DATA)
    profile = EntrepreneurProfile.objects.get(user=entrepreneur)
    assert (profile.age_band, profile.gender, profile.job_seeker) == ("", "", None), "erased at withdrawal"
    assert _tier_in_cycle(entrepreneur) == 0


def test_matching_ignores_priority_data_left_without_a_live_consent(entrepreneur):
    """Even if data lingered (written by another path), the adapter reads the consent, not the
    columns alone."""
    from marketplace.models import EntrepreneurProfile
    from tests.factories import ProjectFactory, request_for

    request_for(ProjectFactory(owner=entrepreneur))
    EntrepreneurProfile.objects.filter(user=entrepreneur).update(age_band="over_50", qpv_resident=True)
    assert _tier_in_cycle(entrepreneur) == 0


# --- Retention ---------------------------------------------------------------------------------------


def test_purge_retention_deletes_abandoned_unverified_accounts_and_old_audit_entries(settings, entrepreneur):
    from tests.factories import MentorProfileFactory, ProjectFactory, UserFactory

    settings.RETENTION_UNVERIFIED_ACCOUNT_DAYS = 30
    settings.RETENTION_AUDIT_DAYS = 365
    long_ago = timezone.now() - dt.timedelta(days=45)
    abandoned = UserFactory(email_verified=False, date_joined=long_ago, last_login=long_ago)
    AuditEvent.objects.create(actor=abandoned, actor_label="x", action="account.register", at=long_ago)
    recent = UserFactory(email_verified=False)
    in_use = UserFactory(email_verified=False, date_joined=long_ago)
    ProjectFactory(owner=in_use)
    verified = UserFactory(email_verified=True, date_joined=long_ago)
    waiting_mentor = MentorProfileFactory(user__email_verified=False, user__date_joined=long_ago).user
    quiet_coordinator = UserFactory(role="coordinator", email_verified=False, date_joined=long_ago)
    old = AuditEvent.objects.create(actor_label="system", action="match.expire",
                                    at=timezone.now() - dt.timedelta(days=400))
    young = AuditEvent.objects.create(actor_label="system", action="match.expire",
                                      at=timezone.now() - dt.timedelta(days=300))

    call_command("purge_retention", "--dry-run")
    assert User.objects.filter(pk=abandoned.pk).exists() and AuditEvent.objects.filter(pk=old.pk).exists()

    call_command("purge_retention")
    remaining = set(User.objects.values_list("pk", flat=True))
    assert abandoned.pk not in remaining
    assert {recent.pk, in_use.pk, verified.pk, entrepreneur.pk, waiting_mentor.pk, quiet_coordinator.pk} <= remaining
    assert not AuditEvent.objects.filter(pk=old.pk).exists() and AuditEvent.objects.filter(pk=young.pk).exists()
    assert AuditEvent.objects.get(action="retention.purge").data["accounts_deleted"] == 1

    call_command("purge_retention")  # idempotent: nothing more to do, nothing more recorded
    assert AuditEvent.objects.filter(action="retention.purge").count() == 1


def test_the_privacy_notice_states_the_configured_retention_and_where_to_export_or_erase(settings):
    from django.test import Client

    settings.RETENTION_UNVERIFIED_ACCOUNT_DAYS = 45
    settings.RETENTION_AUDIT_DAYS = 400
    html = Client().get("/confidentialite/").content.decode()
    assert "depuis 45 jours" in html and "après 400 jours" in html
    assert 'href="/mes-donnees/"' in html
    assert "Utilisateur supprimé" in html and "adresse IP" in html
