"""Proposals and matches pages of the two parties: see, accept, decline with a reason."""

from __future__ import annotations

import html as htmllib

import pytest

from cycles.models import Match, MatchStatus
from marketplace.models import RequestStatus
from tests.factories import ProjectFactory, request_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(entrepreneur, mentor):
    support_request = request_for(ProjectFactory(owner=entrepreneur, title="Épicerie <i>solidaire</i>"))
    support_request.status = RequestStatus.PROPOSED
    support_request.save()
    return Match.objects.create(
        request=support_request, entrepreneur=entrepreneur, provider_user=mentor, mentor=mentor.mentor_profile,
        territory=support_request.territory, status=MatchStatus.PENDING,
    )


def test_both_parties_see_the_proposal_and_the_project_title_is_escaped(page_client, pending, entrepreneur, mentor):
    assert "Sophie" in page_client(entrepreneur).get("/propositions/").content.decode()
    html = page_client(mentor).get("/propositions/").content.decode()
    assert "Amina" in html and "&lt;i&gt;solidaire&lt;/i&gt;" in html and "<i>solidaire" not in html


def test_a_match_starts_when_both_accept(page_client, pending, entrepreneur, mentor):
    response = page_client(entrepreneur).post(f"/binomes/{pending.pk}/accepter/")
    assert response.status_code == 302 and response["Location"] == "/propositions/"
    pending.refresh_from_db()
    assert pending.status == MatchStatus.PENDING and pending.entrepreneur_accepted_at
    response = page_client(mentor).post(f"/binomes/{pending.pk}/accepter/")
    assert response["Location"] == "/binomes/"
    pending.refresh_from_db()
    assert pending.status == MatchStatus.ACTIVE
    assert "Sophie" in page_client(entrepreneur).get("/binomes/").content.decode()


def test_declining_needs_a_reason_and_then_frees_the_request(page_client, pending, mentor):
    client = page_client(mentor)
    response = client.post(f"/binomes/{pending.pk}/refuser/", follow=True)
    assert "Indiquez pourquoi vous refusez." in htmllib.unescape(response.content.decode())
    pending.refresh_from_db()
    assert pending.status == MatchStatus.PENDING
    client.post(f"/binomes/{pending.pk}/refuser/", {f"m{pending.pk}-reason_code": "distance", f"m{pending.pk}-reason": "trop loin"})
    pending.refresh_from_db()
    assert pending.status == MatchStatus.DECLINED and pending.end_reason_code == "distance"
    pending.request.refresh_from_db()
    assert pending.request.status == RequestStatus.OPEN


def test_someone_else_cannot_answer_a_proposal(page_client, pending, other_entrepreneur, other_mentor, coordinator):
    for user in (other_entrepreneur, other_mentor):
        assert page_client(user).post(f"/binomes/{pending.pk}/accepter/").status_code == 404
    assert page_client(coordinator).post(f"/binomes/{pending.pk}/accepter/").status_code == 403
    assert page_client(None).get("/propositions/").status_code == 302
    pending.refresh_from_db()
    assert pending.status == MatchStatus.PENDING and not pending.entrepreneur_accepted_at
