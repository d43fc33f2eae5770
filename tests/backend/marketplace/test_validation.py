"""Bad input gets a 4xx naming the field, never a 500, and changes nothing."""

import pytest

from marketplace.models import Offer, Project, Request, RequestNeed
from tests.conftest import client_for
from tests.factories import ProjectFactory, request_for

pytestmark = pytest.mark.django_db

PROJECT = {
    "title": "Épicerie solidaire",
    "description": "Une épicerie de quartier à Génicart.",
    "sector": "retail",
    "stage": "idea",
    "needs": [{"skill": "business_model", "importance": 3}, {"skill": "microcredit", "importance": 2}],
}
OFFER = {
    "title": "Refonte de site internet",
    "skills": [{"skill": "website", "level": 3}],
    "languages": ["fr"],
    "accepted_stages": ["creation", "young"],
    "capacity": 2,
    "hours_budget": 30,
    "starts_on": "2026-12-01",
    "ends_on": "2027-06-30",
}


def test_an_entrepreneur_creates_a_project_and_files_a_request_with_the_project_needs(entrepreneur):
    api = client_for(entrepreneur)
    project = api.post("/api/projects/", PROJECT)
    assert project.status_code == 201, project.content
    request = api.post("/api/requests/", {"project": project.json()["id"], "kind": 1})
    assert request.status_code == 201, request.content
    body = request.json()
    assert body["status"] == "open"
    assert body["territory"] == "rive-droite"
    assert {n["skill"] for n in body["needs"]} == {"business_model", "microcredit"}
    assert body["languages"] == ["fr"]


def test_an_unknown_skill_is_refused_naming_the_field(entrepreneur):
    api = client_for(entrepreneur)
    response = api.post("/api/projects/", {**PROJECT, "needs": [{"skill": "juggling", "importance": 2}]})
    assert response.status_code == 400
    assert "skill" in response.json()["needs"]["0"]
    assert not Project.objects.exists()


def test_a_request_with_one_invalid_need_among_three_creates_nothing(entrepreneur):
    api = client_for(entrepreneur)
    project = ProjectFactory(owner=entrepreneur)
    needs = [
        {"skill": "pricing", "importance": 2},
        {"skill": "website", "importance": 7},
        {"skill": "branding", "importance": 1},
    ]
    response = api.post("/api/requests/", {"project": project.pk, "needs": needs})
    assert response.status_code == 400
    assert "importance" in response.json()["needs"]["1"]
    assert not Request.objects.exists() and not RequestNeed.objects.exists()


def test_the_same_skill_twice_in_needs_is_refused(entrepreneur):
    api = client_for(entrepreneur)
    project = ProjectFactory(owner=entrepreneur)
    needs = [{"skill": "pricing", "importance": 2}, {"skill": "pricing", "importance": 3}]
    response = api.post("/api/requests/", {"project": project.pk, "needs": needs})
    assert response.status_code == 400 and "needs" in response.json()
    assert not Request.objects.exists()


def test_a_request_on_someone_elses_project_is_not_found_and_creates_nothing(entrepreneur, other_entrepreneur):
    theirs = ProjectFactory(owner=other_entrepreneur)
    response = client_for(entrepreneur).post("/api/requests/", {"project": theirs.pk})
    assert response.status_code == 404
    assert not Request.objects.exists()


def test_updating_someone_elses_project_is_not_found(entrepreneur, other_entrepreneur):
    theirs = ProjectFactory(owner=other_entrepreneur, title="Le leur")
    response = client_for(entrepreneur).put(f"/api/projects/{theirs.pk}/", PROJECT)
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.title == "Le leur"


def test_a_second_open_request_for_a_project_is_refused(entrepreneur):
    project = ProjectFactory(owner=entrepreneur)
    api = client_for(entrepreneur)
    assert api.post("/api/requests/", {"project": project.pk}).status_code == 201
    response = api.post("/api/requests/", {"project": project.pk})
    assert response.status_code == 400
    assert "project" in response.json()
    assert Request.objects.count() == 1


def test_a_withdrawn_request_can_be_filed_again(entrepreneur):
    project = ProjectFactory(owner=entrepreneur)
    api = client_for(entrepreneur)
    first = api.post("/api/requests/", {"project": project.pk}).json()
    withdrawn = api.post(f"/api/requests/{first['id']}/withdraw/", {"reason": "Plus tard"})
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert api.post(f"/api/requests/{first['id']}/withdraw/").status_code == 400
    assert api.post("/api/requests/", {"project": project.pk}).status_code == 201


def test_a_mentor_cannot_publish_an_offer(mentor):
    response = client_for(mentor).post("/api/offers/", OFFER)
    assert response.status_code == 403
    assert not Offer.objects.exists()


def test_a_mentor_cannot_file_a_request(mentor, entrepreneur):
    project = ProjectFactory(owner=entrepreneur)
    assert client_for(mentor).post("/api/requests/", {"project": project.pk}).status_code == 403


def test_a_company_publishes_an_offer(company):
    response = client_for(company).post("/api/offers/", OFFER)
    assert response.status_code == 201, response.content
    assert response.json()["skills"] == [{"skill": "website", "level": 3}]
    assert response.json()["town"] == "33032"


@pytest.mark.parametrize("capacity", [-1, 0, 100000, "beaucoup"])
def test_an_absurd_offer_capacity_is_refused(company, capacity):
    response = client_for(company).post("/api/offers/", {**OFFER, "capacity": capacity})
    assert response.status_code == 400
    assert "capacity" in response.json()
    assert not Offer.objects.exists()


def test_an_offer_ending_before_it_starts_is_refused(company):
    response = client_for(company).post("/api/offers/", {**OFFER, "ends_on": "2026-01-01"})
    assert response.status_code == 400 and "ends_on" in response.json()


@pytest.mark.parametrize("capacity", [-3, 11])
def test_an_absurd_mentor_capacity_is_refused(mentor, capacity):
    api = client_for(mentor)
    profile = api.get("/api/me/profile/").json()
    response = api.put("/api/me/profile/", {**profile, "capacity": capacity})
    assert response.status_code == 400 and "capacity" in response.json()
    mentor.mentor_profile.refresh_from_db()
    assert mentor.mentor_profile.capacity == 2


def test_a_mentor_updates_skills_and_pauses(mentor):
    api = client_for(mentor)
    profile = api.get("/api/me/profile/").json()
    body = {**profile, "skills": [{"skill": "pricing", "level": 3}], "paused": True, "reachable_towns": ["33249"]}
    response = api.put("/api/me/profile/", body)
    assert response.status_code == 200, response.content
    assert response.json()["skills"] == [{"skill": "pricing", "level": 3}]
    assert response.json()["paused"] is True


def test_oversized_text_is_refused(entrepreneur):
    response = client_for(entrepreneur).post("/api/projects/", {**PROJECT, "description": "x" * 4001})
    assert response.status_code == 400 and "description" in response.json()
    assert not Project.objects.exists()


def test_malformed_json_is_a_400(entrepreneur):
    api = client_for(entrepreneur)
    response = api.generic("POST", "/api/projects/", '{"title": "x", ', content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


@pytest.mark.parametrize("siret", ["1234", "12345678901234", "abcdefghijklmn"])
def test_a_bad_siret_is_refused(db, siret):
    from accounts.models import Role
    from tests.factories import UserFactory

    user = UserFactory(role=Role.COMPANY)
    response = client_for(user).put(
        "/api/me/profile/", {"name": "Acme", "siret": siret, "town": "33032"}
    )
    assert response.status_code == 400 and "siret" in response.json()


def test_a_company_profile_with_a_valid_siret_is_saved(db):
    from accounts.models import Role
    from tests.factories import UserFactory

    user = UserFactory(role=Role.COMPANY)
    # 73282932000074: a real, Luhn-valid SIRET format.
    response = client_for(user).put("/api/me/profile/", {"name": "Acme", "siret": "73282932000074", "town": "33032"})
    assert response.status_code == 200, response.content


def test_priority_data_needs_explicit_consent_and_withdrawal_erases_it(entrepreneur):
    api = client_for(entrepreneur)
    base = {"town": "33249", "languages": ["fr", "ar"], "age_band": "under_26", "gender": "woman"}
    refused = api.put("/api/me/profile/", base)
    assert refused.status_code == 400 and "consent" in refused.json()
    assert api.post("/api/consents/grant/", {"purpose": "priority_data"}).status_code == 201
    saved = api.put("/api/me/profile/", base)
    assert saved.status_code == 200 and saved.json()["age_band"] == "under_26"
    assert api.post("/api/consents/withdraw/", {"purpose": "priority_data"}).status_code == 204
    profile = api.get("/api/me/profile/").json()
    assert profile["age_band"] == "" and profile["gender"] == ""
    history = api.get("/api/consents/").json()["results"]
    assert history[0]["withdrawn_at"] is not None


def test_a_neighbourhood_outside_the_town_is_refused(entrepreneur):
    from marketplace.models import Neighbourhood

    floirac = Neighbourhood.objects.get(name="Dravemont")
    response = client_for(entrepreneur).put(
        "/api/me/profile/", {"town": "33249", "languages": ["fr"], "neighbourhood": floirac.pk}
    )
    assert response.status_code == 400 and "neighbourhood" in response.json()


def test_a_request_needs_a_profile_first(db):
    from tests.factories import ProjectFactory

    project = ProjectFactory()
    response = client_for(project.owner).post("/api/requests/", {"project": project.pk})
    assert response.status_code == 400 and "profile" in response.json()


def test_service_refuses_a_second_live_request_even_if_called_directly(entrepreneur):
    from django.core.exceptions import ValidationError

    project = ProjectFactory(owner=entrepreneur)
    request_for(project)
    with pytest.raises(ValidationError):
        request_for(project)
