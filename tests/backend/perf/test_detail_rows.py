"""The details of requests, offers and mentors are built from ``.values()`` rows like their lists
(``_rows_detail``): the same bytes as their serializers, and a 404 with the same body for what the
caller may not see or what does not exist."""

from __future__ import annotations

import pytest
from rest_framework.renderers import JSONRenderer

from marketplace import selectors
from marketplace.api.serializers import MentorProfileSerializer, OfferSerializer, RequestSerializer
from tests.conftest import client_for
from tests.factories import MentorProfileFactory, OfferFactory, ProjectFactory, request_for

pytestmark = pytest.mark.django_db


def _same(response, data) -> None:
    assert response.status_code == 200, response.content[:300]
    assert response.content == JSONRenderer().render(data)


def test_details_answer_the_serializers_bytes(entrepreneur, company, coordinator, administrator):
    req = request_for(ProjectFactory(owner=entrepreneur))
    offer = OfferFactory(company=company.company_profile, title="Atelier « web » <b>")
    mentor = MentorProfileFactory(user__email="m@example.org", user__display_name="Sophie \"é\"")
    for user in (coordinator, administrator):
        api = client_for(user)
        _same(api.get(f"/api/requests/{req.pk}/"),
              RequestSerializer(selectors.request_get_for_user(user=user, request_id=req.pk)).data)
        _same(api.get(f"/api/offers/{offer.pk}/"),
              OfferSerializer(selectors.offer_get_for_user(user=user, offer_id=offer.pk)).data)
        _same(api.get(f"/api/mentors/{mentor.pk}/"),
              MentorProfileSerializer(selectors.mentor_profile_get_for_user(user=user, mentor_id=mentor.pk)).data)
    _same(client_for(entrepreneur).get(f"/api/requests/{req.pk}/"),
          RequestSerializer(selectors.request_get_for_user(user=entrepreneur, request_id=req.pk)).data)
    _same(client_for(company).get(f"/api/offers/{offer.pk}/"),
          OfferSerializer(selectors.offer_get_for_user(user=company, offer_id=offer.pk)).data)


def test_what_one_may_not_see_is_missing(entrepreneur, other_entrepreneur, company, other_company, outside_coordinator):
    req = request_for(ProjectFactory(owner=entrepreneur))
    offer = OfferFactory(company=company.company_profile)
    mentor = MentorProfileFactory(user__email="m@example.org")
    cases = [
        (other_entrepreneur, f"/api/requests/{req.pk}/"),
        (outside_coordinator, f"/api/requests/{req.pk}/"),
        (other_company, f"/api/offers/{offer.pk}/"),
        (outside_coordinator, f"/api/mentors/{mentor.pk}/"),
        (entrepreneur, f"/api/mentors/{mentor.pk}/"),
        (entrepreneur, "/api/requests/999999/"),
    ]
    for user, url in cases:
        response = client_for(user).get(url)
        assert response.status_code == 404, (user, url, response.content[:200])
        assert "not found" in response.json()["detail"]
