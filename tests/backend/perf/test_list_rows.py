"""``/api/requests/`` and ``/api/mentors/`` build their lists from ``.values()`` rows
(``request_rows_data``, ``mentor_rows_data``); their items must be exactly what
``RequestSerializer`` and ``MentorProfileSerializer`` give (the documented shape): same keys in the
same order, same values and types, the same JSON bytes. Requests with several needs and
languages, none, every kind and format, several statuses, dates with and without microseconds;
mentors with several reachable towns, languages, sectors and skills, none, an employer or not."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.renderers import JSONRenderer

from marketplace import selectors
from marketplace.api.serializers import REQUEST_ROW_VALUES, RequestSerializer, request_rows_data
from marketplace.models import (
    Format,
    Language,
    Request,
    RequestKind,
    RequestNeed,
    RequestStatus,
    Skill,
)
from marketplace.services import Need
from tests.conftest import client_for
from tests.factories import (
    EntrepreneurProfileFactory,
    ProjectFactory,
    coordinator,
    other_territory,
    request_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def varied_requests():
    skills = list(Skill.objects.order_by("code")[:4])
    languages = list(Language.objects.order_by("-code")[:3])  # given in reverse: the output sorts them
    made = []
    for i, (kind, fmt, status) in enumerate([
        (RequestKind.EITHER, None, RequestStatus.OPEN),
        (RequestKind.MENTOR, Format.REMOTE, RequestStatus.OPEN),
        (RequestKind.SPONSORSHIP, Format.IN_PERSON, RequestStatus.WITHDRAWN),
        (RequestKind.EITHER, Format.EITHER, RequestStatus.MATCHED),
    ]):
        project = ProjectFactory(owner=EntrepreneurProfileFactory().user, title=f"Projet « {i} » = é\u00e8\n")
        needs = [Need(skill=skills[(i + k) % len(skills)], importance=1 + (i + k) % 3) for k in range(i % 3 + 1)]
        req = request_for(project, kind=kind, format=fmt, languages=languages[: i % 3 + 1], needs=needs,
                          notes="" if i % 2 else "Besoin d'aide \"urgent\" <b>")
        Request.objects.filter(pk=req.pk).update(
            status=status, created_at=dt.datetime(2026, 3, 1 + i, 8, 30, 15, 123456 * (i % 2), tzinfo=dt.UTC))
        made.append(req)
    # A request with no need at all.
    RequestNeed.objects.filter(request=made[3]).delete()
    return made


def _old(user) -> list:
    qs = selectors.request_list_for_user(user).order_by("-created_at", "-id")
    return RequestSerializer(qs, many=True).data


def _new(user) -> list:
    rows = selectors.request_list_for_user(user).prefetch_related(None).order_by("-created_at", "-id")
    return request_rows_data(list(rows.values(*REQUEST_ROW_VALUES)))


def test_the_rows_give_the_serializers_items_byte_for_byte(varied_requests, coordinator):
    old, new = _old(coordinator), _new(coordinator)
    assert len(old) == 4
    assert JSONRenderer().render(new) == JSONRenderer().render(old)
    assert [list(item) for item in new] == [list(item) for item in old]
    assert any(len(item["needs"]) > 1 for item in new) and any(item["needs"] == [] for item in new)
    assert any(len(item["languages"]) > 1 for item in new)


def test_the_api_list_answers_the_serializers_items(varied_requests, coordinator):
    body = client_for(coordinator).get("/api/requests/?page_size=100").json()
    assert JSONRenderer().render(body["results"]) == JSONRenderer().render(_old(coordinator))
    # Filters and ordering still apply to the rows.
    body = client_for(coordinator).get("/api/requests/?status=open&ordering=created_at").json()
    expected = [r for r in reversed(_old(coordinator)) if r["status"] == "open"]
    assert body["results"] == expected and len(expected) == 2


def test_the_rows_follow_what_each_user_may_see(varied_requests):
    other_territory()
    outsider = coordinator("grand-paris", email="coord@paris.example")
    assert client_for(outsider).get("/api/requests/").json()["results"] == []
    owner = varied_requests[1].entrepreneur
    body = client_for(owner).get("/api/requests/").json()
    assert [r["id"] for r in body["results"]] == [varied_requests[1].pk]
    assert JSONRenderer().render(body["results"]) == JSONRenderer().render(_old(owner))


def test_the_list_costs_the_same_queries_whatever_its_length(varied_requests, coordinator):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(coordinator)
    client.get("/api/requests/")  # warm: what a first call looks up once
    with CaptureQueriesContext(connection) as four:
        assert len(client.get("/api/requests/?page_size=100").json()["results"]) == 4
    for _ in range(3):
        request_for(ProjectFactory(owner=EntrepreneurProfileFactory().user))
    with CaptureQueriesContext(connection) as seven:
        assert len(client.get("/api/requests/?page_size=100").json()["results"]) == 7
    assert len(seven) == len(four) <= 8  # keys, count, rows, languages, needs; the token and territories


@pytest.fixture
def varied_mentors():
    from marketplace.models import MentorProfile, Sector, Town
    from tests.factories import CompanyProfileFactory, MentorProfileFactory

    towns = list(Town.objects.filter(territory__code="rive-droite").order_by("-name")[:3])
    languages = list(Language.objects.order_by("-code")[:3])
    sectors = list(Sector.objects.order_by("-code")[:3])
    skills = list(Skill.objects.order_by("-code")[:3])
    employer = CompanyProfileFactory()
    made = []
    for i in range(4):
        mentor = MentorProfileFactory(
            languages=languages[: i % 3 + 1], skills=[(sk.code, 1 + k % 3) for k, sk in enumerate(skills[: i % 3 + 1])],
            bio="" if i == 2 else f"Bio « {i} » \"=\" <b>", capacity=i, paused=i == 3,
            format=Format.choices[i % 3][0], availability=(1 << i) - 1, employer=employer if i % 2 else None)
        mentor.reachable_towns.set(towns[: i % 4])
        mentor.sectors.set(sectors[: i % 4])
        made.append(mentor)
    MentorProfile.objects.filter(pk=made[0].pk).update(created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    return made


def _mentors_old(user) -> list:
    from marketplace.api.serializers import MentorProfileSerializer

    return MentorProfileSerializer(selectors.mentor_profile_list_for_user(user).order_by("-created_at", "-id"),
                                   many=True).data


def test_the_mentor_rows_give_the_serializers_items_byte_for_byte(varied_mentors, coordinator, administrator):
    from marketplace.api.serializers import MENTOR_ROW_VALUES, mentor_rows_data

    for user in (coordinator, administrator):
        rows = selectors.mentor_profile_list_for_user(user).prefetch_related(None).order_by("-created_at", "-id")
        new, old = mentor_rows_data(list(rows.values(*MENTOR_ROW_VALUES))), _mentors_old(user)
        assert len(old) == 4 and JSONRenderer().render(new) == JSONRenderer().render(old)
        body = client_for(user).get("/api/mentors/?page_size=100").json()
        assert JSONRenderer().render(body["results"]) == JSONRenderer().render(old)
    assert any(len(m["reachable_towns"]) > 1 for m in new) and any(m["reachable_towns"] == [] for m in new)
    assert any(m["employer"] for m in new) and any(m["employer"] is None for m in new)
    paused = client_for(coordinator).get("/api/mentors/?paused=true&ordering=capacity").json()["results"]
    assert [m["id"] for m in paused] == [varied_mentors[3].pk]
