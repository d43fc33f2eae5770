"""List endpoints run a number of queries that does not grow with the number of rows (no N+1)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import client_for
from tests.factories import (
    CompanyProfileFactory,
    EntrepreneurProfileFactory,
    MentorProfileFactory,
    OfferFactory,
    ProjectFactory,
    request_for,
)

pytestmark = pytest.mark.django_db

LISTS = ["/api/projects/", "/api/requests/", "/api/offers/", "/api/mentors/", "/api/companies/", "/api/entrepreneurs/"]


def _grow(company, count):
    for _ in range(count):
        profile = EntrepreneurProfileFactory()
        request_for(ProjectFactory(owner=profile.user))
        MentorProfileFactory()
        OfferFactory(company=company.company_profile)
        CompanyProfileFactory()


def _queries(client, path):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200
    return len(ctx.captured_queries), len(response.json()["results"])


@pytest.mark.parametrize("path", LISTS)
def test_list_query_count_is_constant_in_the_number_of_rows(coordinator, company, path):
    # The coordinator sees everything of the territory; the company sees its offers.
    viewer = company if path in ("/api/offers/",) else coordinator
    client = client_for(viewer)
    _grow(company, 2)
    client.get(path)  # warm the per-user caches (coordinator scope) out of the measure
    few, rows_few = _queries(client, path)
    _grow(company, 6)
    many, rows_many = _queries(client, path)
    assert rows_many > rows_few
    assert many == few, f"{path}: {few} queries for {rows_few} rows but {many} for {rows_many}"
    assert many <= 12
