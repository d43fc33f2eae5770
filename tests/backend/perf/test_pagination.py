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
