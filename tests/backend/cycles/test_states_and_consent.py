"""The cycle's state machine, publication, the parties' consent and the end of a match."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import AuditEvent
from cycles import adapter
from cycles.models import Cycle, CycleStatus, Match, MatchStatus, ProposalStatus
from cycles.services import cycle_publish, match_end, matches_expire_overdue, proposal_approve
from marketplace.models import RequestStatus
from tests import factories as f
from tests.backend.cycles.conftest import make_cycle, make_proposal, open_request
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def post(user, url, body=None):
    return client_for(user).post(url, body or {}, format="json")


# --- State machine --------------------------------------------------------------------------------


def test_a_coordinator_creates_a_cycle_for_his_territory_with_a_configuration(coordinator):
    response = post(coordinator, "/api/cycles/", {
        "territory": "rive-droite", "name": "Mars", "opens_on": "2026-03-01", "closes_on": "2026-03-31",
        "weight_skills": 0.7, "min_score": 30,
    })
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["weight_skills"], body["min_score"]) == ("draft", 0.7, 30.0)
    assert AuditEvent.objects.filter(action="cycle.create", target_id=body["id"]).exists()


@pytest.mark.parametrize("field,value", [("weight_skills", 11), ("weight_distance", -1), ("min_score", 101),
                                         ("candidates_per_request", 0)])
def test_a_configuration_value_outside_its_range_is_refused_naming_the_field(coordinator, field, value):
    response = post(coordinator, "/api/cycles/", {
        "territory": "rive-droite", "name": "Mars", "opens_on": "2026-03-01", "closes_on": "2026-03-31", field: value,
    })
    assert response.status_code == 400 and field in response.json()
    assert not Cycle.objects.exists()


def test_all_weights_at_zero_are_refused(coordinator):
    cycle = make_cycle()
    zero = {name: 0 for name in ("weight_skills", "weight_sector", "weight_distance", "weight_availability",
                                 "weight_preference")}
    response = client_for(coordinator).patch(f"/api/cycles/{cycle.pk}/", zero, format="json")
    assert response.status_code == 400 and "weight_skills" in response.json()


def test_a_coordinator_cannot_create_a_cycle_elsewhere_or_a_national_one(outside_coordinator, coordinator):
    body = {"territory": "rive-droite", "name": "X", "opens_on": "2026-03-01", "closes_on": "2026-03-31"}
    assert post(outside_coordinator, "/api/cycles/", body).status_code == 403
    assert post(coordinator, "/api/cycles/", {**body, "territory": None}).status_code == 403


def test_the_cycle_goes_through_its_states_and_refuses_wrong_transitions(coordinator, immediate_tasks,
                                                                         django_capture_on_commit_callbacks):
    cycle = make_cycle()
    url = f"/api/cycles/{cycle.pk}"
    assert post(coordinator, f"{url}/run/").status_code == 409  # draft
    assert post(coordinator, f"{url}/publish/").status_code == 409
    assert post(coordinator, f"{url}/open/").json()["status"] == "open"
    assert post(coordinator, f"{url}/open/").status_code == 409
    assert post(coordinator, f"{url}/publish/").status_code == 409  # not reviewed yet
    with django_capture_on_commit_callbacks(execute=True):
        assert post(coordinator, f"{url}/run/").status_code == 202
    assert client_for(coordinator).get(f"{url}/").json()["status"] == "review"
    assert post(coordinator, f"{url}/publish/").json()["status"] == "published"
    assert post(coordinator, f"{url}/run/").status_code == 409
    assert post(coordinator, f"{url}/close/").json()["status"] == "closed"
    assert post(coordinator, f"{url}/close/").status_code == 409


def test_a_second_run_while_one_is_going_on_is_refused(coordinator):
    cycle = make_cycle(status=CycleStatus.OPEN)
    first = post(coordinator, f"/api/cycles/{cycle.pk}/run/")
    assert first.status_code == 202 and first.json()["run_stage"] == "queued"
    second = post(coordinator, f"/api/cycles/{cycle.pk}/run/")
    assert second.status_code == 409 and second.json()["status"] == "solving"


def test_a_run_queues_one_durable_job(coordinator):
    from django_tasks_db.models import DBTaskResult

    cycle = make_cycle(status=CycleStatus.OPEN)
    body = post(coordinator, f"/api/cycles/{cycle.pk}/run/").json()
    job = DBTaskResult.objects.get()
    assert str(job.id) == body["run_task_id"] if "run_task_id" in body else True
    assert job.task_path == "cycles.tasks.cycle_run_task" and job.args_kwargs["args"][0] == cycle.pk


def test_cycles_of_other_territories_are_invisible(coordinator, outside_coordinator, entrepreneur):
    cycle = make_cycle()
    assert client_for(outside_coordinator).get(f"/api/cycles/{cycle.pk}/").status_code == 404
    assert post(outside_coordinator, f"/api/cycles/{cycle.pk}/open/").status_code == 404
    assert client_for(entrepreneur).get("/api/cycles/").json()["count"] == 0


# --- Publication and consent ----------------------------------------------------------------------


@pytest.fixture
def published(coordinator, django_capture_on_commit_callbacks):
    """A published cycle with one pending match between a new entrepreneur and a mentor."""
    cycle = make_cycle(status=CycleStatus.REVIEW)
    mentor = f.MentorProfileFactory(capacity=1)
    request = open_request()
    proposal = make_proposal(cycle, request, mentor=mentor)
    proposal_approve(actor=coordinator, proposal=proposal)
    with django_capture_on_commit_callbacks(execute=True):
        cycle_publish(actor=coordinator, cycle=cycle)
    return cycle, Match.objects.get(request=request)


def test_publication_creates_pending_matches_and_tells_both_parties_after_commit(published):
    cycle, match = published
    assert match.status == MatchStatus.PENDING and match.cycle == cycle and match.respond_by > timezone.now()
    assert match.request.status == RequestStatus.PROPOSED
    assert match.proposal.status == ProposalStatus.PUBLISHED
    assert sorted(m.to[0] for m in mail.outbox) == sorted([match.entrepreneur.email, match.provider_user.email])


def test_no_mail_leaves_when_the_publication_rolls_back(coordinator, django_capture_on_commit_callbacks):
    from django.db import transaction

    cycle = make_cycle(status=CycleStatus.REVIEW)
    proposal_approve(actor=coordinator, proposal=make_proposal(cycle, open_request(), mentor=f.MentorProfileFactory()))
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            cycle_publish(actor=coordinator, cycle=cycle)
            raise RuntimeError("rollback")
    assert mail.outbox == [] and not Match.objects.exists()


def test_both_parties_accept_then_the_match_is_active_with_its_conversation(published):
    _, match = published
    first = post(match.entrepreneur, f"/api/matches/{match.pk}/accept/")
    assert first.status_code == 200 and first.json()["status"] == "pending"
    assert first.json()["entrepreneur_accepted_at"] is not None
    second = post(match.provider_user, f"/api/matches/{match.pk}/accept/")
    assert second.json()["status"] == "active"
    match.refresh_from_db()
    assert match.request.status == RequestStatus.MATCHED
    from chat.models import Conversation

    conversation = Conversation.objects.get(match=match)
    assert set(conversation.members.values_list("user_id", flat=True)) == {match.entrepreneur_id,
                                                                           match.provider_user_id}
    assert {e.action for e in AuditEvent.objects.filter(target_id=match.pk, target_type="cycles.match")} == {
        "match.accept", "match.activate"}


def test_only_the_two_parties_answer(published, other_entrepreneur, coordinator):
    _, match = published
    assert post(other_entrepreneur, f"/api/matches/{match.pk}/accept/").status_code == 404
    assert post(coordinator, f"/api/matches/{match.pk}/accept/").status_code == 403


def test_a_decline_frees_the_place_returns_the_request_and_the_pair_is_never_proposed_again(published):
    cycle, match = published
    refused = post(match.provider_user, f"/api/matches/{match.pk}/decline/", {})
    assert refused.status_code == 400 and "reason_code" in refused.json()
    response = post(match.provider_user, f"/api/matches/{match.pk}/decline/",
                    {"reason_code": "not_available", "reason": "Déménagement"})
    assert response.status_code == 200 and response.json()["status"] == "declined"
    match.request.refresh_from_db()
    assert match.request.status == RequestStatus.OPEN
    problem = adapter.load_problem(make_cycle(status=CycleStatus.OPEN))
    key = adapter.provider_key(adapter.KIND_MENTOR, match.mentor_id)
    assert [match.request_id, key] in problem.config.excluded_pairs.tolist()
    mentor_row = list(problem.provider_side.ids).index(key)
    assert problem.provider_side.free[mentor_row] == 1
    event = AuditEvent.objects.get(action="match.decline")
    assert (event.actor, event.reason_code, event.reason) == (match.provider_user, "not_available", "Déménagement")


def test_a_missed_deadline_expires_the_match_and_frees_the_place(published):
    _, match = published
    assert matches_expire_overdue(now=match.respond_by + dt.timedelta(seconds=1)) == 1
    match.refresh_from_db()
    assert match.status == MatchStatus.EXPIRED and match.request.status == RequestStatus.OPEN
    late = post(match.entrepreneur, f"/api/matches/{match.pk}/accept/")
    assert late.status_code == 409


def test_a_match_ends_by_a_party_or_a_coordinator_and_its_conversation_closes(published, coordinator,
                                                                              outside_coordinator):
    _, match = published
    post(match.entrepreneur, f"/api/matches/{match.pk}/accept/")
    post(match.provider_user, f"/api/matches/{match.pk}/accept/")
    assert post(match.entrepreneur, f"/api/matches/{match.pk}/end/", {"status": "ended_early"}).status_code == 400
    with pytest.raises(Exception) as denied:
        match_end(match=match, actor=outside_coordinator, status="completed", reason="")
    assert denied.type.__name__ == "PermissionDenied"
    response = post(coordinator, f"/api/matches/{match.pk}/end/", {"status": "completed", "reason": "Objectifs atteints"})
    assert response.status_code == 200 and response.json()["status"] == "completed"
    from chat.models import Conversation

    assert Conversation.objects.get(match=match).closed_at is not None
    assert AuditEvent.objects.get(action="match.end").reason == "Objectifs atteints"


def test_a_pending_match_cannot_be_ended_only_declined(published):
    _, match = published
    response = post(match.entrepreneur, f"/api/matches/{match.pk}/end/", {"status": "completed"})
    assert response.status_code == 409


def test_matches_are_listed_for_their_parties_with_bounded_queries(published, django_assert_max_num_queries):
    _, match = published
    with django_assert_max_num_queries(5):
        mine = client_for(match.entrepreneur).get("/api/matches/").json()
    assert [m["id"] for m in mine["results"]] == [match.pk]
    assert client_for(f.MentorProfileFactory().user).get("/api/matches/").json()["count"] == 0


def test_the_audit_trail_is_read_by_coordinators_of_the_territory_and_administrators(
        published, coordinator, outside_coordinator, administrator, entrepreneur, django_assert_max_num_queries):
    with django_assert_max_num_queries(5):
        mine = client_for(coordinator).get("/api/audit/?action=cycle.publish").json()
    assert mine["count"] == 1 and mine["results"][0]["actor_label"].startswith("Nadia")
    assert client_for(outside_coordinator).get("/api/audit/?action=cycle.publish").json()["count"] == 0
    assert client_for(administrator).get("/api/audit/?action=cycle.publish").json()["count"] == 1
    assert client_for(entrepreneur).get("/api/audit/").status_code == 403


def test_an_approved_proposal_whose_request_was_withdrawn_is_not_published(coordinator):
    from marketplace.services import request_withdraw

    cycle = make_cycle(status=CycleStatus.REVIEW)
    request = open_request()
    proposal = make_proposal(cycle, request, mentor=f.MentorProfileFactory())
    proposal_approve(actor=coordinator, proposal=proposal)
    request_withdraw(user=request.entrepreneur, request=request)
    # The withdrawal frees the provider's place at once, not at the next publication.
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.CANCELLED and proposal.slot is None
    cycle_publish(actor=coordinator, cycle=cycle)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.CANCELLED and not Match.objects.exists()
