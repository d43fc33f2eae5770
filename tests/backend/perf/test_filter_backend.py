"""The API's filter backend (marketplace/api/filters.py) skips django-filter when a request names
none of a list's filters, and must answer exactly as django-filter does: same items without a
filter, the filter applied when asked (also through a range widget's suffixed names), and a bad
value still refused."""

from __future__ import annotations

import pytest
from django_filters.rest_framework import DjangoFilterBackend

from marketplace.api import filters
from tests.conftest import client_for
from tests.factories import MentorProfileFactory, ProjectFactory, request_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def requests_of_two_statuses(entrepreneur, other_entrepreneur):
    from marketplace.models import RequestStatus

    first = request_for(ProjectFactory(owner=entrepreneur))
    request_for(ProjectFactory(owner=other_entrepreneur))
    first.status = RequestStatus.WITHDRAWN
    first.save(update_fields=["status"])
    return first


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content[:300]
    return [item["id"] for item in response.json()["results"]]


def test_the_names_that_select_a_filter():
    names = {"status": 1, "created_after": 2, "min_score": 3}
    assert filters._names_a_filter("status", names)
    assert filters._names_a_filter("created_after", names)
    assert filters._names_a_filter("min_score_max", names)  # a range widget's suffix
    assert not filters._names_a_filter("page", names)
    assert not filters._names_a_filter("ordering", names)
    assert not filters._names_a_filter("stat", names)


@pytest.mark.parametrize("query", ["", "?page=1", "?ordering=created_at", "?status=open", "?status=withdrawn",
                                   "?territory=rive-droite&page_size=5", "?created_after=2020-01-01T00:00:00Z"])
def test_requests_answer_as_django_filter(requests_of_two_statuses, coordinator, monkeypatch, query):
    api = client_for(coordinator)
    ours = _ids(api.get(f"/api/requests/{query}"))
    monkeypatch.setattr(filters.FilterBackend, "filter_queryset", DjangoFilterBackend.filter_queryset)
    monkeypatch.setattr(filters.FilterBackend, "get_filterset_class", DjangoFilterBackend.get_filterset_class)
    assert ours == _ids(api.get(f"/api/requests/{query}"))


def test_a_filter_is_applied_and_a_bad_value_refused(requests_of_two_statuses, coordinator):
    api = client_for(coordinator)
    assert len(_ids(api.get("/api/requests/"))) == 2
    assert _ids(api.get("/api/requests/?status=withdrawn")) == [requests_of_two_statuses.pk]
    assert api.get("/api/requests/?status=bogus").status_code == 400


def test_filterset_fields_views_filter_with_a_class_built_once(coordinator):
    MentorProfileFactory(user__email="m1@example.org", paused=True)
    MentorProfileFactory(user__email="m2@example.org", paused=False)
    api = client_for(coordinator)
    assert len(_ids(api.get("/api/mentors/"))) == 2
    assert len(_ids(api.get("/api/mentors/?paused=true"))) == 1
    built = dict(filters.FilterBackend._auto_filtersets)
    assert len(_ids(api.get("/api/mentors/?paused=false"))) == 1
    assert filters.FilterBackend._auto_filtersets == built  # reused, not rebuilt
