"""Invariants under concurrency, on PostgreSQL (real row locks): threads race for one mentor's
last place, for one request, and to start one cycle's run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from cycles.models import Cycle, CycleStatus, Match, MatchStatus, Proposal, ProposalStatus
from cycles.services import cycle_run_start, match_accept, proposal_approve, proposal_assign
from marketplace.api.errors import Conflict
from tests import factories as f
from tests.backend.cycles.conftest import make_cycle, make_proposal, open_request

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; return each result or exception."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = calls[i]()
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def holds(mentor) -> int:
    return (Proposal.objects.filter(mentor=mentor, status=ProposalStatus.APPROVED).count()
            + Match.objects.filter(mentor=mentor, status__in=[MatchStatus.PENDING, MatchStatus.ACTIVE]).count())


def test_threads_racing_for_a_mentors_last_place_exactly_one_wins(coordinator):
    cycle = make_cycle(status=CycleStatus.REVIEW)
    mentor = f.MentorProfileFactory(capacity=1)
    proposals = [make_proposal(cycle, open_request(), mentor=mentor) for _ in range(6)]
    results = race(*[lambda p=p: proposal_approve(actor=coordinator, proposal=p) for p in proposals])
    wins = [r for r in results if isinstance(r, Proposal)]
    assert len(wins) == 1, results
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, Proposal))
    assert holds(mentor) == 1


def test_approvals_and_manual_assignments_racing_never_exceed_capacity(coordinator):
    cycle = make_cycle(status=CycleStatus.REVIEW)
    mentor = f.MentorProfileFactory(capacity=2)
    proposals = [make_proposal(cycle, open_request(), mentor=mentor) for _ in range(3)]
    spare = [open_request() for _ in range(3)]
    calls = [lambda p=p: proposal_approve(actor=coordinator, proposal=p) for p in proposals]
    calls += [lambda r=r: proposal_assign(actor=coordinator, cycle=cycle, request=r, mentor=mentor) for r in spare]
    results = race(*calls)
    assert sum(not isinstance(r, Exception) for r in results) == 2, results
    assert holds(mentor) == 2
    slots = sorted(Proposal.objects.filter(mentor=mentor, status=ProposalStatus.APPROVED).values_list("slot", flat=True))
    assert slots == [1, 2]


def test_two_cycles_racing_for_one_request_place_it_once(coordinator):
    request = open_request()
    first, second = make_cycle(status=CycleStatus.REVIEW), make_cycle(status=CycleStatus.REVIEW)
    a = make_proposal(first, request, mentor=f.MentorProfileFactory())
    b = make_proposal(second, request, mentor=f.MentorProfileFactory())
    results = race(lambda: proposal_approve(actor=coordinator, proposal=a),
                   lambda: proposal_approve(actor=coordinator, proposal=b))
    assert sum(isinstance(r, Proposal) for r in results) == 1, results
    assert Proposal.objects.filter(request=request, status=ProposalStatus.APPROVED).count() == 1


def test_both_parties_accepting_at_once_activate_the_match_once():
    entrepreneur_request = open_request()
    mentor = f.MentorProfileFactory()
    match = Match.objects.create(request=entrepreneur_request, entrepreneur=entrepreneur_request.entrepreneur,
                                 provider_user=mentor.user, mentor=mentor, territory_id=entrepreneur_request.territory_id,
                                 slot=1)
    results = race(lambda: match_accept(actor=match.entrepreneur, match=match),
                   lambda: match_accept(actor=match.provider_user, match=match))
    assert not any(isinstance(r, Exception) for r in results), results
    match.refresh_from_db()
    assert match.status == MatchStatus.ACTIVE
    from chat.models import Conversation

    assert Conversation.objects.filter(match=match).count() == 1


def test_two_runs_started_together_one_runs_the_other_is_refused(coordinator):
    cycle = make_cycle(status=CycleStatus.OPEN)
    results = race(*[lambda: cycle_run_start(actor=coordinator, cycle=cycle) for _ in range(4)])
    assert sum(isinstance(r, Cycle) for r in results) == 1, results
    assert sum(isinstance(r, Conflict) for r in results) == 3
    from django_tasks_db.models import DBTaskResult

    assert DBTaskResult.objects.filter(task_path="cycles.tasks.cycle_run_task").count() == 1

