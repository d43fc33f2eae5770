"""``/api/proposals/`` builds its list from ``.values()`` rows (``proposal_rows_data``); its items
must be exactly what ``ProposalSerializer`` gives (the documented shape): same keys in the same
order, same values and types, the same JSON bytes. Proposals of a mentor and of an offer, with
and without warnings, decided or not, with a match or not, scores with decimals, a reason with
quotes and markup, dates with and without microseconds."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from cycles import selectors
from cycles.api.serializers import PROPOSAL_ROW_VALUES, ProposalSerializer, proposal_rows_data
from cycles.models import CycleStatus, Match, Proposal, ProposalStatus
from tests.backend.cycles.conftest import make_cycle, make_proposal, open_request
from tests.conftest import client_for
from tests.factories import MentorProfileFactory, OfferFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def varied_proposals(coordinator, company):
    cycle = make_cycle(status=CycleStatus.REVIEW)
    made = []
    for i in range(6):
        req = open_request()
        if i % 2:
            offer = OfferFactory(company=company.company_profile, title=f"Atelier « {i} » <b>")
            p = make_proposal(cycle, req, offer=offer, score=55.25 + i)
        else:
            p = make_proposal(cycle, req, mentor=MentorProfileFactory(user__display_name=f"Mentor \"{i}\" é"),
                              score=70.0 + i / 3)
        made.append(p)
    first, second, third = made[:3]
    Proposal.objects.filter(pk=first.pk).update(
        warnings=["capacity_low", "far"], points_sector=12.5, points_distance=0.0, points_preference=3.333,
        created_at=dt.datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=dt.UTC))
    Proposal.objects.filter(pk=second.pk).update(
        status=ProposalStatus.REJECTED, decided_by=coordinator, decided_at=dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC),
        reason_code="other", reason="Pas \"adapté\" <script>", created_at=dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC))
    match = Match.objects.create(request=third.request, entrepreneur=third.request.entrepreneur,
                                 provider_user=third.provider_user, mentor=third.mentor,
                                 territory=third.territory, status="proposed", slot=1,
                                 respond_by=timezone.now() + dt.timedelta(days=7))
    Proposal.objects.filter(pk=third.pk).update(status=ProposalStatus.PUBLISHED, match=match)
    return cycle, made


def _old(user) -> list:
    return ProposalSerializer(selectors.proposal_list_for_user(user).order_by("-score", "id"), many=True).data


def _new(user) -> list:
    qs = selectors.proposal_list_for_user(user).order_by("-score", "id")
    return proposal_rows_data(list(qs.values(*PROPOSAL_ROW_VALUES)))


def test_the_rows_give_the_serializers_items_byte_for_byte(varied_proposals, coordinator, administrator):
    for user in (coordinator, administrator):
        old, new = _old(user), _new(user)
        assert len(old) == 6
        assert [list(item) for item in new] == [list(item) for item in old]  # keys and their order
        assert new == old
        assert JSONRenderer().render(new) == JSONRenderer().render(old)


def test_the_api_list_answers_the_serializers_items(varied_proposals, coordinator):
    cycle, made = varied_proposals
    response = client_for(coordinator).get(f"/api/proposals/?cycle={cycle.pk}&page_size=4")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 6 and body["next"]
    old = JSONRenderer().render(_old(coordinator)[:4])
    assert JSONRenderer().render(body["results"]) == old
    by_town = client_for(coordinator).get(f"/api/proposals/?cycle={cycle.pk}&ordering=-town__name,id&page=2"
                                          "&page_size=4").json()["results"]
    expected = ProposalSerializer(selectors.proposal_list_for_user(coordinator).order_by("-town__name", "id")[4:8],
                                  many=True).data
    assert by_town == expected


def test_the_rows_follow_what_each_user_may_see(varied_proposals, outside_coordinator, entrepreneur):
    cycle, _ = varied_proposals
    assert client_for(outside_coordinator).get(f"/api/proposals/?cycle={cycle.pk}").json()["results"] == []
    assert client_for(entrepreneur).get("/api/proposals/").json()["results"] == []
