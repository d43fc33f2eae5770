"""Each side rates its match once per phase; the entrepreneur reports the outcome of the project."""

from __future__ import annotations

import pytest

from cycles.models import MatchStatus
from followup.models import Feedback, Outcome
from tests.backend.followup.conftest import make_match
from tests.conftest import client_for
from tests.factories import luhn_complete

pytestmark = pytest.mark.django_db

SIRET = luhn_complete("4428993170001")


def give(user, match, phase="final", rating=4, comment="Très utile"):
    return client_for(user).post("/api/followup/feedback/",
                                 {"match": match.pk, "phase": phase, "rating": rating, "comment": comment})


def test_each_side_gives_a_midway_feedback_while_the_match_is_active(entrepreneur, mentor, mentor_match):
    assert give(entrepreneur, mentor_match, "midway", 5).status_code == 201
    assert give(mentor, mentor_match, "midway", 3).status_code == 201
    assert sorted(Feedback.objects.values_list("side", "rating")) == [("entrepreneur", 5), ("provider", 3)]


def test_the_final_feedback_waits_for_the_end_of_the_match(entrepreneur, mentor_match):
    assert give(entrepreneur, mentor_match, "final").status_code == 409
    mentor_match.status = MatchStatus.COMPLETED
    mentor_match.save()
    assert give(entrepreneur, mentor_match, "final").status_code == 201
    assert give(entrepreneur, mentor_match, "midway").status_code == 409


def test_a_side_gives_each_feedback_once(entrepreneur, mentor):
    ended = make_match(entrepreneur, mentor, status=MatchStatus.ENDED_EARLY)
    assert give(entrepreneur, ended).status_code == 201
    second = give(entrepreneur, ended, rating=1)
    assert second.status_code == 409
    assert Feedback.objects.get().rating == 4


@pytest.mark.parametrize(("field", "value"), [("rating", 0), ("rating", 6), ("rating", "beaucoup"),
                                              ("phase", "later"), ("comment", "x" * 2001)])
def test_bad_feedback_is_a_400_naming_the_field(entrepreneur, mentor_match, field, value):
    response = client_for(entrepreneur).post(
        "/api/followup/feedback/", {"match": mentor_match.pk, "phase": "midway", "rating": 4} | {field: value})
    assert response.status_code == 400 and field in response.json()
    assert not Feedback.objects.exists()


@pytest.mark.parametrize(("persona", "expected"), [("coordinator", 403), ("other_entrepreneur", 404), ("outside_coordinator", 404)])
def test_only_the_two_parties_give_feedback(request, mentor_match, persona, expected):
    assert give(request.getfixturevalue(persona), mentor_match, "midway").status_code == expected


def test_feedback_is_seen_by_the_pair_and_the_territory_coordinators_only(
    entrepreneur, mentor, coordinator, other_entrepreneur, outside_coordinator, mentor_match
):
    feedback_id = give(entrepreneur, mentor_match, "midway").json()["id"]
    for user, code in ((entrepreneur, 200), (mentor, 200), (coordinator, 200), (other_entrepreneur, 404),
                       (outside_coordinator, 404)):
        assert client_for(user).get(f"/api/followup/feedback/{feedback_id}/").status_code == code


def report(user, match, **fields):
    return client_for(user).post("/api/followup/outcomes/", {"match": match.pk} | fields)


def test_the_entrepreneur_reports_a_business_created_with_a_valid_siret(entrepreneur, mentor_match):
    response = report(entrepreneur, mentor_match, status="business_created", siret=SIRET, jobs_created=2)
    assert response.status_code == 200, response.content
    outcome = Outcome.objects.get()
    assert (outcome.status, outcome.siret, outcome.jobs_created, outcome.reported_by) == (
        "business_created", SIRET, 2, entrepreneur)


BAD_CHECKSUM = SIRET[:-1] + str((int(SIRET[-1]) + 1) % 10)


@pytest.mark.parametrize("siret", ["", "1234", "4428993170001A", BAD_CHECKSUM])
def test_a_business_created_needs_a_real_siret(entrepreneur, mentor_match, siret):
    response = report(entrepreneur, mentor_match, status="business_created", siret=siret)
    assert response.status_code == 400 and "siret" in response.json()
    assert not Outcome.objects.exists()


def test_the_outcome_is_updated_as_the_project_evolves(entrepreneur, mentor_match):
    assert report(entrepreneur, mentor_match, status="in_progress").status_code == 200
    assert report(entrepreneur, mentor_match, status="business_created", siret=SIRET).status_code == 200
    assert Outcome.objects.get().status == "business_created"
    assert report(entrepreneur, mentor_match, status="gave_up", siret=SIRET).status_code == 200
    outcome = Outcome.objects.get()
    assert (outcome.status, outcome.siret) == ("gave_up", "")


@pytest.mark.parametrize(("persona", "expected"), [("mentor", 403), ("coordinator", 403), ("other_entrepreneur", 404)])
def test_only_the_entrepreneur_reports_the_outcome(request, mentor_match, persona, expected):
    assert report(request.getfixturevalue(persona), mentor_match, status="in_progress").status_code == expected


def test_a_declined_match_has_no_outcome(entrepreneur, mentor):
    declined = make_match(entrepreneur, mentor, status=MatchStatus.DECLINED)
    assert report(entrepreneur, declined, status="gave_up").status_code == 409


def test_the_database_refuses_a_created_business_without_siret(mentor_match):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Outcome.objects.create(match=mentor_match, status="business_created", siret="")
