"""The end of a match (cycles.services.match_end, behind POST /api/matches/{id}/end/): who may end
it, into which states, and what follows for the follow-up (no longer stalled, final feedback)."""

from __future__ import annotations

import pytest

from cycles.models import MatchStatus
from tests.backend.followup.conftest import make_match
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

WHO = [
    ("entrepreneur", 200), ("mentor", 200), ("coordinator", 200), ("administrator", 200),
    ("other_entrepreneur", 404), ("other_mentor", 404), ("company", 404), ("outside_coordinator", 404),
]


@pytest.mark.parametrize(("persona", "expected"), WHO)
def test_either_party_or_a_coordinator_of_the_territory_may_complete_a_match(request, mentor_match, persona, expected):
    user = request.getfixturevalue(persona)
    response = client_for(user).post(f"/api/matches/{mentor_match.pk}/end/", {"status": "completed", "reason": ""})
    assert response.status_code == expected, response.content
    mentor_match.refresh_from_db()
    assert mentor_match.status == (MatchStatus.COMPLETED if expected == 200 else MatchStatus.ACTIVE)
    if expected == 200:
        assert mentor_match.ended_by == user and mentor_match.ended_at is not None


def test_ending_early_needs_a_reason_and_keeps_it(entrepreneur, mentor_match):
    client = client_for(entrepreneur)
    missing = client.post(f"/api/matches/{mentor_match.pk}/end/", {"status": "ended_early", "reason": " "})
    assert missing.status_code == 400 and "reason" in missing.json()
    ok = client.post(f"/api/matches/{mentor_match.pk}/end/", {"status": "ended_early", "reason": "Déménagement"})
    assert ok.status_code == 200
    mentor_match.refresh_from_db()
    assert (mentor_match.status, mentor_match.end_reason) == (MatchStatus.ENDED_EARLY, "Déménagement")


def test_an_ended_match_cannot_be_ended_again_another_way(entrepreneur, mentor, mentor_match):
    assert client_for(entrepreneur).post(f"/api/matches/{mentor_match.pk}/end/", {"status": "completed"}).status_code == 200
    again = client_for(mentor).post(f"/api/matches/{mentor_match.pk}/end/", {"status": "ended_early", "reason": "x"})
    assert again.status_code == 409


def test_a_pending_match_is_declined_not_ended(entrepreneur, mentor):
    pending = make_match(entrepreneur, mentor, status=MatchStatus.PENDING)
    response = client_for(entrepreneur).post(f"/api/matches/{pending.pk}/end/", {"status": "completed"})
    assert response.status_code == 409


def test_an_unknown_end_state_is_a_400_naming_the_field(entrepreneur, mentor_match):
    response = client_for(entrepreneur).post(f"/api/matches/{mentor_match.pk}/end/", {"status": "declined"})
    assert response.status_code == 400 and "status" in response.json()


def test_ending_a_match_closes_its_conversation(entrepreneur, mentor_match):
    from chat.models import Conversation
    from chat.services import conversation_open_for_match

    conversation_open_for_match(match=mentor_match)
    client_for(entrepreneur).post(f"/api/matches/{mentor_match.pk}/end/", {"status": "completed"})
    assert Conversation.objects.get(match=mentor_match).closed_at is not None
