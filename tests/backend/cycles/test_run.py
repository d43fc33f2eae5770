"""Running a cycle: the adapter builds the engine's problem from the database, the run writes
every proposal and unmatched request in one transaction, deterministically."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection

from accounts.services import consent_grant
from cycles import adapter
from cycles.models import CycleStatus, Proposal, ProposalStatus, RunStage, UnmatchedRequest
from cycles.services import RunSuperseded, cycle_run_execute, cycle_run_start, proposal_approve
from marketplace.api.errors import Conflict
from marketplace.models import Language
from tests import factories as f
from tests.backend.cycles.conftest import make_cycle, open_request

pytestmark = pytest.mark.django_db

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)  # frozen in runs so waiting days do not move


def run(cycle, actor=None):
    cycle = cycle_run_start(actor=actor, cycle=cycle, enqueue=False)
    return cycle_run_execute(cycle_id=cycle.pk, token=cycle.run_token)


@pytest.fixture
def pool(db):
    """Three requests, two mentors (one place each) and an offer; one request speaks only
    English, which nobody does."""
    mentors = [f.MentorProfileFactory(capacity=1), f.MentorProfileFactory(capacity=1)]
    offer = f.OfferFactory(capacity=1)
    requests = [open_request(), open_request(needs=[("website", 3)])]
    lonely = open_request(languages=[Language.objects.get(code="en")])
    return {"mentors": mentors, "offer": offer, "requests": requests, "lonely": lonely}


def test_a_run_writes_proposals_with_their_breakdown_and_unmatched_requests_with_a_reason(pool, coordinator):
    cycle = make_cycle(status=CycleStatus.OPEN)
    with time_machine.travel(NOW, tick=False):
        report = run(cycle, coordinator)
    cycle.refresh_from_db()
    assert cycle.status == CycleStatus.REVIEW
    assert cycle.run_stage == RunStage.DONE and cycle.run_progress == 1.0
    assert (cycle.request_count, cycle.provider_count) == (3, 3)
    assert report.proposals == cycle.matched_count == 2
    proposals = list(Proposal.objects.filter(cycle=cycle))
    assert {p.request_id for p in proposals} == {r.pk for r in pool["requests"]}
    for p in proposals:
        assert p.status == ProposalStatus.PROPOSED
        assert sum(p.breakdown.values()) == pytest.approx(p.score, abs=1e-4)
    # The website need goes to the offer, whose skills are website and social media.
    web = next(p for p in proposals if p.request_id == pool["requests"][1].pk)
    assert web.offer_id == pool["offer"].pk and web.provider_user_id == pool["offer"].company.user_id
    unmatched = UnmatchedRequest.objects.get(cycle=cycle)
    assert unmatched.request_id == pool["lonely"].pk and unmatched.reason == "no_common_language"
    assert len(cycle.input_hash) == 64 and set(cycle.run_timings) >= {"load", "write", "total"}


def test_the_same_snapshot_and_configuration_give_the_same_proposals(pool, coordinator):
    first, second = make_cycle(status=CycleStatus.OPEN), make_cycle(status=CycleStatus.OPEN)
    with time_machine.travel(NOW, tick=False):
        run(first)
        run(second)
    pairs = lambda c: sorted(Proposal.objects.filter(cycle=c).values_list("request_id", "mentor_id", "offer_id", "score"))  # noqa: E731
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.input_hash == second.input_hash
    assert pairs(first) == pairs(second) and len(pairs(first)) == 2


def test_loading_the_problem_takes_a_fixed_number_of_queries_whatever_the_pool_size(pool):
    from django.test.utils import CaptureQueriesContext

    cycle = make_cycle(status=CycleStatus.OPEN)
    with CaptureQueriesContext(connection) as small_queries:
        small = adapter.load_problem(cycle)
    for _ in range(5):
        open_request()
        f.MentorProfileFactory()
        f.OfferFactory()
    with CaptureQueriesContext(connection) as big_queries:
        big = adapter.load_problem(cycle)
    assert (small.requests.n, big.requests.n) == (3, 8) and big.providers.m == 13
    assert len(small_queries) == len(big_queries) <= 25


def test_provider_ids_tell_mentors_from_offers(pool):
    problem = adapter.load_problem(make_cycle(status=CycleStatus.OPEN))
    kinds = {adapter.provider_from_key(k) for k in problem.providers.ids.tolist()}
    assert kinds == {(1, m.pk) for m in pool["mentors"]} | {(2, pool["offer"].pk)}


def test_priority_tier_is_used_only_while_consent_is_live(db):
    with_consent, without = f.EntrepreneurProfileFactory(), f.EntrepreneurProfileFactory()
    consent_grant(user=with_consent.user, purpose="priority_data")
    for profile in (with_consent, without):
        # Written directly: the point is that the data is ignored without a live consent.
        type(profile).objects.filter(pk=profile.pk).update(gender="woman", job_seeker=True)
        open_request(user=profile.user)
    problem = adapter.load_problem(make_cycle(status=CycleStatus.OPEN))
    tiers = dict(zip(problem.request_side.user.tolist(), problem.requests.priority_tier.tolist(), strict=True))
    assert tiers == {with_consent.user_id: 2, without.user_id: 0}


def test_a_re_solve_keeps_approved_proposals_and_replaces_the_rest(pool, coordinator):
    cycle = make_cycle(status=CycleStatus.OPEN)
    with time_machine.travel(NOW, tick=False):
        run(cycle)
        kept = Proposal.objects.filter(cycle=cycle, mentor__isnull=False).first()
        proposal_approve(actor=coordinator, proposal=kept)
        newcomer = open_request()
        run(cycle)
    cycle.refresh_from_db()
    assert cycle.status == CycleStatus.REVIEW and cycle.run_count == 2
    kept.refresh_from_db()
    assert kept.status == ProposalStatus.APPROVED
    assert Proposal.objects.filter(cycle=cycle, request=kept.request).count() == 1
    # The approved request left the pool; the newcomer was solved with the places left.
    assert cycle.request_count == 3
    assert Proposal.objects.filter(cycle=cycle, request=newcomer).exists() or UnmatchedRequest.objects.filter(
        cycle=cycle, request=newcomer).exists()


def test_a_run_that_fails_while_writing_leaves_nothing_and_the_cycle_can_be_rerun(pool, monkeypatch):
    from cycles import services

    cycle = make_cycle(status=CycleStatus.OPEN)
    cycle = cycle_run_start(actor=None, cycle=cycle, enqueue=False)
    real = services.insert_rows
    written = []

    def crash_on_the_unmatched(rows, **kwargs):  # the proposals are inserted in the transaction by now
        if rows.model is UnmatchedRequest:
            assert Proposal.objects.filter(cycle=cycle).count() == 2
            raise RuntimeError("worker killed")
        written.append(rows.model)
        return real(rows, **kwargs)

    monkeypatch.setattr(services, "insert_rows", crash_on_the_unmatched)
    with pytest.raises(RuntimeError):
        cycle_run_execute(cycle_id=cycle.pk, token=cycle.run_token)
    assert written == [Proposal]
    assert not Proposal.objects.filter(cycle=cycle).exists()
    cycle.refresh_from_db()
    assert cycle.status == CycleStatus.SOLVING and cycle.run_stage == RunStage.WRITE
    monkeypatch.setattr(services, "insert_rows", real)
    # The heartbeat stopped: once it is stale the run can be started again.
    type(cycle).objects.filter(pk=cycle.pk).update(run_heartbeat_at="2000-01-01T00:00:00Z")
    report = run(cycle)
    assert report.proposals == Proposal.objects.filter(cycle=cycle).count() == 2


def test_a_superseded_run_writes_nothing(pool):
    cycle = cycle_run_start(actor=None, cycle=make_cycle(status=CycleStatus.OPEN), enqueue=False)
    old_token = cycle.run_token
    type(cycle).objects.filter(pk=cycle.pk).update(run_heartbeat_at="2000-01-01T00:00:00Z")
    cycle_run_start(actor=None, cycle=cycle, enqueue=False)
    with pytest.raises(RunSuperseded):
        cycle_run_execute(cycle_id=cycle.pk, token=old_token)
    assert not Proposal.objects.filter(cycle=cycle).exists()


def test_run_cycle_command_solves_with_a_progress_report(pool, capsys):
    from django.core.management import call_command

    cycle = make_cycle(status=CycleStatus.OPEN)
    call_command("run_cycle", str(cycle.pk), "--no-progress")
    assert "2 proposals, 1 unmatched" in capsys.readouterr().out
    cycle.refresh_from_db()
    assert cycle.status == CycleStatus.REVIEW


def test_the_worker_task_runs_the_cycle(pool, coordinator, immediate_tasks, django_capture_on_commit_callbacks):
    cycle = make_cycle(status=CycleStatus.OPEN)
    with django_capture_on_commit_callbacks(execute=True):
        cycle_run_start(actor=coordinator, cycle=cycle)
    cycle.refresh_from_db()
    assert cycle.status == CycleStatus.REVIEW and cycle.matched_count == 2
    assert connection.vendor in {"sqlite", "postgresql"}


@pytest.mark.postgres
def test_a_run_whose_worker_is_alive_is_not_restarted_even_with_an_old_heartbeat(pool, coordinator):
    import psycopg
    from django.db import connection as conn

    from cycles.services import RUN_LOCK_NAMESPACE

    cycle = cycle_run_start(actor=None, cycle=make_cycle(status=CycleStatus.OPEN), enqueue=False)
    # The worker has started (stage past "queued") and its session holds the run lock.
    type(cycle).objects.filter(pk=cycle.pk).update(run_stage=RunStage.SOLVE, run_heartbeat_at="2000-01-01T00:00:00Z")
    s = conn.settings_dict
    with psycopg.connect(f"postgres://{s['USER']}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}", autocommit=True) as worker:
        worker.execute("SELECT pg_advisory_lock(%s, %s)", (RUN_LOCK_NAMESPACE, cycle.pk))
        with pytest.raises(Conflict):
            cycle_run_start(actor=coordinator, cycle=cycle)
    # The worker's session is gone: the run is dead and may be restarted.
    assert cycle_run_start(actor=coordinator, cycle=cycle).run_count == 2


@pytest.mark.postgres
def test_a_run_refreshes_the_planner_statistics_of_the_tables_it_rewrote(pool, coordinator):
    tables = [Proposal._meta.db_table, UnmatchedRequest._meta.db_table]
    with connection.cursor() as cursor:  # statistics of empty tables: 0 rows
        cursor.execute(f"ANALYZE {tables[0]}, {tables[1]}")
    cycle = make_cycle(status=CycleStatus.OPEN)
    with time_machine.travel(NOW, tick=False):
        run(cycle, coordinator)
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reltuples FROM pg_class WHERE relname IN (%s, %s)", tables)
        stats = dict(cursor.fetchall())
    assert stats == {tables[0]: Proposal.objects.count() == 2 and 2, tables[1]: 1}
