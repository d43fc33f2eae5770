"""Every list endpoint and every list page runs a number of queries that does not grow with the
number of rows it shows (no N+1), and stays under a budget.

Each case is measured twice, with a few rows and with more rows of everything, as the persona who
lists them; the counts must be equal and under the budget. A list endpoint added to config.urls
without a budget here (or in the app test named in ``BUDGETED_ELSEWHERE``) fails the
completeness test."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.services import audit_record
from chat.services import conversation_open_for_match, message_report, message_send
from cycles.models import Cycle, CycleStatus, UnmatchedRequest
from tests.backend.cycles.conftest import make_cycle, make_proposal, open_request
from tests.backend.followup.conftest import make_match
from tests.backend.perf.endpoints import list_endpoints
from tests.conftest import client_for
from tests.factories import (
    EntrepreneurProfileFactory,
    MentorProfileFactory,
    OfferFactory,
    ProjectFactory,
    request_for,
)

pytestmark = pytest.mark.django_db

API_BUDGET = 12
PAGE_BUDGET = 16

# (persona, path): {cycle} is the coordinator's cycle in review.
API_LISTS = [
    ("coordinator", "/api/cycles/"),
    ("coordinator", "/api/proposals/?cycle={cycle}"),
    ("coordinator", "/api/cycles/{cycle}/unmatched/"),
    ("coordinator", "/api/matches/"),
    ("coordinator", "/api/audit/"),
    ("coordinator", "/api/chat/reports/"),
    ("administrator", "/api/audit/trail/"),
    ("administrator", "/api/proposals/"),
    ("mentor", "/api/matches/"),
    ("mentor", "/api/conversations/"),
    ("entrepreneur", "/api/matches/"),
    ("entrepreneur", "/api/requests/"),
    ("entrepreneur", "/api/projects/"),
    ("company", "/api/offers/"),
]
# Pages whose length grows with the rows (the dashboard shows aggregates: its size may not).
PAGES = [
    ("coordinator", "/coordination/cycles/", True),
    ("coordinator", "/coordination/cycles/{cycle}/", False),
    ("coordinator", "/coordination/cycles/{cycle}/propositions/", True),
    ("coordinator", "/coordination/cycles/{cycle}/propositions.csv", True),
    ("coordinator", "/coordination/cycles/{cycle}/sans-proposition/", True),
    ("coordinator", "/coordination/tableau-de-bord/", False),
    ("entrepreneur", "/porteur/", False),
    ("entrepreneur", "/porteur/demandes/", True),
    ("entrepreneur", "/binomes/", True),
    ("mentor", "/parrainage/", False),
    ("mentor", "/binomes/", True),
    ("company", "/entreprise/", False),
    ("company", "/entreprise/offres/", True),
    ("company", "/binomes/", True),
    ("entrepreneur", "/mes-donnees/", False),
]

# List endpoints whose budgets live with their app's tests.
BUDGETED_ELSEWHERE = {
    "project-list": "tests/backend/marketplace/test_query_counts.py",
    "request-list": "tests/backend/marketplace/test_query_counts.py",
    "offer-list": "tests/backend/marketplace/test_query_counts.py",
    "mentor-list": "tests/backend/marketplace/test_query_counts.py",
    "company-list": "tests/backend/marketplace/test_query_counts.py",
    "entrepreneur-list": "tests/backend/marketplace/test_query_counts.py",
    "followup-meeting-list": "tests/backend/followup/test_access.py",
    "followup-feedback-list": "tests/backend/followup/test_access.py",
    "followup-outcome-list": "tests/backend/followup/test_access.py",
    "followup-nudge-list": "tests/backend/followup/test_access.py",
    "followup-stalled-list": "tests/backend/followup/test_access.py",
    # One row per consent purpose of the caller: bounded by the purposes, not by the data set.
    "consent-list": "bounded by ConsentPurpose",
}


class World:
    """Rows of every listed kind in the Rive Droite, grown ``count`` at a time."""

    def __init__(self, personas: dict) -> None:
        self.p = personas
        self.cycle = make_cycle(status=CycleStatus.REVIEW)
        self.serial = 0

    def grow(self, count: int) -> None:
        p = self.p
        mentor_profile = p["mentor"].mentor_profile
        for _ in range(count):
            self.serial += 1
            newcomer = EntrepreneurProfileFactory().user
            request = open_request(newcomer)
            make_proposal(self.cycle, request, mentor=mentor_profile, score=30 + self.serial)
            unmatched = open_request()
            UnmatchedRequest.objects.create(cycle=self.cycle, request=unmatched, territory_id=unmatched.territory_id,
                                            town_id=unmatched.entrepreneur.entrepreneur_profile.town_id,
                                            reason="no_common_language")
            # The mentor persona's pair, with a conversation, a message and a report of it.
            match = make_match(newcomer, p["mentor"], request=request, cycle=self.cycle)
            conversation = conversation_open_for_match(match=match)
            sent = message_send(user=p["mentor"], conversation=conversation, client_id=f"c{self.serial}",
                                body="Bonjour")
            message_report(user=newcomer, message=sent.message, reason="Test")
            # The entrepreneur persona's requests and pairs, with a new mentor and with the company.
            make_match(p["entrepreneur"], MentorProfileFactory().user)
            make_match(p["entrepreneur"], p["company"], offer=OfferFactory(company=p["company"].company_profile))
            request_for(ProjectFactory(owner=p["entrepreneur"]))
            OfferFactory(company=p["company"].company_profile)
            Cycle.objects.create(territory=self.cycle.territory, name=f"Cycle {self.serial}",
                                 opens_on=timezone.localdate(), closes_on=timezone.localdate() + dt.timedelta(days=30))
            audit_record(actor=p["coordinator"], action="proposal.approve", target=request,
                         territory_id=request.territory_id, reason_code="test")


@pytest.fixture
def world(entrepreneur, mentor, company, coordinator, administrator):
    personas = {"entrepreneur": entrepreneur, "mentor": mentor, "company": company, "coordinator": coordinator,
                "administrator": administrator}
    made = World(personas)
    made.grow(1)
    return made


def _count(fetch) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as queries:
        response = fetch()
    assert response.status_code == 200, getattr(response, "content", b"")[:300]
    return len(queries.captured_queries), response


def _is_page_count(sql: str) -> bool:
    """The API pagination's capped count (marketplace/api/pagination.py): it runs only when
    there is a next page, so a list that grows past one page gains exactly this query."""
    from marketplace.api.pagination import Pagination

    return sql.startswith("SELECT COUNT(*) FROM (SELECT") and f"LIMIT {Pagination.count_limit + 1}" in sql


def _count_api(fetch) -> tuple[int, int, object]:
    """Queries of an API list, and those of them that are not the pagination's capped count."""
    with CaptureQueriesContext(connection) as queries:
        response = fetch()
    assert response.status_code == 200, getattr(response, "content", b"")[:300]
    sqls = [q["sql"] for q in queries.captured_queries]
    counts = [sql for sql in sqls if _is_page_count(sql)]
    assert len(counts) <= 1, counts
    return len(sqls), len(sqls) - len(counts), response


def _rows(response) -> int:
    return len(response.json()["results"])


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize(("persona", "path"), API_LISTS)
def test_an_api_list_runs_the_same_queries_for_few_and_many_rows(world, persona, path):
    user = world.p[persona]
    client = client_for(user)
    url = path.format(cycle=world.cycle.pk)
    client.get(url)  # per-user caches (coordinator scope) warmed out of the measure
    _total, few, response = _count_api(lambda: client.get(url))
    rows_few = _rows(response)
    world.grow(2)
    total, many, response = _count_api(lambda: client.get(url))
    assert _rows(response) > rows_few, f"{url} as {persona}: the list did not grow, the test proves nothing"
    # Equal but for the page count, which appears once the list has a second page.
    assert many == few, f"{url} as {persona}: {few} queries for {rows_few} rows, {many} for {_rows(response)}"
    assert total <= API_BUDGET, f"{url} as {persona}: {total} queries, budget {API_BUDGET}"


@pytest.mark.parametrize(("persona", "path"), [("coordinator", "/api/audit/"), ("entrepreneur", "/api/requests/")])
def test_a_list_longer_than_a_page_runs_one_capped_count_and_no_more(world, persona, path):
    client = client_for(world.p[persona])
    url = path + "?page_size=1"
    client.get(url)
    world.grow(3)
    total, without_count, response = _count_api(lambda: client.get(url))
    body = response.json()
    assert body["next"] and body["count"] > 1 and body["count_exact"] is True
    assert total == without_count + 1


@pytest.mark.parametrize(("persona", "path", "grows"), PAGES)
def test_a_page_runs_the_same_queries_for_few_and_many_rows(world, persona, path, grows):
    client = Client()
    client.force_login(world.p[persona])
    url = path.format(cycle=world.cycle.pk)
    client.get(url)
    few, response = _count(lambda: client.get(url))
    size_few = len(_body(response))
    world.grow(2)
    many, response = _count(lambda: client.get(url))
    if grows:
        assert len(_body(response)) > size_few, f"{url} as {persona}: the page did not grow, the test proves nothing"
    assert many == few, f"{url} as {persona}: {few} queries with few rows, {many} with more"
    assert many <= PAGE_BUDGET, f"{url} as {persona}: {many} queries, budget {PAGE_BUDGET}"


def test_every_list_endpoint_has_a_query_budget():
    budgeted = {path.split("?")[0] for _, path in API_LISTS}
    missing = []
    for endpoint in list_endpoints():
        if endpoint.name in BUDGETED_ELSEWHERE:
            continue
        route = "/" + endpoint.route.replace("^", "").replace("$", "")
        route = route.replace("(?P<pk>[/.]+)", "{cycle}")
        if route not in budgeted:
            missing.append(f"{endpoint.name} ({route})")
    assert not missing, f"list endpoints without a query budget: {missing}"
