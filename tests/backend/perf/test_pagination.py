"""Every list is paginated: no endpoint or page returns a table that grows with the data set."""

from __future__ import annotations

import pytest
from rest_framework.pagination import BasePagination

from tests.backend.perf.endpoints import list_endpoints
from tests.conftest import client_for
from tests.factories import EntrepreneurProfileFactory, ProjectFactory, request_for

MAX_PAGE = 100


def test_every_list_endpoint_has_a_bounded_pagination():
    unbounded = []
    for endpoint in list_endpoints():
        pagination = endpoint.view_class.pagination_class
        if pagination is None or not issubclass(pagination, BasePagination):
            unbounded.append(f"{endpoint.name}: no pagination")
            continue
        size = getattr(pagination, "page_size", None)
        ceiling = getattr(pagination, "max_page_size", None) if getattr(pagination, "page_size_query_param", None) else size
        if not size or not ceiling or ceiling > MAX_PAGE:
            unbounded.append(f"{endpoint.name}: page_size={size}, max={ceiling}")
    assert not unbounded, unbounded


@pytest.mark.django_db
def test_asking_for_a_huge_page_gets_the_maximum(coordinator):
    for _ in range(3):
        request_for(ProjectFactory(owner=EntrepreneurProfileFactory().user))
    body = client_for(coordinator).get("/api/requests/?page_size=2").json()
    assert (body["count"], len(body["results"])) == (3, 2) and body["next"]
    from marketplace.api.pagination import Pagination

    assert Pagination.max_page_size <= MAX_PAGE
    assert client_for(coordinator).get("/api/requests/?page_size=100000").status_code == 200


@pytest.mark.django_db
def test_the_messages_of_a_conversation_come_in_bounded_slices(entrepreneur, mentor):
    from tests.backend.chat.conftest import open_conversation

    conversation = open_conversation(entrepreneur, mentor)
    response = client_for(entrepreneur).get(f"/api/conversations/{conversation.pk}/messages/?limit=100000")
    assert response.status_code == 400 and "limit" in response.json()


@pytest.mark.django_db
def test_the_coordinator_tables_are_paginated(coordinator):
    from django.test import Client

    from frontend.views import coordinator as views
    from tests.backend.cycles.conftest import make_cycle, make_proposal, open_request
    from tests.factories import MentorProfileFactory

    cycle = make_cycle(status="review")
    provider = MentorProfileFactory()
    for score in range(views.PAGE_SIZE + 3):
        make_proposal(cycle, open_request(), mentor=provider, score=score)
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/coordination/cycles/{cycle.pk}/propositions/")
    assert page.status_code == 200
    assert len(page.context["page"].object_list) == views.PAGE_SIZE
    assert page.context["page"].paginator.count == views.PAGE_SIZE + 3


@pytest.mark.django_db
def test_the_count_is_exact_up_to_the_limit_then_a_lower_bound(coordinator, monkeypatch):
    """The API counts at most ``count_limit`` rows (no COUNT(*) over a national table): below it
    the count is exact, above it a lower bound flagged ``count_exact: false``; the pages and their
    links are the same either way."""
    from marketplace.api.pagination import Pagination

    for _ in range(7):
        request_for(ProjectFactory(owner=EntrepreneurProfileFactory().user))
    client = client_for(coordinator)
    first = client.get("/api/requests/?page_size=3").json()
    assert (first["count"], first["count_exact"], len(first["results"])) == (7, True, 3)
    assert first["previous"] is None and "page=2" in first["next"]
    last = client.get("/api/requests/?page_size=3&page=3").json()
    assert (last["count"], last["count_exact"], len(last["results"]), last["next"]) == (7, True, 1, None)
    assert "page=2" in last["previous"]
    assert client.get("/api/requests/?page_size=3&page=last").json()["results"] == last["results"]
    second = client.get("/api/requests/?page_size=3&page=2").json()
    assert "page=" not in second["previous"] and "page=3" in second["next"]

    monkeypatch.setattr(Pagination, "count_limit", 5)
    capped = client.get("/api/requests/?page_size=3").json()
    assert (capped["count"], capped["count_exact"]) == (5, False)  # at least 5: there are 7
    deep = client.get("/api/requests/?page_size=3&page=2").json()  # 6 rows read, more to come
    assert (deep["count"], deep["count_exact"]) == (7, False) and deep["next"]
    end = client.get("/api/requests/?page_size=3&page=3").json()
    assert (end["count"], end["count_exact"]) == (7, True)  # the last page knows the total
    # Every row is reached once by following the links, whatever the count says.
    ids = [r["id"] for page in (capped, deep, end) for r in page["results"]]
    assert len(set(ids)) == 7


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["9", "0", "-1", "x"])
def test_a_page_that_does_not_exist_is_a_404(coordinator, page):
    request_for(ProjectFactory(owner=EntrepreneurProfileFactory().user))
    response = client_for(coordinator).get(f"/api/requests/?page={page}")
    assert response.status_code == 404 and response.json()["detail"]
