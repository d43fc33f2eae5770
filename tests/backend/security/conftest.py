"""A populated world for the privacy tests: Eugénie, an entrepreneur who used every feature
(profile with priority data, projects, requests, an active match with chat, meetings, feedback,
an outcome, a pending sponsorship, proposals, reports, a token, a session, admin edits), and the
personas around her, each of whom also left data of their own.

Her identifiers are written everywhere she can write them, and where others write about her, so
that the erasure test can look for them in every text column."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

IDENTIFIERS = {
    "email": "eugenie.quarantelli@example.org",
    "name": "Eugenie Quarantelli",
    "phone": "06 12 34 56 78",
}


@pytest.fixture(autouse=True)
def _fast_password_hashes(settings, monkeypatch):
    """Sign-in is exercised dozens of times here; the hash function is not what is under test."""
    from django.contrib.auth.hashers import make_password

    from tests import factories

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setattr(factories, "_HASH", make_password(factories.PASSWORD))


@dataclass
class World:
    eugenie: Any
    mentor: Any
    company: Any
    coordinator: Any
    administrator: Any
    active_match: Any
    pending_match: Any
    conversation: Any
    her_message: Any
    mentor_message: Any
    open_request: Any
    open_proposal: Any


def _match(entrepreneur, provider, request, *, status, mentor=None, offer=None, **fields):
    from cycles.models import Match

    return Match.objects.create(
        request=request, entrepreneur=entrepreneur, provider_user=provider, mentor=mentor, offer=offer,
        territory=request.territory, status=status, slot=fields.pop("slot", None), **fields,
    )


def build_world(*, mentor, company, coordinator, administrator) -> World:
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType
    from rest_framework.authtoken.models import Token

    from accounts.models import ConsentPurpose, User
    from accounts.services import consent_grant
    from chat.models import ChatSocket
    from chat.services import (
        conversation_open_for_match,
        message_report,
        message_send,
        report_resolve,
    )
    from cycles.models import MatchStatus, ProposalStatus
    from cycles.services import proposal_reject
    from followup.services import feedback_give, match_nudge, meeting_log, outcome_report
    from marketplace.models import MentorSkill, RequestStatus
    from tests import factories as f
    from tests.backend.cycles.conftest import make_cycle, make_proposal

    name, email, phone = IDENTIFIERS["name"], IDENTIFIERS["email"], IDENTIFIERS["phone"]
    eugenie = f.EntrepreneurProfileFactory(
        user__email=email, user__display_name=name, user__phone=phone
    ).user
    consent_grant(user=eugenie, purpose=ConsentPurpose.PRIORITY_DATA)
    consent_grant(user=eugenie, purpose=ConsentPurpose.CONTACT_PHONE)
    profile = eugenie.entrepreneur_profile
    profile.age_band, profile.gender, profile.qpv_resident, profile.job_seeker = "under_26", "woman", True, True
    profile.save()

    # The mentor works for the company and has skills; the company has an offer.
    mentor_profile = mentor.mentor_profile
    mentor_profile.employer = company.company_profile
    mentor_profile.save()
    MentorSkill.objects.get_or_create(mentor=mentor_profile, skill=f.skill("pricing"), defaults={"level": 2})
    offer = f.OfferFactory(company=company.company_profile)

    # An active match with the mentor, its conversation, messages both ways, reports.
    project = f.ProjectFactory(owner=eugenie, title=f"Traiteur de {name}", needs=[("pricing", 3)])
    project.description = f"Écrire à {email} ou appeler le {phone}"
    project.save()
    matched_request = f.request_for(project, notes=f"{name}, joignable au {phone}")
    active = _match(eugenie, mentor, matched_request, status=MatchStatus.ACTIVE, mentor=mentor_profile, slot=1,
                    activated_at=timezone.now() - dt.timedelta(days=20))
    matched_request.status = RequestStatus.MATCHED
    matched_request.save()
    conversation = conversation_open_for_match(match=active)
    her_message = message_send(user=eugenie, conversation=conversation, client_id="e-1",
                               body=f"Bonjour, ici {name} : {phone} ou {email}").message
    mentor_message = message_send(user=mentor, conversation=conversation, client_id="m-1",
                                  body=f"Enchantée {name} ! À jeudi.").message
    message_send(user=eugenie, conversation=conversation, client_id="e-2", body="Merci, à jeudi.")
    report, _ = message_report(user=mentor, message=her_message, reason=f"{name} donne son numéro")
    message_report(user=eugenie, message=mentor_message, reason=f"Signalé par {name}")
    report_resolve(user=coordinator, report=report, note=f"Vu avec {name}")
    ChatSocket.objects.create(channel_name="specific.eugenie!1", conversation=conversation, user=eugenie)

    # Follow-up: a meeting, feedback, an outcome, a coordinator's nudge (and its e-mails).
    meeting_log(actor=eugenie, match=active, date=timezone.localdate(), duration_minutes=60, format="phone",
                note=f"Point avec {name} ({phone})")
    meeting_log(actor=mentor, match=active, date=timezone.localdate(), duration_minutes=30, format="video",
                note=f"Revu le devis de {name}")
    feedback_give(actor=eugenie, match=active, phase="midway", rating=5, comment=f"Très utile. {name}")
    outcome_report(actor=eugenie, match=active, status="business_created", siret=f.luhn_complete("7329999900001"),
                   jobs_created=1)
    match_nudge(actor=coordinator, match=active, message=f"Bonjour {name}, tout va bien ?")

    # A pending sponsorship with the company, and an older match the mentor ended.
    pending_request = f.request_for(f.ProjectFactory(owner=eugenie, title="Boutique en ligne"))
    pending = _match(eugenie, company, pending_request, status=MatchStatus.PENDING, offer=offer, slot=1,
                     respond_by=timezone.now() + dt.timedelta(days=5))
    pending_request.status = RequestStatus.PROPOSED
    pending_request.save()
    old_request = f.request_for(f.ProjectFactory(owner=eugenie, title="Ancien projet"))
    _match(eugenie, mentor, old_request, status=MatchStatus.COMPLETED, mentor=mentor_profile,
           ended_by=mentor, ended_at=timezone.now() - dt.timedelta(days=40), end_reason=f"Fin avec {name}")

    # Proposals: one rejected by the coordinator (with her name in the reason), one still open.
    open_request = f.request_for(f.ProjectFactory(owner=eugenie, title="Food truck"))
    cycle = make_cycle(status="review")
    cycle.created_by = coordinator
    cycle.save()
    rejected = make_proposal(cycle, open_request, mentor=mentor_profile)
    proposal_reject(actor=coordinator, proposal=rejected, reason_code="other", reason=f"{name} préfère attendre")
    later = make_cycle(status="review")
    open_proposal = make_proposal(later, open_request, mentor=mentor_profile, status=ProposalStatus.PROPOSED)

    # Credentials and traces: an API token, an administrator's edit of her account.
    Token.objects.create(user=eugenie)
    LogEntry.objects.create(
        user=administrator, content_type=ContentType.objects.get_for_model(User), object_id=str(eugenie.pk),
        object_repr=str(eugenie), action_flag=CHANGE, change_message=f'[{{"changed": {{"fields": ["phone"]}}}}] {phone}',
    )
    return World(
        eugenie=User.objects.get(pk=eugenie.pk), mentor=mentor, company=company, coordinator=coordinator,
        administrator=administrator, active_match=active, pending_match=pending, conversation=conversation,
        her_message=her_message, mentor_message=mentor_message, open_request=open_request,
        open_proposal=open_proposal,
    )


@pytest.fixture
def world(mentor, company, coordinator, administrator) -> World:
    return build_world(mentor=mentor, company=company, coordinator=coordinator, administrator=administrator)
