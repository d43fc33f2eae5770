"""The coordinator's review: approve, reject, bulk, manual assignment, and the bad input cases."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from cycles.models import CycleStatus, Proposal, ProposalStatus
from tests import factories as f
from tests.backend.cycles.conftest import make_cycle, make_proposal, open_request
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def review():
    """A cycle in review with two proposals for one mentor who has a single place."""
    cycle = make_cycle(status=CycleStatus.REVIEW)
    mentor = f.MentorProfileFactory(capacity=1)
    first = make_proposal(cycle, open_request(), mentor=mentor, score=80)
    second = make_proposal(cycle, open_request(), mentor=mentor, score=60)
    return cycle, mentor, first, second


def approve(user, proposal, **body):
    return client_for(user).post(f"/api/proposals/{proposal.pk}/approve/", body)


def test_a_coordinator_approves_a_proposal_and_the_decision_is_audited(review, coordinator):
    cycle, mentor, first, _ = review
    response = approve(coordinator, first, reason="Bon profil")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "approved"
    event = AuditEvent.objects.get(action="proposal.approve")
    assert (event.actor, event.target_id, event.territory_id, event.reason) == (
        coordinator, first.pk, cycle.territory_id, "Bon profil")


def test_approving_twice_is_idempotent(review, coordinator):
    _, _, first, _ = review
    assert approve(coordinator, first).status_code == 200
    again = approve(coordinator, first)
    assert again.status_code == 200 and again.json()["status"] == "approved"
    assert AuditEvent.objects.filter(action="proposal.approve").count() == 1


def test_approving_past_capacity_is_a_conflict_with_an_explanation(review, coordinator):
    _, _, first, second = review
    assert approve(coordinator, first).status_code == 200
    response = approve(coordinator, second)
    assert response.status_code == 409
    body = response.json()
    assert "capacité 1" in body["detail"] and body["capacity"] == "1" and body["used"] == "1"
    second.refresh_from_db()
    assert second.status == ProposalStatus.PROPOSED


def test_a_live_match_holds_a_place_too(review, coordinator):
    from cycles.models import Match

    _, mentor, first, _ = review
    other = open_request()
    Match.objects.create(request=other, entrepreneur=other.entrepreneur, provider_user=mentor.user,
                         mentor=mentor, territory_id=other.territory_id)
    assert approve(coordinator, first).status_code == 409


def test_approving_a_proposal_of_another_territory_is_forbidden(review, outside_coordinator):
    _, _, first, _ = review
    assert approve(outside_coordinator, first).status_code == 403
    first.refresh_from_db()
    assert first.status == ProposalStatus.PROPOSED


def test_parties_cannot_see_or_approve_proposals(review, entrepreneur, mentor):
    _, _, first, _ = review
    assert approve(entrepreneur, first).status_code == 404
    assert client_for(first.request.entrepreneur).get(f"/api/proposals/{first.pk}/").status_code == 404


def test_rejecting_needs_a_reason_code(review, coordinator):
    _, _, first, _ = review
    response = client_for(coordinator).post(f"/api/proposals/{first.pk}/reject/", {})
    assert response.status_code == 400 and "reason_code" in response.json()
    response = client_for(coordinator).post(f"/api/proposals/{first.pk}/reject/", {"reason_code": "other"})
    assert response.status_code == 400 and "reason" in response.json()
    ok = client_for(coordinator).post(f"/api/proposals/{first.pk}/reject/",
                                      {"reason_code": "skills_mismatch", "reason": "Besoin juridique"})
    assert ok.status_code == 200 and ok.json()["status"] == "rejected"
    event = AuditEvent.objects.get(action="proposal.reject")
    assert (event.reason_code, event.reason) == ("skills_mismatch", "Besoin juridique")


def test_rejecting_an_approved_proposal_frees_its_place(review, coordinator):
    _, _, first, second = review
    approve(coordinator, first)
    client_for(coordinator).post(f"/api/proposals/{first.pk}/reject/", {"reason_code": "known_conflict"})
    assert approve(coordinator, second).status_code == 200


def test_deciding_outside_review_is_a_conflict(review, coordinator):
    cycle, _, first, _ = review
    type(cycle).objects.filter(pk=cycle.pk).update(status=CycleStatus.SOLVING)
    assert approve(coordinator, first).status_code == 409


def test_bulk_approval_reports_each_decision(review, coordinator):
    _, _, first, second = review
    response = client_for(coordinator).post("/api/proposals/bulk/", {"ids": [first.pk, second.pk, 999999],
                                                                     "decision": "approve"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["done"] == [first.pk]
    assert {x["id"] for x in body["failed"]} == {second.pk, 999999}


def test_bulk_rejection_needs_a_reason_code(review, coordinator):
    _, _, first, _ = review
    response = client_for(coordinator).post("/api/proposals/bulk/", {"ids": [first.pk], "decision": "reject"},
                                            format="json")
    assert response.status_code == 400 and "reason_code" in response.json()


def test_manual_assignment_shows_the_score_and_warns_about_violated_constraints(review, coordinator):
    from marketplace.models import Language

    cycle, _, _, _ = review
    request = open_request()
    english_mentor = f.MentorProfileFactory(capacity=1, languages=[Language.objects.get(code="en")])
    url = f"/api/cycles/{cycle.pk}/assign/"
    refused = client_for(coordinator).post(url, {"request": request.pk, "mentor": english_mentor.pk})
    assert refused.status_code == 409 and refused.json()["warnings"] == ["no_common_language"]
    forced = client_for(coordinator).post(url, {"request": request.pk, "mentor": english_mentor.pk, "force": True,
                                                "reason": "Parle aussi français"})
    assert forced.status_code == 201
    body = forced.json()
    assert body["warnings"] == ["no_common_language"] and body["proposal"]["status"] == "approved"
    assert body["proposal"]["source"] == "manual" and body["proposal"]["score"] > 0
    assert AuditEvent.objects.get(action="proposal.assign").data["warnings"] == ["no_common_language"]


def test_manual_assignment_needs_a_place_left(review, coordinator):
    cycle, mentor, first, _ = review
    approve(coordinator, first)
    response = client_for(coordinator).post(f"/api/cycles/{cycle.pk}/assign/",
                                            {"request": open_request().pk, "mentor": mentor.pk})
    assert response.status_code == 409
    assert Proposal.objects.filter(cycle=cycle, source="manual").count() == 0


def test_manual_assignment_supersedes_the_solvers_proposal(review, coordinator):
    cycle, _, first, _ = review
    other = f.MentorProfileFactory(capacity=1)
    response = client_for(coordinator).post(f"/api/cycles/{cycle.pk}/assign/",
                                            {"request": first.request_id, "mentor": other.pk})
    assert response.status_code == 201, response.json()
    first.refresh_from_db()
    assert first.status == ProposalStatus.SUPERSEDED


def test_proposals_sort_and_filter_by_score_criterion_and_town(review, coordinator, django_assert_max_num_queries):
    cycle, mentor, first, second = review
    for _ in range(8):
        make_proposal(cycle, open_request(), mentor=f.MentorProfileFactory(), score=50)
    client = client_for(coordinator)
    with django_assert_max_num_queries(6):
        page = client.get(f"/api/proposals/?cycle={cycle.pk}&ordering=-score").json()
    assert page["count"] == 10 and page["results"][0]["id"] == first.pk
    assert page["results"][0]["breakdown"]["skills"] == 80
    high = client.get(f"/api/proposals/?cycle={cycle.pk}&min_points_skills=55").json()
    assert {p["id"] for p in high["results"]} == {first.pk, second.pk}
    assert client.get(f"/api/proposals/?cycle={cycle.pk}&town=33249").json()["count"] == 10
    assert client.get(f"/api/proposals/?cycle={cycle.pk}&town=33032").json()["count"] == 0
    by_criterion = client.get(f"/api/proposals/?cycle={cycle.pk}&ordering=points_skills").json()
    assert by_criterion["results"][0]["score"] == 50


def test_the_database_refuses_two_approved_proposals_on_one_slot_even_without_locks():
    from django.db import IntegrityError, transaction

    cycle = make_cycle(status=CycleStatus.REVIEW)
    mentor = f.MentorProfileFactory(capacity=2)
    first = make_proposal(cycle, open_request(), mentor=mentor)
    Proposal.objects.filter(pk=first.pk).update(status=ProposalStatus.APPROVED, slot=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        p = make_proposal(cycle, open_request(), mentor=mentor)
        Proposal.objects.filter(pk=p.pk).update(status=ProposalStatus.APPROVED, slot=1)
