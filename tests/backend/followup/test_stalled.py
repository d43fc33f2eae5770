"""A pair is stalled after FOLLOWUP_STALLED_DAYS with no message and no meeting (frozen clock);
coordinators see their territory's stalled pairs and nudge them."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from cycles.models import MatchStatus
from followup.models import Nudge, OutboxMessage
from followup.selectors import stalled_matches
from tests.backend.followup.conftest import make_match
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def at(days: float):
    return time_machine.travel(START + dt.timedelta(days=days), tick=False)


@pytest.fixture
def pair(entrepreneur, mentor):
    with at(0):
        return make_match(entrepreneur, mentor, activated_at=timezone.now())


def stalled_ids():
    return list(stalled_matches().values_list("pk", flat=True))


def test_a_silent_pair_is_stalled_after_the_configured_days(settings, pair):
    settings.FOLLOWUP_STALLED_DAYS = 21
    with at(20.99):
        assert stalled_ids() == []
    with at(21.01):
        assert stalled_ids() == [pair.pk]


def test_the_number_of_days_is_a_setting(settings, pair):
    settings.FOLLOWUP_STALLED_DAYS = 5
    with at(5.01):
        assert stalled_ids() == [pair.pk]


def test_a_message_restarts_the_count(settings, pair, entrepreneur):
    from chat.services import conversation_open_for_match, message_send

    settings.FOLLOWUP_STALLED_DAYS = 21
    conversation = conversation_open_for_match(match=pair)
    with at(15):
        message_send(user=entrepreneur, conversation=conversation, client_id="m-1", body="Bonjour !")
    with at(30):
        assert stalled_ids() == []
    with at(36.01):
        assert stalled_ids() == [pair.pk]


def test_a_logged_meeting_restarts_the_count(settings, pair, mentor):
    from followup.services import meeting_log

    settings.FOLLOWUP_STALLED_DAYS = 21
    with at(18):
        meeting_log(actor=mentor, match=pair, date=timezone.localdate(), duration_minutes=45, format="in_person")
    with at(38):
        assert stalled_ids() == []
    with at(39.01):
        assert stalled_ids() == [pair.pk]


def test_ended_and_pending_matches_are_never_stalled(settings, entrepreneur, other_entrepreneur, mentor):
    settings.FOLLOWUP_STALLED_DAYS = 21
    with at(0):
        make_match(entrepreneur, mentor, status=MatchStatus.COMPLETED)
        make_match(other_entrepreneur, mentor, status=MatchStatus.PENDING)
    with at(60):
        assert stalled_ids() == []


def test_coordinators_see_the_stalled_pairs_of_their_territory_longest_idle_first(
    settings, coordinator, outside_coordinator, administrator, entrepreneur, other_entrepreneur, mentor, other_mentor
):
    settings.FOLLOWUP_STALLED_DAYS = 21
    with at(0):
        older = make_match(entrepreneur, mentor, activated_at=timezone.now())
    with at(3):
        newer = make_match(other_entrepreneur, other_mentor, activated_at=timezone.now())
    with at(30):
        listed = client_for(coordinator).get("/api/followup/stalled/").json()
        assert [row["id"] for row in listed["results"]] == [older.pk, newer.pk]
        assert listed["results"][0]["idle_days"] == 30 and listed["results"][0]["last_nudge_at"] is None
        assert client_for(administrator).get("/api/followup/stalled/").json()["count"] == 2
        assert client_for(outside_coordinator).get("/api/followup/stalled/").json()["count"] == 0
        assert client_for(entrepreneur).get("/api/followup/stalled/").status_code == 403


def test_a_coordinator_nudges_a_pair_both_are_emailed_after_the_commit(
    coordinator, pair, entrepreneur, mentor, django_capture_on_commit_callbacks
):
    with at(25), django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_for(coordinator).post(f"/api/followup/matches/{pair.pk}/nudge/",
                                                {"message": "On fait le point jeudi ?"})
    assert response.status_code == 201, response.content
    assert len(callbacks) == 1  # delivery is queued after the commit, not run inside it
    nudge = Nudge.objects.get()
    assert (nudge.coordinator, nudge.message) == (coordinator, "On fait le point jeudi ?")
    recipients = set(OutboxMessage.objects.filter(kind="nudge").values_list("recipient", flat=True))
    assert recipients == {entrepreneur.pk, mentor.pk}
    assert "On fait le point jeudi ?" in OutboxMessage.objects.first().body
    event = AuditEvent.objects.get(action="match.nudge")
    assert (event.actor, event.target_id, event.territory_id) == (coordinator, pair.pk, pair.territory_id)


def test_a_pair_is_nudged_at_most_once_a_day(coordinator, administrator, pair):
    with at(25):
        assert client_for(coordinator).post(f"/api/followup/matches/{pair.pk}/nudge/", {}).status_code == 201
        assert client_for(administrator).post(f"/api/followup/matches/{pair.pk}/nudge/", {}).status_code == 409
    with at(26.01):
        assert client_for(coordinator).post(f"/api/followup/matches/{pair.pk}/nudge/", {}).status_code == 201
    assert Nudge.objects.count() == 2 and OutboxMessage.objects.count() == 4


@pytest.mark.parametrize(("persona", "expected"), [("entrepreneur", 403), ("mentor", 403),
                                                   ("outside_coordinator", 404), ("other_entrepreneur", 404)])
def test_only_coordinators_of_the_territory_nudge(request, pair, persona, expected):
    response = client_for(request.getfixturevalue(persona)).post(f"/api/followup/matches/{pair.pk}/nudge/", {})
    assert response.status_code == expected
    assert not Nudge.objects.exists() and not OutboxMessage.objects.exists()


def test_an_ended_pair_is_not_nudged(coordinator, entrepreneur, mentor):
    ended = make_match(entrepreneur, mentor, status=MatchStatus.COMPLETED)
    assert client_for(coordinator).post(f"/api/followup/matches/{ended.pk}/nudge/", {}).status_code == 409


def test_a_too_long_nudge_message_is_a_400(coordinator, pair):
    response = client_for(coordinator).post(f"/api/followup/matches/{pair.pk}/nudge/", {"message": "x" * 1001})
    assert response.status_code == 400 and "message" in response.json()
