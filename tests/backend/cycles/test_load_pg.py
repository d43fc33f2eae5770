"""The run's load on PostgreSQL: each query's result packed by the server into one binary value
and read by NumPy gives exactly the arrays the ordinary row-by-row read gives."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import consent_grant
from cycles import adapter
from cycles.models import CycleStatus, Match, MatchStatus, Proposal, ProposalStatus
from marketplace.models import Language, Project, Request, Town
from tests import factories as f
from tests.backend.cycles.conftest import make_cycle, make_proposal, open_request

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def varied_pool(db):
    """Every kind of row the load reads: holds (an approved proposal, a live match), excluded
    pairs (a rejected proposal, a declined match), a paused mentor, an offer over and one not
    started, live and withdrawn consents, a request without a sector, several languages."""
    english = Language.objects.get(code="en")
    mentors = [f.MentorProfileFactory(capacity=3), f.MentorProfileFactory(capacity=1),
               f.MentorProfileFactory(capacity=2, languages=[english, Language.objects.get(code="fr")])]
    type(mentors[1]).objects.filter(pk=mentors[1].pk).update(paused=True)
    offers = [f.OfferFactory(capacity=2), f.OfferFactory(capacity=1)]
    past = f.OfferFactory(capacity=1)
    type(past).objects.filter(pk=past.pk).update(starts_on=dt.date(2020, 1, 1), ends_on=dt.date(2020, 2, 1))
    future = f.OfferFactory(capacity=1)
    type(future).objects.filter(pk=future.pk).update(starts_on=timezone.localdate() + dt.timedelta(days=5))
    requests = [open_request() for _ in range(5)] + [open_request(languages=[english])]
    Project.objects.filter(pk=requests[0].project_id).update(sector=None)
    consenting = requests[1].entrepreneur
    consent_grant(user=consenting, purpose="priority_data")
    type(consenting.entrepreneur_profile).objects.filter(user=consenting).update(gender="woman", qpv_resident=True)
    withdrawn = requests[2].entrepreneur
    consent_grant(user=withdrawn, purpose="priority_data")
    withdrawn.consents.update(withdrawn_at=timezone.now())
    older = make_cycle(status=CycleStatus.REVIEW)
    make_proposal(older, requests[3], mentor=mentors[0], status=ProposalStatus.REJECTED)
    held = open_request()
    Proposal.objects.create(cycle=older, request=held, mentor=mentors[0], provider_user=mentors[0].user,
                            territory_id=held.territory_id, town_id=held.entrepreneur.entrepreneur_profile.town_id,
                            score=60.0, status=ProposalStatus.APPROVED, slot=1)
    for request, status, slot in ((open_request(), MatchStatus.ACTIVE, 1), (requests[4], MatchStatus.DECLINED, None)):
        Match.objects.create(request=request, entrepreneur=request.entrepreneur, provider_user=offers[0].company.user,
                             offer=offers[0], territory_id=request.territory_id, status=status, slot=slot)
    return requests


def assert_same(a, b, path=""):
    if dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            assert_same(getattr(a, field.name), getattr(b, field.name), f"{path}.{field.name}")
    elif isinstance(a, np.ndarray):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), path
        assert np.array_equal(a, b), path
    else:
        assert a == b, path


def test_the_packed_read_gives_exactly_the_arrays_of_the_row_by_row_read(varied_pool, monkeypatch):
    cycle = make_cycle(status=CycleStatus.OPEN)
    now = timezone.now()
    packed = adapter.load_problem(cycle, now=now)
    monkeypatch.setattr(adapter, "_fetch_packed", lambda qs, kinds: adapter.fetch(qs, kinds, packed=False))
    rows = adapter.load_problem(cycle, now=now)
    assert_same(packed, rows)
    # The fixture's rows are all there.
    assert packed.requests.n == 6 and packed.providers.m == 6  # the offer that is over is not in the pool
    assert sorted(packed.config.excluded_pairs[:, 0].tolist()) == sorted([varied_pool[3].pk, varied_pool[4].pk])
    tiers = dict(zip(packed.request_side.ids.tolist(), packed.requests.priority_tier.tolist(), strict=True))
    assert tiers[varied_pool[1].pk] == 2 and tiers[varied_pool[2].pk] == 0
    free = dict(zip(packed.provider_side.ids.tolist(), packed.provider_side.free.tolist(), strict=True))
    assert sorted(free.values()) == [0, 0, 1, 1, 2, 2]  # paused, not started; 3 - 1 held, 2 - 1 held


def test_fetch_reads_every_kind_of_column_exactly(varied_pool):
    qs = Request.objects.filter(pk__in=[r.pk for r in varied_pool]).values_list(
        "pk", "created_at", "project__sector_id", "entrepreneur__entrepreneur_profile__qpv_resident")
    packed = adapter.fetch(qs, "itib", packed=True)
    rows = adapter.fetch(qs, "itib", packed=False)
    for a, b in zip(packed, rows, strict=True):
        assert a.dtype == b.dtype == np.int64 and np.array_equal(a, b)
    created = {r.pk: r.created_at for r in varied_pool}
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert packed[1].tolist() == [(created[pk] - epoch) // dt.timedelta(microseconds=1) for pk in packed[0].tolist()]
    assert 0 in packed[2].tolist()  # NULL sector
    towns = adapter.fetch(Town.objects.values_list("pk", "latitude", "longitude"), "iff")
    assert towns[1].dtype == np.float64 and towns[1].tolist() == [
        t for t in Town.objects.order_by("pk", "latitude", "longitude").values_list("latitude", flat=True)]
    assert [a.shape for a in adapter.fetch(Request.objects.none().values_list("pk"), "i")] == [(0,)]


def test_loading_the_problem_is_a_fixed_number_of_logged_queries(varied_pool):
    cycle = make_cycle(status=CycleStatus.OPEN)
    with CaptureQueriesContext(connection) as small:
        adapter.load_problem(cycle)
    for _ in range(4):
        open_request()
        f.MentorProfileFactory()
    with CaptureQueriesContext(connection) as big:
        adapter.load_problem(cycle)
    assert len(small) == len(big) <= 25
    assert all("string_agg" in q["sql"] for q in big.captured_queries)
