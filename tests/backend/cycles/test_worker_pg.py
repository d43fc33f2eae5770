"""The real worker (``manage.py db_worker``) killed in the middle of writing a cycle's proposals:
nothing is written, the cycle can be rerun, and the rerun gives the expected proposals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from cycles import adapter
from cycles.models import Cycle, CycleStatus, Proposal, RunStage, UnmatchedRequest
from cycles.services import RUN_LOCK_NAMESPACE, cycle_run_start
from tests import factories as f
from tests.backend.cycles.conftest import make_cycle, open_request

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

REPO = Path(__file__).resolve().parents[3]


def dsn() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def worker(*extra: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": dsn(), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(REPO / "backend" / "manage.py"), "db_worker", "--no-reload", "--interval", "0.1",
         "--no-startup-delay", *extra],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_mid_write_leaves_nothing_and_a_rerun_gives_the_same_proposals(coordinator):
    from marketplace.models import Language

    mentors = [f.MentorProfileFactory(capacity=1) for _ in range(4)]
    for _ in range(8):
        open_request()
    # Nobody speaks English only: this request ends unmatched, and its row is the one we block.
    lonely = open_request(languages=[Language.objects.get(code="en")])
    cycle = make_cycle(status=CycleStatus.OPEN)
    problem = adapter.load_problem(cycle)
    expected = adapter.solve(problem)
    expected_pairs = sorted(zip(expected.request_ids.tolist(), expected.provider_ids.tolist(), strict=True))
    assert len(expected_pairs) == len(mentors) and lonely.pk in expected.unmatched_request_ids.tolist()

    # Another session inserts, without committing, the unmatched row the run will write: the
    # worker's insert waits on that unique key inside its write transaction, after its proposals
    # are inserted (foreign keys are deferred to the commit on PostgreSQL, unique keys are not).
    blocker = psycopg.connect(dsn(), autocommit=False)
    blocker.execute(
        "INSERT INTO cycles_unmatchedrequest (cycle_id, request_id, territory_id, town_id, reason) "
        "VALUES (%s, %s, %s, %s, 'blocker')",
        (cycle.pk, lonely.pk, lonely.territory_id, lonely.entrepreneur.entrepreneur_profile.town_id),
    )
    cycle = cycle_run_start(actor=coordinator, cycle=cycle)
    process = worker()
    try:
        wait_for(lambda: Cycle.objects.get(pk=cycle.pk).run_stage == RunStage.WRITE, 60, "the write stage")
        with psycopg.connect(dsn(), autocommit=True) as probe:
            wait_for(lambda: probe.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0] > 0,
                     30, "the worker to wait on the lock")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        blocker.rollback()
        blocker.close()
    # The orphaned server session resumes its insert, finds its client gone and rolls back; the
    # run's advisory lock goes with it.
    with psycopg.connect(dsn(), autocommit=True) as probe:
        def run_lock_free() -> bool:
            if probe.execute("SELECT pg_try_advisory_lock(%s, %s)", (RUN_LOCK_NAMESPACE, cycle.pk)).fetchone()[0]:
                probe.execute("SELECT pg_advisory_unlock(%s, %s)", (RUN_LOCK_NAMESPACE, cycle.pk))
                return True
            return False

        wait_for(run_lock_free, 30, "the killed worker's session to end")

    # The killed run wrote nothing; the cycle still says ``solving`` at the write stage.
    cycle.refresh_from_db()
    assert (cycle.status, cycle.run_stage) == (CycleStatus.SOLVING, RunStage.WRITE)
    assert not Proposal.objects.filter(cycle=cycle).exists()
    assert not UnmatchedRequest.objects.filter(cycle=cycle).exists()

    # Its heartbeat is recent, but no session holds its run lock: the coordinator reruns it at
    # once, and a new worker finishes it.
    cycle = cycle_run_start(actor=coordinator, cycle=cycle)
    rerun = worker("--batch")
    assert rerun.wait(timeout=120) == 0
    cycle.refresh_from_db()
    assert cycle.status == CycleStatus.REVIEW and cycle.run_count == 2
    pairs = sorted(
        (r, adapter.provider_key(adapter.KIND_MENTOR, m))
        for r, m in Proposal.objects.filter(cycle=cycle).values_list("request_id", "mentor_id")
    )
    assert pairs == expected_pairs
    assert cycle.input_hash == expected.input_hash
