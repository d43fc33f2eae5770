"""Every marketplace API endpoint × every persona (anonymous, owner, a user of the same role who
does not own the object, the other roles, a coordinator in and out of the territory, an
administrator) → the status each must get. An endpoint added to marketplace.api.urls without its
row here makes ``test_every_marketplace_endpoint_has_a_row`` fail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver

from marketplace.api import urls as marketplace_urls
from tests.conftest import client_for
from tests.factories import OfferFactory, ProjectFactory, request_for

pytestmark = pytest.mark.django_db

PERSONAS = [
    "anonymous", "entrepreneur", "other_entrepreneur", "mentor", "other_mentor", "company",
    "other_company", "coordinator", "outside_coordinator", "administrator",
]


@dataclass
class World:
    users: dict[str, Any]
    project: Any
    spare_project: Any
    request: Any
    offer: Any
    ids: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def world(request) -> World:
    users = {name: None if name == "anonymous" else request.getfixturevalue(name) for name in PERSONAS}
    project = ProjectFactory(owner=users["entrepreneur"])
    spare = ProjectFactory(owner=users["entrepreneur"])
    ProjectFactory(owner=users["other_entrepreneur"])
    req = request_for(project)
    offer = OfferFactory(company=users["company"].company_profile)
    OfferFactory(company=users["other_company"].company_profile)
    return World(users=users, project=project, spare_project=spare, request=req, offer=offer)


PROJECT_BODY = {"title": "Nouveau", "stage": "idea", "needs": [{"skill": "pricing", "importance": 2}]}
OFFER_BODY = {
    "title": "Offre", "skills": [{"skill": "website", "level": 3}], "languages": ["fr"],
    "accepted_stages": ["idea"], "capacity": 2, "hours_budget": 30,
    "starts_on": "2026-12-01", "ends_on": "2027-06-30",
}
MENTOR_PROFILE = {"town": "33119", "languages": ["fr"], "skills": [{"skill": "pricing", "level": 2}], "capacity": 2}
PROFILE_BODY_BY_ROLE = {
    "entrepreneur": {"town": "33249", "languages": ["fr"]},
    "mentor": MENTOR_PROFILE,
    "company": {"name": "Acme", "siret": "73282932000074", "town": "33032"},
}

ANON = 403  # DRF with session auth first answers 403 to anonymous callers
ALL_AUTH = {p: 200 for p in PERSONAS if p != "anonymous"} | {"anonymous": ANON}


def only(ok: int, who: set[str], hidden: int = 404, roles_forbidden: set[str] | None = None) -> dict[str, int]:
    """``who`` get ``ok``; ``roles_forbidden`` get 403; everyone else signed in gets ``hidden``."""
    out = {"anonymous": ANON}
    for persona in PERSONAS[1:]:
        if persona in who:
            out[persona] = ok
        elif roles_forbidden and persona in roles_forbidden:
            out[persona] = 403
        else:
            out[persona] = hidden
    return out


NON_ENTREPRENEURS = {"mentor", "other_mentor", "company", "other_company", "coordinator", "outside_coordinator", "administrator"}
NON_COMPANIES = {"entrepreneur", "other_entrepreneur", "mentor", "other_mentor", "coordinator", "outside_coordinator", "administrator"}
STAFF_OF_TERRITORY = {"coordinator", "administrator"}

# name → (method, path builder, body builder, expected statuses)
MATRIX: dict[str, tuple[str, Any, Any, dict[str, int]]] = {
    "me": ("get", lambda w: "/api/me/", None, ALL_AUTH),
    "me-patch": ("patch", lambda w: "/api/me/", lambda w, p: {"display_name": "Nouveau nom"}, ALL_AUTH),
    "me-profile": ("get", lambda w: "/api/me/profile/", None,
                   only(200, {"entrepreneur", "other_entrepreneur", "mentor", "other_mentor", "company", "other_company"})),
    "me-profile-put": ("put", lambda w: "/api/me/profile/",
                       lambda w, p: PROFILE_BODY_BY_ROLE.get(w.users[p].role if w.users[p] else "", {}),
                       only(200, {"entrepreneur", "other_entrepreneur", "mentor", "other_mentor", "company",
                                  "other_company"})),
    "project-list": ("get", lambda w: "/api/projects/", None, ALL_AUTH),
    "project-detail": ("get", lambda w: f"/api/projects/{w.project.pk}/", None,
                       only(200, {"entrepreneur"} | STAFF_OF_TERRITORY)),
    "project-create": ("post", lambda w: "/api/projects/", lambda w, p: PROJECT_BODY,
                       only(201, {"entrepreneur", "other_entrepreneur"}, roles_forbidden=NON_ENTREPRENEURS)),
    "project-update": ("put", lambda w: f"/api/projects/{w.project.pk}/", lambda w, p: PROJECT_BODY,
                       only(200, {"entrepreneur"}, roles_forbidden=STAFF_OF_TERRITORY)),
    "request-list": ("get", lambda w: "/api/requests/", None, ALL_AUTH),
    "request-detail": ("get", lambda w: f"/api/requests/{w.request.pk}/", None,
                       only(200, {"entrepreneur"} | STAFF_OF_TERRITORY)),
    "request-create": ("post", lambda w: "/api/requests/", lambda w, p: {"project": w.spare_project.pk},
                       only(201, {"entrepreneur"}, roles_forbidden=NON_ENTREPRENEURS)),
    "request-withdraw": ("post", lambda w: f"/api/requests/{w.request.pk}/withdraw/", lambda w, p: {},
                         only(200, {"entrepreneur"}, roles_forbidden=STAFF_OF_TERRITORY)),
    "offer-list": ("get", lambda w: "/api/offers/", None, ALL_AUTH),
    "offer-detail": ("get", lambda w: f"/api/offers/{w.offer.pk}/", None, only(200, {"company"} | STAFF_OF_TERRITORY)),
    "offer-create": ("post", lambda w: "/api/offers/", lambda w, p: OFFER_BODY,
                     only(201, {"company", "other_company"}, roles_forbidden=NON_COMPANIES)),
    "offer-update": ("put", lambda w: f"/api/offers/{w.offer.pk}/", lambda w, p: OFFER_BODY,
                     only(200, {"company"}, roles_forbidden=STAFF_OF_TERRITORY)),
    "mentor-list": ("get", lambda w: "/api/mentors/", None, ALL_AUTH),
    "mentor-detail": ("get", lambda w: f"/api/mentors/{w.users['mentor'].mentor_profile.pk}/", None,
                      only(200, {"mentor"} | STAFF_OF_TERRITORY)),
    "company-list": ("get", lambda w: "/api/companies/", None, ALL_AUTH),
    "company-detail": ("get", lambda w: f"/api/companies/{w.users['company'].company_profile.pk}/", None,
                       only(200, {"company"} | STAFF_OF_TERRITORY)),
    "entrepreneur-list": ("get", lambda w: "/api/entrepreneurs/", None, ALL_AUTH),
    "entrepreneur-detail": ("get", lambda w: f"/api/entrepreneurs/{w.users['entrepreneur'].entrepreneur_profile.pk}/",
                            None, only(200, {"entrepreneur"} | STAFF_OF_TERRITORY)),
    "consent-list": ("get", lambda w: "/api/consents/", None, ALL_AUTH),
    "consent-grant": ("post", lambda w: "/api/consents/grant/", lambda w, p: {"purpose": "contact_phone"},
                      {p: 201 for p in PERSONAS[1:]} | {"anonymous": ANON}),
    "consent-withdraw": ("post", lambda w: "/api/consents/withdraw/", lambda w, p: {"purpose": "contact_phone"},
                         {p: 204 for p in PERSONAS[1:]} | {"anonymous": ANON}),
    "auth-logout": ("post", lambda w: "/api/auth/logout/", lambda w, p: {}, {p: 204 for p in PERSONAS[1:]} | {"anonymous": ANON}),
    "auth-password-change": ("post", lambda w: "/api/auth/password/change/",
                             lambda w, p: {"old_password": "wrong", "new_password": "x"},
                             {p: 400 for p in PERSONAS[1:]} | {"anonymous": ANON}),
}
# Public endpoints (no object to own), exercised in test_accounts.py and the reference tests.
PUBLIC = {
    "auth-register", "auth-login", "auth-token", "auth-password-reset", "auth-password-reset-confirm",
    "reference-territories", "reference-towns", "reference-skills", "reference-sectors",
    "reference-languages", "reference-stages",
}


def _names(patterns: list[Any]) -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            names |= _names(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(pattern.name)
    return names


def test_every_marketplace_endpoint_has_a_row():
    covered = {key.rsplit("-", 1)[0] if key.endswith(("-put", "-patch")) else key for key in MATRIX} | PUBLIC
    # Router names: "<basename>-list" serves list+create, "<basename>-detail" retrieve+update.
    aliases = {"project-create": "project-list", "project-update": "project-detail",
               "request-create": "request-list", "offer-create": "offer-list", "offer-update": "offer-detail"}
    covered |= set(aliases.values())
    missing = _names(marketplace_urls.urlpatterns) - covered
    assert not missing, f"endpoints without a row in the access matrix: {sorted(missing)}"


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_access_matrix(world, endpoint):
    method, path, body, expected = MATRIX[endpoint]
    assert set(expected) == set(PERSONAS), f"{endpoint}: the row must name every persona"
    seen = {}
    for persona in PERSONAS:
        user = world.users[persona]
        client = client_for(user)
        sid = transaction.savepoint()
        try:
            kwargs = {"format": "json"}
            if body is not None:
                kwargs["data"] = body(world, persona)
            response = getattr(client, method)(path(world), **kwargs)
            seen[persona] = response.status_code
        finally:
            transaction.savepoint_rollback(sid)
    assert seen == expected


def _ids(response) -> set[int]:
    assert response.status_code == 200
    return {row["id"] for row in response.json()["results"]}


def test_lists_show_each_user_only_what_is_theirs(world):
    u = world.users
    assert _ids(client_for(u["entrepreneur"]).get("/api/projects/")) == {world.project.pk, world.spare_project.pk}
    assert _ids(client_for(u["other_entrepreneur"]).get("/api/projects/")) == {
        p.pk for p in u["other_entrepreneur"].projects.all()
    }
    assert _ids(client_for(u["mentor"]).get("/api/projects/")) == set()
    assert _ids(client_for(u["outside_coordinator"]).get("/api/projects/")) == set()
    assert len(_ids(client_for(u["coordinator"]).get("/api/projects/"))) == 3
    assert _ids(client_for(u["company"]).get("/api/offers/")) == {world.offer.pk}
    assert _ids(client_for(u["entrepreneur"]).get("/api/offers/")) == set()
    assert _ids(client_for(u["mentor"]).get("/api/mentors/")) == {u["mentor"].mentor_profile.pk}
    assert _ids(client_for(u["entrepreneur"]).get("/api/mentors/")) == set()
    assert len(_ids(client_for(u["coordinator"]).get("/api/mentors/"))) == 2
    assert _ids(client_for(u["outside_coordinator"]).get("/api/entrepreneurs/")) == set()


def test_a_matched_mentor_sees_the_mentees_project_request_and_profile(world):
    from cycles.models import Match, MatchStatus

    u = world.users
    Match.objects.create(
        request=world.request, entrepreneur=u["entrepreneur"], provider_user=u["mentor"],
        mentor=u["mentor"].mentor_profile, territory=world.request.territory, status=MatchStatus.ACTIVE,
    )
    mentor = client_for(u["mentor"])
    assert mentor.get(f"/api/projects/{world.project.pk}/").status_code == 200
    assert mentor.get(f"/api/requests/{world.request.pk}/").status_code == 200
    assert mentor.get(f"/api/entrepreneurs/{u['entrepreneur'].entrepreneur_profile.pk}/").status_code == 200
    assert client_for(u["entrepreneur"]).get(f"/api/mentors/{u['mentor'].mentor_profile.pk}/").status_code == 200
    # …but cannot change them, and the other mentor still sees nothing.
    assert mentor.put(f"/api/projects/{world.project.pk}/", PROJECT_BODY, format="json").status_code == 403
    assert client_for(u["other_mentor"]).get(f"/api/projects/{world.project.pk}/").status_code == 404


def test_non_numeric_ids_are_not_found_rather_than_errors(world):
    client = client_for(world.users["coordinator"])
    for path in ("/api/projects/abc/", "/api/requests/1e9/", "/api/offers/99999999999999999999999/"):
        assert client.get(path).status_code == 404
