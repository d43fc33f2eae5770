"""Meetings are logged by either party; a company's sponsorship hours never exceed its offer's
budget, even when two meetings are logged at the same moment."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from cycles.models import MatchStatus
from followup.models import Meeting, OfferHours
from tests.backend.followup.conftest import make_match
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

TODAY = lambda: timezone.localdate().isoformat()  # noqa: E731


def body(the_match, **overrides):
    return {"match": the_match.pk, "date": TODAY(), "duration_minutes": 60, "format": "video", "note": "Point d'étape"} | overrides


@pytest.mark.parametrize("persona", ["entrepreneur", "mentor"])
def test_either_party_logs_a_meeting(request, mentor_match, persona):
    user = request.getfixturevalue(persona)
    response = client_for(user).post("/api/followup/meetings/", body(mentor_match))
    assert response.status_code == 201, response.content
    meeting = Meeting.objects.get()
    assert (meeting.logged_by, meeting.duration_minutes, meeting.offer_id) == (user, 60, None)


def test_a_coordinator_reads_meetings_but_does_not_log_them(coordinator, mentor_match):
    assert client_for(coordinator).post("/api/followup/meetings/", body(mentor_match)).status_code == 403


@pytest.mark.parametrize("persona", ["other_entrepreneur", "other_mentor", "outside_coordinator"])
def test_someone_outside_the_match_cannot_even_see_it(request, mentor_match, persona):
    user = request.getfixturevalue(persona)
    assert client_for(user).post("/api/followup/meetings/", body(mentor_match)).status_code == 404
    assert not Meeting.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("duration_minutes", 0), ("duration_minutes", 601), ("format", "pigeon"), ("note", "x" * 501),
     ("date", "demain"), ("match", 2**70)],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(entrepreneur, mentor_match, field, value):
    response = client_for(entrepreneur).post("/api/followup/meetings/", body(mentor_match, **{field: value}))
    assert response.status_code == 400 and field in response.json()
    assert not Meeting.objects.exists()


def test_a_meeting_in_the_future_or_before_the_match_began_is_refused(entrepreneur, mentor_match):
    client = client_for(entrepreneur)
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    assert client.post("/api/followup/meetings/", body(mentor_match, date=tomorrow)).json().keys() == {"date"}
    long_ago = (timezone.localdate() - dt.timedelta(days=400)).isoformat()
    assert client.post("/api/followup/meetings/", body(mentor_match, date=long_ago)).status_code == 400


def test_a_pending_match_has_no_meetings_yet(entrepreneur, mentor):
    pending = make_match(entrepreneur, mentor, status=MatchStatus.PENDING)
    assert client_for(entrepreneur).post("/api/followup/meetings/", body(pending)).status_code == 409


def test_sponsorship_hours_are_counted_against_the_offer_budget(entrepreneur, company, sponsorship):
    client = client_for(company)
    assert client.post("/api/followup/meetings/", body(sponsorship, duration_minutes=90)).status_code == 201
    over = client.post("/api/followup/meetings/", body(sponsorship, duration_minutes=31))
    assert over.status_code == 409
    assert over.json()["remaining_minutes"] == 30 and "il reste 0 h 30 sur 2 h" in over.json()["detail"]
    assert client_for(entrepreneur).post("/api/followup/meetings/", body(sponsorship, duration_minutes=30)).status_code == 201
    hours = client.get(f"/api/followup/offers/{sponsorship.offer_id}/hours/").json()
    assert hours == {"offer": sponsorship.offer_id, "budget_hours": 2, "budget_minutes": 120,
                     "delivered_minutes": 120, "remaining_minutes": 0}


def test_removing_a_meeting_gives_its_minutes_back_to_the_budget(company, coordinator, entrepreneur, sponsorship):
    created = client_for(company).post("/api/followup/meetings/", body(sponsorship, duration_minutes=120)).json()
    assert client_for(entrepreneur).delete(f"/api/followup/meetings/{created['id']}/").status_code == 403
    assert client_for(coordinator).delete(f"/api/followup/meetings/{created['id']}/").status_code == 204
    assert OfferHours.objects.get(offer_id=sponsorship.offer_id).delivered_minutes == 0
    assert client_for(company).post("/api/followup/meetings/", body(sponsorship, duration_minutes=120)).status_code == 201


def test_the_ledger_is_the_last_line_behind_the_budget_check(sponsorship):
    from django.db import IntegrityError, transaction

    ledger = OfferHours.objects.create(offer_id=sponsorship.offer_id, budget_minutes=120)
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferHours.objects.filter(pk=ledger.pk).update(delivered_minutes=121)


def test_hours_of_an_offer_are_hidden_from_whoever_cannot_see_the_offer(other_company, sponsorship):
    assert client_for(other_company).get(f"/api/followup/offers/{sponsorship.offer_id}/hours/").status_code == 404


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_meetings_never_exceed_the_budget(entrepreneur, company):
    """Eight meetings of 30 minutes logged at once on a 2-hour offer: exactly four succeed."""
    from followup.services import meeting_log
    from tests.factories import OfferFactory

    offer = OfferFactory(company=company.company_profile, hours_budget=2)
    match = make_match(entrepreneur, company, offer=offer, activated_at=timezone.now())
    barrier = threading.Barrier(8)
    results: list[str] = []

    def log() -> None:
        try:
            barrier.wait(timeout=10)
            meeting_log(actor=company, match=match, date=timezone.localdate(), duration_minutes=30, format="phone")
            results.append("ok")
        except Exception as exc:  # noqa: BLE001 - the status is what the test reads
            results.append(type(exc).__name__)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=log) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["Conflict"] * 4 + ["ok"] * 4
    assert OfferHours.objects.get(offer=offer).delivered_minutes == 120
    assert sum(Meeting.objects.filter(offer=offer).values_list("duration_minutes", flat=True)) == 120
