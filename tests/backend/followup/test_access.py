"""Every follow-up object is read through its ``*_get_for_user`` selector: the pair and the
territory's coordinators see it, nobody else (404). Lists run a fixed number of queries, and
every endpoint is in the OpenAPI schema."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver
from django.utils import timezone

from followup import urls as followup_urls
from followup.models import Feedback, Meeting, Nudge, Outcome
from tests.backend.followup.conftest import make_match
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

PERSONAS = ["entrepreneur", "other_entrepreneur", "mentor", "other_mentor", "company", "coordinator",
            "outside_coordinator", "administrator"]
SEES = {"entrepreneur", "mentor", "coordinator", "administrator"}


@pytest.fixture
def objects(mentor_match, mentor, coordinator):
    return {
        "meetings": Meeting.objects.create(match=mentor_match, date=timezone.localdate(), duration_minutes=30,
                                           format="phone", logged_by=mentor),
        "feedback": Feedback.objects.create(match=mentor_match, author=mentor, side="provider", phase="midway", rating=4),
        "outcomes": Outcome.objects.create(match=mentor_match, status="in_progress"),
        "nudges": Nudge.objects.create(match=mentor_match, coordinator=coordinator),
    }


@pytest.mark.parametrize("kind", ["meetings", "feedback", "outcomes", "nudges"])
@pytest.mark.parametrize("persona", PERSONAS)
def test_the_pair_and_the_territory_coordinators_see_follow_up_objects_nobody_else(request, objects, kind, persona):
    client = client_for(request.getfixturevalue(persona))
    obj = objects[kind]
    detail = client.get(f"/api/followup/{kind}/{obj.pk}/")
    listed = client.get(f"/api/followup/{kind}/").json()
    if persona in SEES:
        assert detail.status_code == 200 and [row["id"] for row in listed["results"]] == [obj.pk]
    else:
        assert detail.status_code == 404 and listed["results"] == []


@pytest.mark.parametrize("kind", ["meetings", "feedback", "outcomes", "nudges", "stalled"])
def test_anonymous_callers_get_nothing(kind):
    assert client_for(None).get(f"/api/followup/{kind}/").status_code == 403


@pytest.mark.parametrize("kind", ["meetings", "feedback", "outcomes", "nudges"])
def test_a_huge_or_malformed_id_is_a_404(coordinator, kind):
    assert client_for(coordinator).get(f"/api/followup/{kind}/{2**70}/").status_code == 404


def _grow(entrepreneur_factory, mentor, coordinator, count):
    for _ in range(count):
        match = make_match(entrepreneur_factory().user, mentor,
                           activated_at=timezone.now() - dt.timedelta(days=60))
        # Logged 40 days ago: the pair is stalled, and listed under /stalled/ too.
        Meeting.objects.create(match=match, date=timezone.localdate(), duration_minutes=30, format="phone",
                               logged_by=mentor, created_at=timezone.now() - dt.timedelta(days=40))
        Feedback.objects.create(match=match, author=mentor, side="provider", phase="midway", rating=3)
        Outcome.objects.create(match=match, status="in_progress")
        Nudge.objects.create(match=match, coordinator=coordinator, created_at=timezone.now() - dt.timedelta(days=40))


@pytest.mark.parametrize("kind", ["meetings", "feedback", "outcomes", "nudges", "stalled"])
def test_list_query_count_is_constant_in_the_number_of_rows(coordinator, mentor, kind):
    from tests.factories import EntrepreneurProfileFactory

    client = client_for(coordinator)
    _grow(EntrepreneurProfileFactory, mentor, coordinator, 2)
    client.get(f"/api/followup/{kind}/")
    with CaptureQueriesContext(connection) as few:
        first = client.get(f"/api/followup/{kind}/").json()
    _grow(EntrepreneurProfileFactory, mentor, coordinator, 5)
    with CaptureQueriesContext(connection) as many:
        second = client.get(f"/api/followup/{kind}/").json()
    assert (first["count"], second["count"]) == (2, 7)
    assert len(many.captured_queries) == len(few.captured_queries) <= 8


def _paths(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _paths(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def test_every_follow_up_endpoint_is_in_the_openapi_schema(administrator):
    schema = client_for(administrator).get("/api/schema/", {"format": "json"}).json()
    import re

    # Parameter names differ ({pk} in the router, {id} in the schema): compare the shapes.
    documented = {re.sub(r"\{\w+\}", "{}", path.removeprefix("/api/")) for path in schema["paths"]}

    checked = []
    for raw in _paths(followup_urls.urlpatterns):
        if raw.endswith("\\.(?P<format>[a-z0-9]+)/?$"):
            continue
        path = re.sub(r"\(\?P<(\w+)>[^)]+\)", "{}", raw).removeprefix("^").removesuffix("$")
        path = re.sub(r"<(?:int:)?(\w+)>", "{}", path).replace("{pk}", "{}")
        assert path in documented, f"{path} missing from the schema"
        checked.append(path)
    assert len(checked) >= 13  # the four views and the routers' list and detail routes
