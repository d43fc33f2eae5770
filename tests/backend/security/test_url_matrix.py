"""Every URL of the site (API and pages) × every persona → the status each must get.

Personas: anonymous, the owner (entrepreneur, mentor, company of the objects), a user of the same
role who does not own them (other_*), a coordinator of the territory and one of another
territory, an administrator. The URL patterns are enumerated from ``config.urls``: a pattern (and
each HTTP method its view serves) without a row here makes ``test_every_url_and_method_has_a_row``
fail. The marketplace rows are imported from its own matrix; the rest are written here.

Each request runs in a savepoint rolled back afterwards, so every persona meets the same world."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from tests.backend.marketplace import test_access_matrix as market
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

PERSONAS = market.PERSONAS
OWNERS = {"entrepreneur", "mentor", "company"}

# URL names (namespace:name) exempt from the matrix, with the reason.
EXEMPT = {
    "set_language": "Django's language switch: stores a cookie, touches no data (tests/frontend/test_pages.py)",
    "api-schema": "the OpenAPI document, public by design; fuzzed in test_api_fuzz.py",
    "api-docs": "Swagger UI over the schema, public by design",
}
EXEMPT_PREFIXES = {"admin:": "Django admin: staff only, guarded by Django (test_audit.py exercises it)"}


def expect(default: int, anonymous: int = 403, **codes: int) -> dict[str, int]:
    return {p: codes.get(p, default) for p in PERSONAS} | {"anonymous": anonymous}


STAFF = {"coordinator", "administrator"}
ALL_AUTH = expect(200)


def only(ok: int, who: set[str], hidden: int = 404, forbidden: set[str] = frozenset(), anonymous: int = 403):
    return {p: ok if p in who else 403 if p in forbidden else hidden for p in PERSONAS} | {"anonymous": anonymous}


NON_STAFF = set(PERSONAS) - STAFF - {"anonymous"}
PAGE_LOGIN = 302  # pages send anonymous visitors to the login page


def page_for(roles: set[str], ok: int = 200, hidden: int | None = None, who: set[str] | None = None):
    """A page for ``roles`` (403 for other roles); with ``who``, only they get ``ok`` among the
    role, the others of the role ``hidden`` (404)."""
    out = {"anonymous": PAGE_LOGIN}
    for persona in PERSONAS[1:]:
        role = persona.removeprefix("other_").removeprefix("outside_")
        if role not in roles:
            out[persona] = 403
        elif who is not None and persona not in who:
            out[persona] = hidden or 404
        else:
            out[persona] = ok
    return out


@dataclass
class Row:
    method: str
    path: Callable[[Any], str]
    body: Callable[[Any, str], Any] | None
    expected: dict[str, int] | None
    form: bool = False  # a page form (urlencoded) rather than JSON


# --- The world ---------------------------------------------------------------------------------------


@dataclass
class World(market.World):
    cycle: Any = None
    proposal: Any = None
    active: Any = None
    pending: Any = None
    pending_offer: Any = None
    conversation: Any = None
    message: Any = None
    report: Any = None
    meeting: Any = None
    feedback: Any = None
    outcome: Any = None
    nudge: Any = None


@pytest.fixture
def world(request) -> World:
    from chat.services import conversation_open_for_match, message_report, message_send
    from cycles.models import CycleStatus, Match, MatchStatus
    from followup.models import Feedback, Meeting, Nudge, Outcome
    from marketplace.models import RequestStatus
    from tests import factories as f
    from tests.backend.cycles.conftest import make_cycle, make_proposal, open_request

    users = {name: None if name == "anonymous" else request.getfixturevalue(name) for name in PERSONAS}
    project = f.ProjectFactory(owner=users["entrepreneur"])
    spare = f.ProjectFactory(owner=users["entrepreneur"])
    f.ProjectFactory(owner=users["other_entrepreneur"])
    req = f.request_for(project)
    offer = f.OfferFactory(company=users["company"].company_profile)
    f.OfferFactory(company=users["other_company"].company_profile)
    w = World(users=users, project=project, spare_project=spare, request=req, offer=offer)

    w.cycle = make_cycle(status=CycleStatus.REVIEW)
    w.proposal = make_proposal(w.cycle, open_request(user=users["other_entrepreneur"]), mentor=f.MentorProfileFactory())
    # The entrepreneur's active match with the mentor (its own project), and a pending one with the
    # company (its own offer): the marketplace objects of the imported rows stay unmatched.
    matched = f.request_for(f.ProjectFactory(owner=users["entrepreneur"]))
    w.active = Match.objects.create(
        request=matched, entrepreneur=users["entrepreneur"], provider_user=users["mentor"],
        mentor=users["mentor"].mentor_profile, territory=matched.territory, status=MatchStatus.ACTIVE, slot=1,
        activated_at=timezone.now() - dt.timedelta(days=30),
    )
    matched.status = RequestStatus.MATCHED
    matched.save()
    w.pending_offer = f.OfferFactory(company=users["company"].company_profile)
    proposed = f.request_for(f.ProjectFactory(owner=users["entrepreneur"]))
    w.pending = Match.objects.create(
        request=proposed, entrepreneur=users["entrepreneur"], provider_user=users["company"], offer=w.pending_offer,
        territory=proposed.territory, status=MatchStatus.PENDING, slot=1,
        respond_by=timezone.now() + dt.timedelta(days=7),
    )
    proposed.status = RequestStatus.PROPOSED
    proposed.save()
    w.conversation = conversation_open_for_match(match=w.active)
    w.message = message_send(user=users["entrepreneur"], conversation=w.conversation, client_id="w-1",
                             body="Bonjour").message
    w.report, _ = message_report(user=users["mentor"], message=w.message, reason="test")
    w.meeting = Meeting.objects.create(match=w.active, date=timezone.localdate(), duration_minutes=30,
                                       format="phone", logged_by=users["mentor"])
    w.feedback = Feedback.objects.create(match=w.active, author=users["mentor"], side="provider", phase="midway",
                                         rating=4)
    w.outcome = Outcome.objects.create(match=w.active, status="in_progress")
    w.nudge = Nudge.objects.create(match=w.active, coordinator=users["coordinator"],
                                   created_at=timezone.now() - dt.timedelta(days=3))
    return w


# --- Rows ---------------------------------------------------------------------------------------------

# The marketplace matrix, imported, with the two rows the world's matches change: a matched
# entrepreneur sees their mentor's and their company's profile, a matched mentor their mentee's.
MARKET_OVERRIDES = {
    "mentor-detail": {"entrepreneur": 200},
    "company-detail": {"entrepreneur": 200},
    "entrepreneur-detail": {"mentor": 200, "company": 200},
}


def _market_rows() -> dict[str, Row]:
    rows = {}
    for key, (method, path, body, expected) in market.MATRIX.items():
        if key in MARKET_OVERRIDES:
            expected = expected | MARKET_OVERRIDES[key]
        rows[f"market {key}"] = Row(method, path, body, expected)
    return rows


def _id(attr: str) -> Callable[[Any], Any]:
    return lambda w: getattr(w, attr).pk


CYCLE_BODY = {"territory": "rive-droite", "name": "Cycle de mai", "opens_on": "2027-05-01", "closes_on": "2027-05-31"}
TODAY = dt.date.today().isoformat()

ROWS: dict[str, Row] = {
    **_market_rows(),
    # Public: anyone, signed in or not, gets a validation error on an empty body (never a 500).
    "register": Row("post", lambda w: "/api/auth/register/", lambda w, p: {}, expect(400, anonymous=400)),
    "login": Row("post", lambda w: "/api/auth/login/", lambda w, p: {}, expect(400, anonymous=400)),
    "token": Row("post", lambda w: "/api/auth/token/", lambda w, p: {}, expect(400, anonymous=400)),
    "reset": Row("post", lambda w: "/api/auth/password/reset/", lambda w, p: {}, expect(400, anonymous=400)),
    "reset-confirm": Row("post", lambda w: "/api/auth/password/reset/confirm/", lambda w, p: {},
                         expect(400, anonymous=400)),
    **{f"reference {kind}": Row("get", (lambda k: lambda w: f"/api/reference/{k}/")(kind), None,
                                expect(200, anonymous=200))
       for kind in ("territories", "towns", "skills", "sectors", "languages", "stages")},
    # Cycles: coordinators of the territory (and administrators) only; everyone else 404 on objects.
    "cycle list": Row("get", lambda w: "/api/cycles/", None, ALL_AUTH),
    "cycle create": Row("post", lambda w: "/api/cycles/", lambda w, p: CYCLE_BODY, None),
    "cycle detail": Row("get", lambda w: f"/api/cycles/{w.cycle.pk}/", None, only(200, STAFF)),
    "cycle configure": Row("patch", lambda w: f"/api/cycles/{w.cycle.pk}/", lambda w, p: {"min_score": 30}, None),
    "cycle open": Row("post", lambda w: f"/api/cycles/{w.cycle.pk}/open/", lambda w, p: {}, None),
    "cycle close": Row("post", lambda w: f"/api/cycles/{w.cycle.pk}/close/", lambda w, p: {}, None),
    "cycle publish": Row("post", lambda w: f"/api/cycles/{w.cycle.pk}/publish/", lambda w, p: {}, None),
    "cycle run": Row("post", lambda w: f"/api/cycles/{w.cycle.pk}/run/", lambda w, p: {}, None),
    "cycle resolve": Row("post", lambda w: f"/api/cycles/{w.cycle.pk}/resolve/", lambda w, p: {}, None),
    "cycle assign": Row("post", lambda w: f"/api/cycles/{w.cycle.pk}/assign/",
                        lambda w, p: {"request": w.request.pk, "mentor": w.users["other_mentor"].mentor_profile.pk},
                        None),
    "cycle unmatched": Row("get", lambda w: f"/api/cycles/{w.cycle.pk}/unmatched/", None, only(200, STAFF)),
    "proposal list": Row("get", lambda w: "/api/proposals/", None, ALL_AUTH),
    "proposal bulk": Row("post", lambda w: "/api/proposals/bulk/",
                         lambda w, p: {"ids": [w.proposal.pk], "decision": "reject", "reason_code": "other"}, None),
    "proposal detail": Row("get", lambda w: f"/api/proposals/{w.proposal.pk}/", None, only(200, STAFF)),
    "proposal approve": Row("post", lambda w: f"/api/proposals/{w.proposal.pk}/approve/", lambda w, p: {}, None),
    "proposal reject": Row("post", lambda w: f"/api/proposals/{w.proposal.pk}/reject/",
                           lambda w, p: {"reason_code": "other"}, None),
    "match list": Row("get", lambda w: "/api/matches/", None, ALL_AUTH),
    "match detail": Row("get", lambda w: f"/api/matches/{w.active.pk}/", None, None),
    "match accept": Row("post", lambda w: f"/api/matches/{w.pending.pk}/accept/", lambda w, p: {}, None),
    "match decline": Row("post", lambda w: f"/api/matches/{w.pending.pk}/decline/",
                         lambda w, p: {"reason_code": "not_available"}, None),
    "match end": Row("post", lambda w: f"/api/matches/{w.active.pk}/end/",
                     lambda w, p: {"status": "completed", "reason": ""}, None),
    "decision log": Row("get", lambda w: "/api/audit/", None, None),
    # Chat: the two members; coordinators of the territory for reports only.
    "conversation list": Row("get", lambda w: "/api/conversations/", None, ALL_AUTH),
    "conversation detail": Row("get", lambda w: f"/api/conversations/{w.conversation.pk}/", None, None),
    "conversation history": Row("get", lambda w: f"/api/conversations/{w.conversation.pk}/messages/", None, None),
    "conversation send": Row("post", lambda w: f"/api/conversations/{w.conversation.pk}/messages/",
                             lambda w, p: {"client_id": f"x-{p}", "body": "Bonjour"}, None),
    "conversation read": Row("post", lambda w: f"/api/conversations/{w.conversation.pk}/read/",
                             lambda w, p: {"up_to_seq": 1}, None),
    "message report": Row("post", lambda w: f"/api/messages/{w.message.pk}/report/",
                          lambda w, p: {"reason": "insulte"}, None),
    "chat reports": Row("get", lambda w: "/api/chat/reports/", None, None),
    "chat report resolve": Row("post", lambda w: f"/api/chat/reports/{w.report.pk}/resolve/",
                               lambda w, p: {"note": "vu"}, None),
    # Follow-up: the pair and the territory's coordinators.
    "meeting list": Row("get", lambda w: "/api/followup/meetings/", None, ALL_AUTH),
    "meeting log": Row("post", lambda w: "/api/followup/meetings/",
                       lambda w, p: {"match": w.active.pk, "date": TODAY, "duration_minutes": 45, "format": "video"},
                       None),
    "meeting detail": Row("get", lambda w: f"/api/followup/meetings/{w.meeting.pk}/", None, None),
    "meeting delete": Row("delete", lambda w: f"/api/followup/meetings/{w.meeting.pk}/", None, None),
    "feedback list": Row("get", lambda w: "/api/followup/feedback/", None, ALL_AUTH),
    "feedback give": Row("post", lambda w: "/api/followup/feedback/",
                         lambda w, p: {"match": w.active.pk, "phase": "midway", "rating": 5}, None),
    "feedback detail": Row("get", lambda w: f"/api/followup/feedback/{w.feedback.pk}/", None, None),
    "outcome list": Row("get", lambda w: "/api/followup/outcomes/", None, ALL_AUTH),
    "outcome report": Row("post", lambda w: "/api/followup/outcomes/",
                          lambda w, p: {"match": w.active.pk, "status": "gave_up"}, None),
    "outcome detail": Row("get", lambda w: f"/api/followup/outcomes/{w.outcome.pk}/", None, None),
    "nudge list": Row("get", lambda w: "/api/followup/nudges/", None, ALL_AUTH),
    "nudge detail": Row("get", lambda w: f"/api/followup/nudges/{w.nudge.pk}/", None, None),
    "nudge": Row("post", lambda w: f"/api/followup/matches/{w.active.pk}/nudge/", lambda w, p: {"message": "?"},
                 None),
    "stalled": Row("get", lambda w: "/api/followup/stalled/", None, None),
    "offer hours": Row("get", lambda w: f"/api/followup/offers/{w.offer.pk}/hours/", None, None),
    "report": Row("get", lambda w: "/api/followup/reports/", None, None),
    "report export": Row("get", lambda w: "/api/followup/reports/export/?as=csv", None, None),
    # Accounts (GDPR) and the administrators' trail. A wrong password: nobody is erased here.
    "my export": Row("post", lambda w: "/api/me/export/", lambda w, p: {"password": "wrong"}, expect(400)),
    "my erasure": Row("post", lambda w: "/api/me/erase/", lambda w, p: {"password": "wrong", "confirm": True},
                      expect(400)),
    "audit trail": Row("get", lambda w: "/api/audit/trail/", None, only(200, {"administrator"}, hidden=403)),
    # Health probes: public.
    "healthz": Row("get", lambda w: "/healthz", None, expect(200, anonymous=200)),
    "readyz": Row("get", lambda w: "/readyz", None, expect(200, anonymous=200)),
}

PAGE_ROWS: dict[str, Row] = {
    "home": Row("get", lambda w: "/", None, None),
    "privacy": Row("get", lambda w: "/confidentialite/", None, None),
    "register page": Row("get", lambda w: "/inscription/", None, None),
    "register page post": Row("post", lambda w: "/inscription/", lambda w, p: {}, None, form=True),
    "login page": Row("get", lambda w: "/connexion/", None, None),
    "login page post": Row("post", lambda w: "/connexion/", lambda w, p: {"username": "x@example.org", "password": "x"},
                           None, form=True),
    "logout": Row("post", lambda w: "/deconnexion/", lambda w, p: {}, None, form=True),
    "my space": Row("get", lambda w: "/espace/", None, None),
    "password reset page": Row("get", lambda w: "/mot-de-passe/oublie/", None, None),
    "password reset page post": Row("post", lambda w: "/mot-de-passe/oublie/", lambda w, p: {"email": "x"}, None,
                                    form=True),
    "password reset done": Row("get", lambda w: "/mot-de-passe/envoye/", None, None),
    "password reset confirm": Row("get", lambda w: "/mot-de-passe/nouveau/MQ/bad-token/", None, None),
    "password reset confirm post": Row("post", lambda w: "/mot-de-passe/nouveau/MQ/bad-token/", lambda w, p: {},
                                       None, form=True),
    "password reset complete": Row("get", lambda w: "/mot-de-passe/change/", None, None),
    "password change": Row("get", lambda w: "/mot-de-passe/modifier/", None, None),
    "password change post": Row("post", lambda w: "/mot-de-passe/modifier/", lambda w, p: {}, None, form=True),
    "entrepreneur home": Row("get", lambda w: "/porteur/", None, None),
    "entrepreneur profile": Row("get", lambda w: "/porteur/profil/", None, None),
    "project create": Row("get", lambda w: "/porteur/projets/nouveau/", None, None),
    "project edit": Row("get", lambda w: f"/porteur/projets/{w.project.pk}/", None, None),
    "project needs": Row("get", lambda w: f"/porteur/projets/{w.project.pk}/besoins/", None, None),
    "request create page": Row("get", lambda w: f"/porteur/projets/{w.spare_project.pk}/demande/", None, None),
    "my requests": Row("get", lambda w: "/porteur/demandes/", None, None),
    "request withdraw page": Row("post", lambda w: f"/porteur/demandes/{w.request.pk}/retirer/", lambda w, p: {},
                                 None, form=True),
    "mentor home": Row("get", lambda w: "/parrainage/", None, None),
    "mentor profile": Row("get", lambda w: "/parrainage/profil/", None, None),
    "company home": Row("get", lambda w: "/entreprise/", None, None),
    "company profile": Row("get", lambda w: "/entreprise/profil/", None, None),
    "offers page": Row("get", lambda w: "/entreprise/offres/", None, None),
    "offer create page": Row("get", lambda w: "/entreprise/offres/nouvelle/", None, None),
    "offer edit page": Row("get", lambda w: f"/entreprise/offres/{w.offer.pk}/", None, None),
    "proposals page": Row("get", lambda w: "/propositions/", None, None),
    "matches page": Row("get", lambda w: "/binomes/", None, None),
    "match accept page": Row("post", lambda w: f"/binomes/{w.pending.pk}/accepter/", lambda w, p: {}, None, form=True),
    "match decline page": Row("post", lambda w: f"/binomes/{w.pending.pk}/refuser/",
                              lambda w, p: {"reason_code": "not_available"}, None, form=True),
    "conversation page": Row("get", lambda w: f"/conversations/{w.conversation.pk}/", None, None),
    "my data page": Row("get", lambda w: "/mes-donnees/", None, None),
    "my data export": Row("post", lambda w: "/mes-donnees/",
                          lambda w, p: {"action": "export", "export-password": "wrong"}, None, form=True),
    # Coordination pages: coordinators of the territory and administrators.
    "cycles page": Row("get", lambda w: "/coordination/cycles/", None, None),
    "cycle create page": Row("get", lambda w: "/coordination/cycles/nouveau/", None, None),
    "cycle page": Row("get", lambda w: f"/coordination/cycles/{w.cycle.pk}/", None, None),
    "cycle configure page": Row("get", lambda w: f"/coordination/cycles/{w.cycle.pk}/reglages/", None, None),
    "cycle progress": Row("get", lambda w: f"/coordination/cycles/{w.cycle.pk}/progression/", None, None),
    "cycle open page": Row("post", lambda w: f"/coordination/cycles/{w.cycle.pk}/ouvrir/", lambda w, p: {}, None,
                           form=True),
    "cycle run page": Row("post", lambda w: f"/coordination/cycles/{w.cycle.pk}/calculer/", lambda w, p: {}, None,
                          form=True),
    "cycle publish page": Row("post", lambda w: f"/coordination/cycles/{w.cycle.pk}/publier/", lambda w, p: {},
                              None, form=True),
    "cycle close page": Row("post", lambda w: f"/coordination/cycles/{w.cycle.pk}/clore/", lambda w, p: {}, None,
                            form=True),
    "cycle proposals page": Row("get", lambda w: f"/coordination/cycles/{w.cycle.pk}/propositions/", None, None),
    "cycle proposals csv": Row("get", lambda w: f"/coordination/cycles/{w.cycle.pk}/propositions.csv", None, None),
    "proposals bulk page": Row("post", lambda w: f"/coordination/cycles/{w.cycle.pk}/propositions/lot/",
                               lambda w, p: {"ids": [w.proposal.pk], "decision": "reject", "reason_code": "other"},
                               None, form=True),
    "cycle unmatched page": Row("get", lambda w: f"/coordination/cycles/{w.cycle.pk}/sans-proposition/", None,
                                None),
    "cycle assign page": Row("get", lambda w: f"/coordination/cycles/{w.cycle.pk}/affecter/", None, None),
    "proposal page": Row("get", lambda w: f"/coordination/propositions/{w.proposal.pk}/", None, None),
    "proposal approve page": Row("post", lambda w: f"/coordination/propositions/{w.proposal.pk}/approuver/",
                                 lambda w, p: {}, None, form=True),
    "proposal reject page": Row("post", lambda w: f"/coordination/propositions/{w.proposal.pk}/rejeter/",
                                lambda w, p: {"reason_code": "other"}, None, form=True),
    "dashboard": Row("get", lambda w: "/coordination/tableau-de-bord/", None, None),
    "dashboard csv": Row("get", lambda w: "/coordination/tableau-de-bord/rapport.csv", None, None),
}

# Expected statuses, one column per persona, in this order:
#   anonymous  entrepreneur  other_entrepreneur  mentor  other_mentor  company  other_company
#   coordinator  outside_coordinator  administrator
# Owners are entrepreneur (projects, requests, the matches), mentor (active match, its chat and
# follow-up) and company (offers, the pending sponsorship); other_* are the same roles without them.


def T(codes: str) -> dict[str, int]:
    values = [int(c) for c in codes.split()]
    assert len(values) == len(PERSONAS)
    return dict(zip(PERSONAS, values, strict=True))


EXPECTED: dict[str, dict[str, int]] = {
    "register":                    T("400 400 400 400 400 400 400 400 400 400"),
    "login":                       T("400 400 400 400 400 400 400 400 400 400"),
    "token":                       T("400 400 400 400 400 400 400 400 400 400"),
    "reset":                       T("400 400 400 400 400 400 400 400 400 400"),
    "reset-confirm":               T("400 400 400 400 400 400 400 400 400 400"),
    "reference territories":       T("200 200 200 200 200 200 200 200 200 200"),
    "reference towns":             T("200 200 200 200 200 200 200 200 200 200"),
    "reference skills":            T("200 200 200 200 200 200 200 200 200 200"),
    "reference sectors":           T("200 200 200 200 200 200 200 200 200 200"),
    "reference languages":         T("200 200 200 200 200 200 200 200 200 200"),
    "reference stages":            T("200 200 200 200 200 200 200 200 200 200"),
    "cycle list":                  T("403 200 200 200 200 200 200 200 200 200"),
    "cycle create":                T("403 403 403 403 403 403 403 201 403 201"),
    "cycle detail":                T("403 404 404 404 404 404 404 200 404 200"),
    "cycle configure":             T("403 404 404 404 404 404 404 200 404 200"),
    "cycle open":                  T("403 404 404 404 404 404 404 409 404 409"),
    "cycle close":                 T("403 404 404 404 404 404 404 200 404 200"),
    "cycle publish":               T("403 404 404 404 404 404 404 200 404 200"),
    "cycle run":                   T("403 404 404 404 404 404 404 202 404 202"),
    "cycle resolve":               T("403 404 404 404 404 404 404 202 404 202"),
    "cycle assign":                T("403 404 404 404 404 404 404 201 404 201"),
    "cycle unmatched":             T("403 404 404 404 404 404 404 200 404 200"),
    "proposal list":               T("403 200 200 200 200 200 200 200 200 200"),
    "proposal bulk":               T("403 403 403 403 403 403 403 400 400 400"),
    "proposal detail":             T("403 404 404 404 404 404 404 200 404 200"),
    "proposal approve":            T("403 404 404 404 404 404 404 200 403 200"),
    "proposal reject":             T("403 404 404 404 404 404 404 400 403 400"),
    "match list":                  T("403 200 200 200 200 200 200 200 200 200"),
    "match detail":                T("403 200 404 200 404 404 404 200 404 200"),
    "match accept":                T("403 200 404 404 404 200 404 403 404 403"),
    "match decline":               T("403 200 404 404 404 200 404 403 404 403"),
    "match end":                   T("403 200 404 200 404 404 404 200 404 200"),
    "decision log":                T("403 403 403 403 403 403 403 200 200 200"),
    "conversation list":           T("403 200 200 200 200 200 200 200 200 200"),
    "conversation detail":         T("403 200 404 200 404 404 404 404 404 404"),
    "conversation history":        T("403 200 404 200 404 404 404 404 404 404"),
    "conversation send":           T("403 201 404 201 404 404 404 404 404 404"),
    "conversation read":           T("403 200 404 200 404 404 404 404 404 404"),
    "message report":              T("403 400 404 200 404 404 404 404 404 404"),
    "chat reports":                T("403 200 200 200 200 200 200 200 200 200"),
    "chat report resolve":         T("403 404 404 403 404 404 404 200 404 200"),
    "meeting list":                T("403 200 200 200 200 200 200 200 200 200"),
    "meeting log":                 T("403 201 404 201 404 404 404 403 404 403"),
    "meeting detail":              T("403 200 404 200 404 404 404 200 404 200"),
    "meeting delete":              T("403 403 404 204 404 404 404 204 404 204"),
    "feedback list":               T("403 200 200 200 200 200 200 200 200 200"),
    "feedback give":               T("403 201 404 409 404 404 404 403 404 403"),
    "feedback detail":             T("403 200 404 200 404 404 404 200 404 200"),
    "outcome list":                T("403 200 200 200 200 200 200 200 200 200"),
    "outcome report":              T("403 200 404 403 404 404 404 403 404 403"),
    "outcome detail":              T("403 200 404 200 404 404 404 200 404 200"),
    "nudge list":                  T("403 200 200 200 200 200 200 200 200 200"),
    "nudge detail":                T("403 200 404 200 404 404 404 200 404 200"),
    "nudge":                       T("403 403 404 403 404 404 404 201 404 201"),
    "stalled":                     T("403 403 403 403 403 403 403 200 200 200"),
    "offer hours":                 T("403 404 404 404 404 200 404 200 404 200"),
    "report":                      T("403 403 403 403 403 403 403 200 200 200"),
    "report export":               T("403 403 403 403 403 403 403 200 200 200"),
    "my export":                   T("403 400 400 400 400 400 400 400 400 400"),
    "my erasure":                  T("403 400 400 400 400 400 400 400 400 400"),
    "audit trail":                 T("403 403 403 403 403 403 403 403 403 200"),
    "healthz":                     T("200 200 200 200 200 200 200 200 200 200"),
    "readyz":                      T("200 200 200 200 200 200 200 200 200 200"),
    "home":                        T("200 200 200 200 200 200 200 200 200 200"),
    "privacy":                     T("200 200 200 200 200 200 200 200 200 200"),
    "register page":               T("200 302 302 302 302 302 302 302 302 302"),
    "register page post":          T("200 302 302 302 302 302 302 302 302 302"),
    "login page":                  T("200 302 302 302 302 302 302 302 302 302"),
    "login page post":             T("200 302 302 302 302 302 302 302 302 302"),
    "logout":                      T("302 302 302 302 302 302 302 302 302 302"),
    "my space":                    T("302 302 302 302 302 302 302 302 302 302"),
    "password reset page":         T("200 200 200 200 200 200 200 200 200 200"),
    "password reset page post":    T("200 200 200 200 200 200 200 200 200 200"),
    "password reset done":         T("200 200 200 200 200 200 200 200 200 200"),
    "password reset confirm":      T("200 200 200 200 200 200 200 200 200 200"),
    "password reset confirm post": T("200 200 200 200 200 200 200 200 200 200"),
    "password reset complete":     T("200 200 200 200 200 200 200 200 200 200"),
    "password change":             T("302 200 200 200 200 200 200 200 200 200"),
    "password change post":        T("302 200 200 200 200 200 200 200 200 200"),
    "entrepreneur home":           T("302 200 200 403 403 403 403 403 403 403"),
    "entrepreneur profile":        T("302 200 200 403 403 403 403 403 403 403"),
    "project create":              T("302 200 200 403 403 403 403 403 403 403"),
    "project edit":                T("302 200 404 403 403 403 403 403 403 403"),
    "project needs":               T("302 200 404 403 403 403 403 403 403 403"),
    "request create page":         T("302 200 404 403 403 403 403 403 403 403"),
    "my requests":                 T("302 200 200 403 403 403 403 403 403 403"),
    "request withdraw page":       T("302 302 404 403 403 403 403 403 403 403"),
    "mentor home":                 T("302 403 403 200 200 403 403 403 403 403"),
    "mentor profile":              T("302 403 403 200 200 403 403 403 403 403"),
    "company home":                T("302 403 403 403 403 200 200 403 403 403"),
    "company profile":             T("302 403 403 403 403 200 200 403 403 403"),
    "offers page":                 T("302 403 403 403 403 200 200 403 403 403"),
    "offer create page":           T("302 403 403 403 403 200 200 403 403 403"),
    "offer edit page":             T("302 403 403 403 403 200 404 403 403 403"),
    "proposals page":              T("302 200 200 200 200 200 200 403 403 403"),
    "matches page":                T("302 200 200 200 200 200 200 403 403 403"),
    "match accept page":           T("302 302 404 404 404 302 404 403 403 403"),
    "match decline page":          T("302 302 404 404 404 302 404 403 403 403"),
    "conversation page":           T("302 200 404 200 404 404 404 403 403 403"),
    "my data page":                T("302 200 200 200 200 200 200 200 200 200"),
    "my data export":              T("302 200 200 200 200 200 200 200 200 200"),
    "cycles page":                 T("302 403 403 403 403 403 403 200 200 200"),
    "cycle create page":           T("302 403 403 403 403 403 403 200 200 200"),
    "cycle page":                  T("302 403 403 403 403 403 403 200 404 200"),
    "cycle configure page":        T("302 403 403 403 403 403 403 200 404 200"),
    "cycle progress":              T("302 403 403 403 403 403 403 200 404 200"),
    "cycle open page":             T("302 403 403 403 403 403 403 302 404 302"),
    "cycle run page":              T("302 403 403 403 403 403 403 302 404 302"),
    "cycle publish page":          T("302 403 403 403 403 403 403 302 404 302"),
    "cycle close page":            T("302 403 403 403 403 403 403 302 404 302"),
    "cycle proposals page":        T("302 403 403 403 403 403 403 200 404 200"),
    "cycle proposals csv":         T("302 403 403 403 403 403 403 200 404 200"),
    "proposals bulk page":         T("302 403 403 403 403 403 403 302 404 302"),
    "cycle unmatched page":        T("302 403 403 403 403 403 403 200 404 200"),
    "cycle assign page":           T("302 403 403 403 403 403 403 200 404 200"),
    "proposal page":               T("302 403 403 403 403 403 403 200 404 200"),
    "proposal approve page":       T("302 403 403 403 403 403 403 302 404 302"),
    "proposal reject page":        T("302 403 403 403 403 403 403 200 404 200"),
    "dashboard":                   T("302 403 403 403 403 403 403 200 200 200"),
    "dashboard csv":               T("302 403 403 403 403 403 403 200 200 200"),
}


class _AnyObject:
    """Stands for the world when checking which rows' URLs exist (every id is 1)."""

    pk = 1

    def __getattr__(self, name: str) -> _AnyObject:
        return self

    def __getitem__(self, key: str) -> _AnyObject:
        return self


def _exists(row: Row) -> bool:
    from django.urls import Resolver404

    try:
        resolve(row.path(_AnyObject()).split("?")[0])
    except Resolver404:
        return False
    return True


# Rows of pages still being built by their owner are kept ready here and run once the URL exists.
PAGE_ROWS = {key: row for key, row in PAGE_ROWS.items() if _exists(row)}
ALL_ROWS = {**ROWS, **PAGE_ROWS}
for _key, _row in ALL_ROWS.items():
    if not _key.startswith("market "):
        _row.expected = EXPECTED[_key]


# --- Completeness --------------------------------------------------------------------------------------

METHODS = ("get", "post", "put", "patch", "delete")


def _patterns(patterns: list[Any], namespace: str = "", prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _patterns(pattern.url_patterns, ns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield f"{namespace}{pattern.name}", prefix + str(pattern.pattern), pattern.callback


def _methods(callback: Any) -> set[str]:
    """The HTTP methods a view serves (a function view: at least one, any)."""
    actions = getattr(callback, "actions", None)
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    allowed = set(getattr(view_class, "http_method_names", METHODS)) if view_class else set(METHODS)
    if actions:
        return {m for m in actions if m in allowed and m in METHODS}  # DRF adds "head" at run time
    if view_class is not None:
        from django.views.generic.edit import ProcessFormView

        methods = {m for m in METHODS if m in allowed and hasattr(view_class, m)}
        if getattr(view_class, "put", None) is ProcessFormView.put:
            methods.discard("put")  # Django's form views alias PUT to POST: the POST row covers it
        return methods
    return {"any"}


def required_routes() -> set[tuple[str, str]]:
    required = set()
    for name, route, callback in _patterns(get_resolver().url_patterns):
        if "(?P<format>" in route or name in EXEMPT or name.startswith(tuple(EXEMPT_PREFIXES)):
            continue
        for method in _methods(callback):
            required.add((name, method))
    return required


def covered_routes(world: World) -> set[tuple[str, str]]:
    covered = set()
    for row in ALL_ROWS.values():
        match = resolve(row.path(world).split("?")[0])
        name = f"{match.namespace}:{match.url_name}" if match.namespace else match.url_name
        covered |= {(name, row.method), (name, "any")}
    return covered


def test_every_url_and_method_has_a_row(world):
    required = required_routes()
    assert len(required) > 100, "the walk over config.urls found too little"
    missing = sorted(required - covered_routes(world))
    assert not missing, f"URLs without a row in the access matrix: {missing}"


def test_the_completeness_check_sees_a_new_url(world, monkeypatch):
    """The check can fail: drop one row and it names the URL."""
    monkeypatch.setitem(globals(), "ALL_ROWS", {k: v for k, v in ALL_ROWS.items() if k != "nudge"})
    assert sorted(required_routes() - covered_routes(world)) == [("followup-match-nudge", "post")]


# --- The matrix ----------------------------------------------------------------------------------------


def _clients(world: World, pages: bool) -> dict[str, Any]:
    clients = {}
    for persona in PERSONAS:
        user = world.users[persona]
        if pages:
            client = Client()
            if user is not None:
                client.force_login(user)
        else:
            client = client_for(user)
        clients[persona] = client
    return clients


def _call(client: Any, row: Row, world: World, persona: str, pages: bool) -> int:
    path = row.path(world)
    body = row.body(world, persona) if row.body else None
    if pages:
        # A page may end the session (logout) or replace its cookie: each row starts signed in.
        cookies = client.cookies
        client.cookies = type(cookies)(cookies)
        try:
            if row.form:
                return client.post(path, body or {}).status_code
            return client.generic(row.method.upper(), path).status_code
        finally:
            client.cookies = cookies
    kwargs = {"format": "json"} if body is not None else {}
    if body is not None:
        kwargs["data"] = body
    return getattr(client, row.method)(path, **kwargs).status_code


def _run(world: World, rows: dict[str, Row], pages: bool) -> None:
    # Every persona signs in, registers and resets from one address here: lift those per-address
    # rates, which test_throttling.py covers.
    from rest_framework.throttling import SimpleRateThrottle

    rates = SimpleRateThrottle.THROTTLE_RATES
    lifted = ("login", "register", "password_reset")
    saved = {scope: rates[scope] for scope in lifted}
    rates.update({scope: "10000/min" for scope in lifted})
    try:
        _run_rows(world, rows, pages)
    finally:
        rates.update(saved)


def _run_rows(world: World, rows: dict[str, Row], pages: bool) -> None:
    clients = _clients(world, pages)
    wrong, observed = [], {}
    for key, row in rows.items():
        seen = {}
        for persona in PERSONAS:
            sid = transaction.savepoint()
            try:
                seen[persona] = _call(clients[persona], row, world, persona, pages)
            finally:
                transaction.savepoint_rollback(sid)
        observed[key] = seen
        assert all(code < 500 for code in seen.values()), f"{key}: server error {seen}"
        if row.expected is None or seen != row.expected:
            wrong.append(f"{key}: expected {row.expected}\n{' ' * len(key)}  observed {seen}")
    if os.environ.get("SECURITY_MATRIX_DUMP"):
        print(json.dumps(observed, indent=None))
    assert not wrong, "\n".join(wrong)


def test_api_access_matrix(world):
    _run(world, ROWS, pages=False)


def test_page_access_matrix(world):
    _run(world, PAGE_ROWS, pages=True)
