"""The run's write on PostgreSQL: ``COPY`` writes exactly the rows ``bulk_create`` writes, and a
failure in the middle of a ``COPY`` leaves nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import time_machine
from django.db import DatabaseError, transaction

from cycles import adapter, services
from cycles.models import CycleStatus, Proposal, RunStage, UnmatchedRequest
from cycles.services import cycle_run_execute, cycle_run_start, insert_rows
from marketplace.models import Language
from tests import factories as f
from tests.backend.cycles.conftest import make_cycle, open_request

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def pool(db):
    """Mentors and offers (so both provider columns are used), needs of several kinds, and two
    requests nobody can serve (unmatched rows with their reason)."""
    for _ in range(3):
        f.MentorProfileFactory(capacity=2)
    f.OfferFactory(capacity=2)
    requests = [open_request() for _ in range(5)] + [open_request(needs=[("website", 3)])]
    english = Language.objects.get(code="en")
    lonely = [open_request(languages=[english]) for _ in range(2)]
    return requests, lonely


def every_column(model, cycle):
    """Every concrete field of the model's rows of ``cycle``, except the generated key."""
    names = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
    return sorted(model.objects.filter(cycle=cycle).values_list(*names), key=lambda row: row[names.index("request_id")])


def solved_rows(cycle):
    problem = adapter.load_problem(cycle)
    result = adapter.solve(problem)
    return adapter.rows_from_result(cycle, problem, result)


def for_cycle(rows: adapter.Rows, cycle) -> adapter.Rows:
    return dataclasses.replace(rows, columns={**rows.columns, "cycle_id": cycle.pk})


def test_copy_writes_exactly_what_bulk_create_writes(pool):
    by_copy, by_bulk = make_cycle(status=CycleStatus.OPEN), make_cycle(status=CycleStatus.OPEN)
    proposals, unmatched = solved_rows(by_copy)
    assert proposals.n >= 6 and unmatched.n == 2
    assert {v is None for v in proposals.columns["mentor_id"]} == {True, False}  # mentors and offers
    with transaction.atomic():
        insert_rows(proposals, copy=True)
        insert_rows(unmatched, copy=True)
        insert_rows(for_cycle(proposals, by_bulk), copy=False)
        insert_rows(for_cycle(unmatched, by_bulk), copy=False)

    for model in (Proposal, UnmatchedRequest):
        copied, created = every_column(model, by_copy), every_column(model, by_bulk)
        names = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
        at = names.index("cycle_id")
        assert len(copied) == len(created) == (proposals.n if model is Proposal else unmatched.n)
        for a, b in zip(copied, created, strict=True):
            assert a[at] == by_copy.pk and b[at] == by_bulk.pk
            # Field by field: same value and same Python type (defaults, JSON, timestamps, NULLs).
            for name, x, y in zip(names, a, b, strict=True):
                if name != "cycle_id":
                    assert (x, type(x)) == (y, type(y)), name
    # What the service's earlier bulk_create of the unsaved instances wrote, too.
    objects = Proposal.objects.filter(cycle=by_copy).order_by("request_id")
    problem = adapter.load_problem(by_copy)
    unsaved = sorted(adapter.proposals_from_result(by_copy, problem, adapter.solve(problem))[0],
                     key=lambda p: p.request_id)
    for saved, fresh in zip(objects, unsaved, strict=True):
        for field in Proposal._meta.concrete_fields:
            if field.attname not in ("id", "created_at"):
                assert getattr(saved, field.attname) == getattr(fresh, field.attname), field.attname
    assert [p.warnings for p in objects] == [[]] * proposals.n
    assert {(p.status, p.source, p.slot, p.match_id, p.reason_code) for p in objects} == {
        ("proposed", "solver", None, None, "")}


def test_a_run_writes_with_copy_and_records_its_figures(pool, coordinator, monkeypatch):
    calls = []
    real = services.insert_rows
    monkeypatch.setattr(services, "insert_rows", lambda rows, **kw: calls.append(rows.model) or real(rows, **kw))
    cycle = cycle_run_start(actor=coordinator, cycle=make_cycle(status=CycleStatus.OPEN), enqueue=False)
    with time_machine.travel(NOW, tick=False):
        report = cycle_run_execute(cycle_id=cycle.pk, token=cycle.run_token)
    cycle.refresh_from_db()
    assert calls == [Proposal, UnmatchedRequest]
    assert (cycle.status, cycle.run_stage, cycle.matched_count) == (CycleStatus.REVIEW, RunStage.DONE, report.proposals)
    assert report.proposals == Proposal.objects.filter(cycle=cycle).count() >= 6
    assert report.unmatched == UnmatchedRequest.objects.filter(cycle=cycle).count() == 2
    assert set(UnmatchedRequest.objects.filter(cycle=cycle).values_list("reason", flat=True)) == {"no_common_language"}
    assert all(p.created_at == NOW for p in Proposal.objects.filter(cycle=cycle))


@pytest.mark.parametrize("poison", ["refused_by_the_server", "not_sendable"])
def test_a_failure_in_the_middle_of_the_copy_leaves_nothing_and_the_run_can_be_rerun(pool, poison, monkeypatch):
    real = adapter.rows_from_result

    def poisoned(cycle, problem, result):
        proposals, unmatched = real(cycle, problem, result)
        scores = proposals.columns["score"].tolist()
        # The last proposal's score: every other row has been streamed before it.
        scores[-1] = 150.0 if poison == "refused_by_the_server" else object()
        return dataclasses.replace(proposals, columns={**proposals.columns, "score": scores}), unmatched

    monkeypatch.setattr(adapter, "rows_from_result", poisoned)
    cycle = cycle_run_start(actor=None, cycle=make_cycle(status=CycleStatus.OPEN), enqueue=False)
    with pytest.raises(DatabaseError):
        cycle_run_execute(cycle_id=cycle.pk, token=cycle.run_token)
    assert not Proposal.objects.filter(cycle=cycle).exists()
    assert not UnmatchedRequest.objects.filter(cycle=cycle).exists()
    cycle.refresh_from_db()
    assert (cycle.status, cycle.run_stage, cycle.matched_count) == (CycleStatus.SOLVING, RunStage.WRITE, 0)

    monkeypatch.setattr(adapter, "rows_from_result", real)
    type(cycle).objects.filter(pk=cycle.pk).update(run_heartbeat_at="2000-01-01T00:00:00Z")
    cycle = cycle_run_start(actor=None, cycle=cycle, enqueue=False)
    report = cycle_run_execute(cycle_id=cycle.pk, token=cycle.run_token)
    assert report.proposals == Proposal.objects.filter(cycle=cycle).count() >= 6


def test_a_copy_that_fails_after_streaming_thousands_of_rows_leaves_nothing(db):
    """Far more rows than psycopg buffers: the first ones have reached the server when row 9,000
    fails; the transaction still leaves nothing. (Foreign keys are checked at the commit, which
    never comes, so the request ids need not exist.)"""
    cycle = make_cycle(status=CycleStatus.OPEN)
    n = 10_000
    reasons = ["no_capacity"] * n
    reasons[9_000] = object()
    rows = adapter.Rows(UnmatchedRequest, n, {
        "cycle_id": cycle.pk, "request_id": list(range(10**9, 10**9 + n)), "territory_id": cycle.territory_id,
        "town_id": open_request().entrepreneur.entrepreneur_profile.town_id, "reason": reasons,
    })
    with pytest.raises(DatabaseError), transaction.atomic():
        insert_rows(rows)
    assert not UnmatchedRequest.objects.exists()
    reasons[9_000] = "no_capacity"
    with transaction.atomic():
        insert_rows(rows)
        assert UnmatchedRequest.objects.filter(cycle=cycle).count() == n
        transaction.set_rollback(True)  # the request ids are not real: never commit them
