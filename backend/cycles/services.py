"""Writes of the matching cycle: the cycle's state machine, the run, the coordinator's review,
the parties' consent and the end of a match.

State machine of a cycle::

    draft --open--> open --run--> solving --(worker)--> review --publish--> published --close--> closed
                                    ^                      |
                                    +-------run------------+   (re-solve the rest, approved kept)

Capacity invariant: a provider's live holds (approved proposals not yet published + pending and
active matches) never exceed its capacity. Every service that takes a place locks the provider's
row first (``select_for_update``), counts the holds and takes a free numbered slot; partial
unique indexes on (provider, slot) are the last line. Locks are taken in one order everywhere:
provider row, then request row, then the match or proposal row.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mass_mail
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, User
from audit.services import audit_record
from cycles.models import (
    CONFIG_RANGES,
    LIVE_MATCH_STATUSES,
    WEIGHT_FIELDS,
    Cycle,
    CycleStatus,
    DeclineReason,
    Match,
    MatchStatus,
    Proposal,
    ProposalSource,
    ProposalStatus,
    RejectReason,
    RunStage,
    UnmatchedRequest,
)
from cycles.selectors import provider_capacity, provider_holds
from marketplace.api.errors import Conflict
from marketplace.models import MentorProfile, Offer, Request, RequestStatus, Territory
from marketplace.selectors import user_can_coordinate

if TYPE_CHECKING:
    from cycles.adapter import Rows

logger = logging.getLogger(__name__)

WRITE_BATCH = 5000


def run_stale_seconds() -> int:
    """A run whose worker has not reported for this long is presumed dead (killed, lost) and
    may be restarted."""
    return int(getattr(settings, "CYCLES_RUN_STALE_SECONDS", 120))


HEARTBEAT_SECONDS = 10.0


def _require_coordinator(actor: User, territory_id: int | None) -> None:
    if not user_can_coordinate(actor, territory_id):
        raise PermissionDenied(_("Vous ne coordonnez pas ce territoire."))


def _conflict(message: Any, **extra: Any) -> Conflict:
    detail: Any = {"detail": str(message), **extra} if extra else str(message)
    return Conflict(detail)


# --- Cycle configuration and states ---------------------------------------------------------------


def _validate_config(config: dict[str, Any]) -> dict[str, Any]:
    unknown = set(config) - set(CONFIG_RANGES)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: _("Paramètre inconnu.")})
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, value in config.items():
        lo, hi = CONFIG_RANGES[name]
        integer = name in ("candidates_per_request", "response_days")
        try:
            if isinstance(value, bool):
                raise TypeError
            number = int(value) if integer else float(value)
            if integer and number != float(value):
                raise TypeError
        except (TypeError, ValueError):
            errors[name] = str(_("Doit être un nombre."))
            continue
        if not (lo <= number <= hi) or number != number:
            errors[name] = str(_("Doit être compris entre {lo} et {hi}.")).format(lo=lo, hi=hi)
            continue
        clean[name] = number
    if errors:
        raise ValidationError(errors)
    return clean


def _check_weights(cycle: Cycle) -> None:
    if sum(getattr(cycle, name) for name in WEIGHT_FIELDS) <= 0:
        raise ValidationError({"weight_skills": _("Au moins un critère doit avoir un poids positif.")})


def cycle_create(
    *,
    actor: User,
    territory: Territory | None,
    name: str,
    opens_on: dt.date,
    closes_on: dt.date,
    config: dict[str, Any] | None = None,
) -> Cycle:
    """Create a draft cycle; a coordinator for his territories, an administrator for any or all."""
    _require_coordinator(actor, territory.pk if territory else None)
    if closes_on < opens_on:
        raise ValidationError({"closes_on": _("La clôture doit suivre l'ouverture.")})
    if not name.strip():
        raise ValidationError({"name": _("Donnez un nom au cycle.")})
    cycle = Cycle(territory=territory, name=name.strip(), opens_on=opens_on, closes_on=closes_on, created_by=actor)
    for key, value in _validate_config(config or {}).items():
        setattr(cycle, key, value)
    _check_weights(cycle)
    with transaction.atomic():
        cycle.save()
        audit_record(actor=actor, action="cycle.create", target=cycle, territory_id=cycle.territory_id,
                     data={"name": cycle.name})
    return cycle


def cycle_configure(*, actor: User, cycle: Cycle, config: dict[str, Any]) -> Cycle:
    """Change the configuration before publication (not while a run is solving)."""
    _require_coordinator(actor, cycle.territory_id)
    clean = _validate_config(config)
    with transaction.atomic():
        locked = Cycle.objects.select_for_update().get(pk=cycle.pk)
        if locked.status not in (CycleStatus.DRAFT, CycleStatus.OPEN, CycleStatus.REVIEW):
            raise _conflict(_("La configuration ne peut changer que avant la publication et hors calcul."))
        for key, value in clean.items():
            setattr(locked, key, value)
        _check_weights(locked)
        locked.save()
        audit_record(actor=actor, action="cycle.configure", target=locked, territory_id=locked.territory_id,
                     data=clean)
    return locked


def _transition(*, actor: User, cycle: Cycle, allowed: Iterable[str], to: str, action: str,
                message: Any, **fields: Any) -> Cycle:
    _require_coordinator(actor, cycle.territory_id)
    with transaction.atomic():
        # Lock the cycle: two coordinators changing its state at once serialise here.
        locked = Cycle.objects.select_for_update().get(pk=cycle.pk)
        if locked.status not in allowed:
            raise _conflict(message, status=locked.status)
        locked.status = to
        for key, value in fields.items():
            setattr(locked, key, value)
        locked.save()
        audit_record(actor=actor, action=action, target=locked, territory_id=locked.territory_id)
    return locked


def cycle_open(*, actor: User, cycle: Cycle) -> Cycle:
    return _transition(actor=actor, cycle=cycle, allowed=[CycleStatus.DRAFT], to=CycleStatus.OPEN,
                       action="cycle.open", message=_("Seul un cycle en brouillon peut être ouvert."))


def cycle_close(*, actor: User, cycle: Cycle, reason: str = "") -> Cycle:
    """Close a published cycle, or cancel one before publication (its approved proposals are
    cancelled and free their places). A cycle being solved cannot be closed."""
    _require_coordinator(actor, cycle.territory_id)
    with transaction.atomic():
        locked = Cycle.objects.select_for_update().get(pk=cycle.pk)
        if locked.status in (CycleStatus.SOLVING, CycleStatus.CLOSED):
            raise _conflict(_("Ce cycle ne peut pas être clos dans son état actuel."), status=locked.status)
        cancelled = Proposal.objects.filter(
            cycle=locked, status__in=[ProposalStatus.PROPOSED, ProposalStatus.APPROVED]
        ).update(status=ProposalStatus.CANCELLED)
        locked.status = CycleStatus.CLOSED
        locked.closed_at = timezone.now()
        locked.save()
        audit_record(actor=actor, action="cycle.close", target=locked, territory_id=locked.territory_id,
                     reason=reason, data={"cancelled_proposals": cancelled})
    return locked


# --- Running a cycle ------------------------------------------------------------------------------


def cycle_run_start(*, actor: User | None, cycle: Cycle, enqueue: bool = True) -> Cycle:
    """Move the cycle to ``solving`` and queue its run (in the same transaction: the durable job
    row commits with the state or not at all). Refused (409) when a run is already going on,
    unless that run stopped reporting for ``run_stale_seconds`` (its worker died): then it is
    superseded and this one takes over."""
    if actor is not None:
        _require_coordinator(actor, cycle.territory_id)
    with transaction.atomic():
        # Lock the cycle row: of two simultaneous starts, the second waits here and then sees
        # ``solving`` and is refused.
        locked = Cycle.objects.select_for_update().get(pk=cycle.pk)
        restarted = False
        if locked.status == CycleStatus.SOLVING:
            if _run_alive(locked):
                raise _conflict(_("Un calcul de ce cycle est déjà en cours."), status=locked.status,
                                run_stage=locked.run_stage)
            restarted = True
        elif locked.status not in (CycleStatus.OPEN, CycleStatus.REVIEW):
            raise _conflict(_("Seul un cycle ouvert ou en revue peut être calculé."), status=locked.status)
        _check_weights(locked)
        if not restarted:
            locked.run_from_status = locked.status
        now = timezone.now()
        locked.status = CycleStatus.SOLVING
        locked.run_token = secrets.token_hex(16)
        locked.run_stage = RunStage.QUEUED
        locked.run_progress = 0.0
        locked.run_error = ""
        locked.run_started_at = now
        locked.run_heartbeat_at = now
        locked.run_finished_at = None
        locked.run_task_id = ""
        locked.run_count += 1
        if enqueue:
            locked.run_task_id = _enqueue_run(locked)
        locked.save()
        audit_record(actor=actor, action="cycle.run", target=locked, territory_id=locked.territory_id,
                     data={"run": locked.run_count, "restarted": restarted})
    return locked


# Namespace of the PostgreSQL advisory lock a running run holds on its session (key 2: cycle id).
RUN_LOCK_NAMESPACE = 0x5C1C


def _on_postgres() -> bool:
    return connection.vendor == "postgresql"


def _run_alive(cycle: Cycle) -> bool:
    """Whether the cycle's current run may still be working.

    A run that a worker has started holds a session-level advisory lock on PostgreSQL: the server
    drops it when the worker's process dies, whatever the engine is doing (the engine can hold
    the GIL for minutes on a national pool, so a heartbeat thread alone cannot prove life). A run
    still queued, and every run on SQLite, is alive while its heartbeat is fresh."""
    beat = cycle.run_heartbeat_at or cycle.run_started_at
    fresh = beat is not None and (timezone.now() - beat).total_seconds() < run_stale_seconds()
    if cycle.run_stage == RunStage.QUEUED or not _on_postgres():
        return fresh
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RUN_LOCK_NAMESPACE, cycle.pk])
        free = cursor.fetchone()[0]
        if free:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCK_NAMESPACE, cycle.pk])
    return not free


def _run_lock(cycle_id: int, take: bool) -> None:
    if not _on_postgres():
        return
    with connection.cursor() as cursor:
        fn = "pg_advisory_lock" if take else "pg_advisory_unlock"
        cursor.execute(f"SELECT {fn}(%s, %s)", [RUN_LOCK_NAMESPACE, cycle_id])


def _enqueue_run(cycle: Cycle) -> str:
    from django_tasks_db import DatabaseBackend

    from cycles.tasks import cycle_run_task

    if isinstance(cycle_run_task.get_backend(), DatabaseBackend):
        # The job row is written in the caller's transaction: no job without the state, no state
        # without the job.
        return str(cycle_run_task.enqueue(cycle.pk, cycle.run_token).id)
    # Other backends (the immediate one in tests) run the task at once: after the commit.
    pk, token = cycle.pk, cycle.run_token
    transaction.on_commit(lambda: cycle_run_task.enqueue(pk, token))
    return ""


class RunSuperseded(Exception):
    """The run's token is no longer the cycle's: another run took over; nothing was written."""


@dataclass
class RunReport:
    cycle_id: int
    requests: int
    providers: int
    proposals: int
    unmatched: int
    objective: float
    timings: dict[str, float]
    input_hash: str


# The engine's stages (matching.cycle.STAGES) shown as the run's stages.
ENGINE_STAGES = {"prepare": RunStage.SCORE, "candidates": RunStage.SCORE, "solve": RunStage.SOLVE,
                 "explain": RunStage.SOLVE}


class _Heartbeat:
    """Reports the stage and progress of a run on the cycle row (outside the write transaction,
    throttled), which is also the proof that its worker is alive."""

    def __init__(self, cycle_id: int, token: str, on_progress: Callable[[str, float], None] | None) -> None:
        self.cycle_id, self.token, self.on_progress = cycle_id, token, on_progress
        self.stage, self.last = "", 0.0

    def __call__(self, stage: str, fraction: float = 0.0, force: bool = False) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        if self.on_progress is not None:
            self.on_progress(stage, fraction)
        now = time.monotonic()
        if not force and stage == self.stage and now - self.last < 0.5:
            return
        self.stage, self.last = stage, now
        updated = Cycle.objects.filter(pk=self.cycle_id, run_token=self.token).update(
            run_stage=stage, run_progress=fraction, run_heartbeat_at=timezone.now()
        )
        if not updated:
            raise RunSuperseded()

    def engine(self, *args: Any) -> None:
        """Progress callback given to the engine: ``(fraction)`` or ``(stage, fraction)``."""
        stage, fraction = RunStage.SOLVE, 0.0
        for a in args:
            if isinstance(a, str):
                stage = ENGINE_STAGES.get(a, RunStage.SOLVE)
            elif isinstance(a, int | float):
                fraction = float(a)
        self(stage, fraction)


class _Pulse(threading.Thread):
    """Beats the run's heartbeat every ``HEARTBEAT_SECONDS`` from a thread of the run's process,
    so that a long silent stage (the engine's assignment on a national pool takes minutes) is not
    mistaken for a dead worker; it dies with the process, which is the point."""

    def __init__(self, cycle_id: int, token: str) -> None:
        super().__init__(name=f"cycle-{cycle_id}-heartbeat", daemon=True)
        self.cycle_id, self.token, self.stop = cycle_id, token, threading.Event()

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.stop.wait(HEARTBEAT_SECONDS):
                try:
                    Cycle.objects.filter(pk=self.cycle_id, run_token=self.token,
                                         status=CycleStatus.SOLVING).update(run_heartbeat_at=timezone.now())
                except Exception:  # a missed beat only makes the run look older
                    logger.warning("cycle %s: heartbeat failed", self.cycle_id, exc_info=True)
        finally:
            connection.close()


def cycle_run_execute(*, cycle_id: int, token: str,
                      on_progress: Callable[[str, float], None] | None = None) -> RunReport:
    """The run itself (in the worker, or in ``manage.py run_cycle``): load, score and solve outside
    any transaction, then write every proposal and unmatched request in one transaction, which
    first checks that this run still owns the cycle. Killed at any point before that commit, it
    leaves nothing; the cycle stays ``solving`` until its heartbeat is stale, then can be rerun."""
    cycle = Cycle.objects.get(pk=cycle_id)
    if cycle.run_token != token or cycle.status != CycleStatus.SOLVING:
        raise RunSuperseded()
    # Held for the whole run on this session: proof of life for ``_run_alive``.
    _run_lock(cycle_id, take=True)
    pulse = _Pulse(cycle_id, token)
    pulse.start()
    try:
        return _run(cycle, token, on_progress)
    finally:
        pulse.stop.set()
        pulse.join(timeout=HEARTBEAT_SECONDS)
        _run_lock(cycle_id, take=False)


def _run(cycle: Cycle, token: str, on_progress: Callable[[str, float], None] | None) -> RunReport:
    from cycles import adapter

    cycle_id = cycle.pk
    beat = _Heartbeat(cycle_id, token, on_progress)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    beat(RunStage.LOAD, 0.0, force=True)
    matches_expire_overdue()
    problem = adapter.load_problem(cycle)
    timings["load"] = time.perf_counter() - started
    beat(RunStage.SCORE, 0.0, force=True)
    t = time.perf_counter()
    result = adapter.solve(problem, progress=beat.engine)
    timings["solve_total"] = time.perf_counter() - t
    for key, value in (getattr(result, "timings", None) or {}).items():
        timings[f"engine_{key}"] = float(value)
    beat(RunStage.WRITE, 0.0, force=True)
    t = time.perf_counter()
    proposals, unmatched = adapter.rows_from_result(cycle, problem, result)
    input_hash = str(getattr(result, "input_hash", ""))[:64]
    objective = float(getattr(result, "objective", 0.0))
    timings["write_rows"] = time.perf_counter() - t  # the result as columns of rows, before the database
    with transaction.atomic():
        locked = Cycle.objects.select_for_update().get(pk=cycle_id)
        if locked.run_token != token or locked.status != CycleStatus.SOLVING:
            raise RunSuperseded()
        # Undecided proposals of an earlier run are replaced; decisions (approved, rejected)
        # stay: approved ones are fixed, rejected ones are excluded pairs.
        Proposal.objects.filter(cycle=locked, status=ProposalStatus.PROPOSED).delete()
        UnmatchedRequest.objects.filter(cycle=locked).delete()
        insert_rows(proposals)
        insert_rows(unmatched)
        timings["write"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - started
        locked.status = CycleStatus.REVIEW
        locked.run_stage = RunStage.DONE
        locked.run_progress = 1.0
        locked.run_finished_at = timezone.now()
        locked.run_heartbeat_at = locked.run_finished_at
        locked.input_hash = input_hash
        locked.request_count = problem.requests.n
        locked.provider_count = problem.providers.m
        locked.objective = objective
        locked.matched_count = proposals.n
        locked.run_seconds = timings["total"]
        locked.run_timings = {k: round(v, 4) for k, v in timings.items()}
        locked.save()
        audit_record(actor=None, action="cycle.solved", target=locked, territory_id=locked.territory_id,
                     data={"run": locked.run_count, "input_hash": input_hash, "proposals": proposals.n,
                           "unmatched": unmatched.n, "objective": objective})
        committing = time.perf_counter()
    # The commit checks every deferred foreign key of the rows written, and the statistics are
    # refreshed after it: both belong to the run's time, recorded once they are known.
    t = time.perf_counter()
    timings["commit"] = t - committing
    _refresh_planner_statistics()
    timings["analyze"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - started
    Cycle.objects.filter(pk=cycle_id, run_token=token).update(
        run_seconds=timings["total"], run_timings={k: round(v, 4) for k, v in timings.items()})
    if on_progress is not None:
        on_progress(RunStage.DONE, 1.0)
    return RunReport(cycle_id, problem.requests.n, problem.providers.m, proposals.n, unmatched.n,
                     objective, timings, input_hash)


def insert_rows(rows: Rows, *, copy: bool | None = None) -> None:
    """Insert ``rows`` in the current transaction: with PostgreSQL ``COPY`` (the default there),
    else with ``bulk_create``. Both write the same values in every column: the given ones, and
    each other field's model default, prepared by the field as ``bulk_create`` prepares it."""
    if copy is None:
        copy = _on_postgres()
    if not copy:
        rows.model.objects.bulk_create(rows.objects(), batch_size=WRITE_BATCH)
        return
    if rows.n == 0:
        return
    import numpy as np

    fields = [f for f in rows.model._meta.concrete_fields if not f.primary_key]
    unknown = set(rows.columns) - {f.attname for f in fields}
    if unknown:
        raise ValueError(f"{rows.model.__name__} has no column {sorted(unknown)}")
    columns: list[list[Any]] = []
    for f in fields:
        if f.attname in rows.columns and isinstance(rows.columns[f.attname], list | np.ndarray):
            values = rows.column(f.attname)
            if len(values) != rows.n:
                raise ValueError(f"{f.attname}: {len(values)} values for {rows.n} rows")
            columns.append(values)
        else:
            # One value for every row (given, or the field's default), prepared once by the field.
            value = rows.columns[f.attname] if f.attname in rows.columns else f.get_default()
            columns.append([f.get_db_prep_save(value, connection)] * rows.n)
    qn = connection.ops.quote_name
    statement = (f"COPY {qn(rows.model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
                 "FROM STDIN")
    # The raw psycopg cursor of Django's connection: same session, same transaction; a failure
    # anywhere in the stream (a value psycopg cannot send, a constraint the server refuses) aborts
    # the COPY and raises, and the caller's transaction rolls back whole.
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(statement) as copy_:
        for row in zip(*columns, strict=True):
            copy_.write_row(row)


def _refresh_planner_statistics() -> None:
    """``ANALYZE`` the tables a run has just rewritten (PostgreSQL only).

    A national run replaces tens of thousands of rows at once; until autovacuum notices, the
    planner keeps the old row counts and plans the review table's queries for a handful of rows
    (measured: 2.6 s instead of milliseconds for the proposals list right after a run).
    """
    if not _on_postgres():
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"ANALYZE {Proposal._meta.db_table}, {UnmatchedRequest._meta.db_table}"
        )


def cycle_run_failed(*, cycle_id: int, token: str, error: str) -> None:
    """Put a cycle whose run raised back where it was, with the error, ready to be rerun."""
    with transaction.atomic():
        locked = Cycle.objects.select_for_update().filter(pk=cycle_id, run_token=token,
                                                          status=CycleStatus.SOLVING).first()
        if locked is None:
            return
        locked.status = locked.run_from_status or CycleStatus.OPEN
        locked.run_stage = RunStage.FAILED
        locked.run_error = error[:2000]
        locked.run_finished_at = timezone.now()
        locked.save()
        audit_record(actor=None, action="cycle.run_failed", target=locked, territory_id=locked.territory_id,
                     reason=error[:500])


# --- Review: approve, reject, assign --------------------------------------------------------------


def _lock_provider(*, mentor_id: int | None, offer_id: int | None) -> tuple[MentorProfile | None, Offer | None]:
    # Lock the provider row: approvals, manual assignments and publications racing for its last
    # place serialise here, so that counting the holds and taking a slot is atomic.
    if mentor_id is not None:
        return MentorProfile.objects.select_for_update().get(pk=mentor_id), None
    return None, Offer.objects.select_for_update().get(pk=offer_id)


def _take_slot(*, mentor: MentorProfile | None, offer: Offer | None) -> int:
    """A free slot of a provider whose row the caller has locked; 409 when it is full."""
    capacity = provider_capacity(mentor=mentor, offer=offer)
    holds = provider_holds(mentor=mentor, offer=offer)
    if len(holds) >= capacity:
        who = _("Ce parrain ou cette marraine") if mentor else _("Cette offre")
        raise _conflict(
            _("{who} n'a plus de place : capacité {capacity}, {used} déjà engagée(s) "
              "(binômes en cours et propositions approuvées).").format(who=who, capacity=capacity, used=len(holds)),
            capacity=capacity, used=len(holds),
        )
    used = set(holds)
    return next(s for s in range(1, len(holds) + 2) if s not in used)


def _lock_request(request_id: int) -> Request:
    # Lock the request: two cycles or two coordinators placing one request serialise here.
    return Request.objects.select_for_update().get(pk=request_id)


def _request_free(request: Request, *, except_proposal: int | None = None) -> None:
    if request.status != RequestStatus.OPEN:
        raise _conflict(_("Cette demande n'est plus ouverte."), request_status=request.status)
    others = Proposal.objects.filter(request=request, status=ProposalStatus.APPROVED)
    if except_proposal is not None:
        others = others.exclude(pk=except_proposal)
    if others.exists() or Match.objects.filter(request=request, status__in=LIVE_MATCH_STATUSES).exists():
        raise _conflict(_("Cette demande a déjà une proposition approuvée ou un binôme en cours."))


def proposal_approve(*, actor: User, proposal: Proposal, reason_code: str = "", reason: str = "") -> Proposal:
    """Approve a proposal of a cycle in review. Approving an approved proposal changes nothing;
    approving past the provider's capacity is refused (409) with the numbers."""
    _require_coordinator(actor, proposal.territory_id)
    _require_coordinator(actor, proposal.cycle.territory_id)
    try:
        with transaction.atomic():
            mentor, offer = _lock_provider(mentor_id=proposal.mentor_id, offer_id=proposal.offer_id)
            request = _lock_request(proposal.request_id)
            locked = Proposal.objects.select_for_update().select_related("cycle").get(pk=proposal.pk)
            if locked.status == ProposalStatus.APPROVED:
                return locked
            if locked.cycle.status != CycleStatus.REVIEW:
                raise _conflict(_("Le cycle n'est pas en revue."), status=locked.cycle.status)
            if locked.status != ProposalStatus.PROPOSED:
                raise _conflict(_("Cette proposition a déjà été traitée."), proposal_status=locked.status)
            _request_free(request, except_proposal=locked.pk)
            locked.slot = _take_slot(mentor=mentor, offer=offer)
            locked.status = ProposalStatus.APPROVED
            locked.decided_by, locked.decided_at = actor, timezone.now()
            locked.reason_code, locked.reason = reason_code[:30], reason
            locked.save()
            audit_record(actor=actor, action="proposal.approve", target=locked, territory_id=locked.territory_id,
                         reason_code=reason_code, reason=reason,
                         data={"cycle": locked.cycle_id, "request": locked.request_id, "score": locked.score,
                               "provider": _provider_label(locked)})
            return locked
    except IntegrityError:
        # Only reachable if a writer bypassed the locks: the slot or request index refused it.
        raise _conflict(_("Une autre décision vient de prendre cette place ; réessayez.")) from None


def _provider_label(obj: Proposal | Match) -> str:
    return f"mentor:{obj.mentor_id}" if obj.mentor_id else f"offer:{obj.offer_id}"


def _check_reason(reason_code: str, reason: str, choices: Any) -> None:
    if not reason_code:
        raise ValidationError({"reason_code": _("Indiquez un motif.")})
    if reason_code not in choices.values:
        raise ValidationError({"reason_code": _("Motif inconnu.")})
    if reason_code == "other" and not reason.strip():
        raise ValidationError({"reason": _("Précisez le motif.")})


def proposal_reject(*, actor: User, proposal: Proposal, reason_code: str, reason: str = "") -> Proposal:
    """Reject a proposal (undecided or approved) with a reason; the pair is never proposed again.
    Rejecting a rejected proposal changes nothing."""
    _require_coordinator(actor, proposal.territory_id)
    _require_coordinator(actor, proposal.cycle.territory_id)
    _check_reason(reason_code, reason, RejectReason)
    with transaction.atomic():
        locked = Proposal.objects.select_for_update().select_related("cycle").get(pk=proposal.pk)
        if locked.status == ProposalStatus.REJECTED:
            return locked
        if locked.cycle.status != CycleStatus.REVIEW:
            raise _conflict(_("Le cycle n'est pas en revue."), status=locked.cycle.status)
        if locked.status not in (ProposalStatus.PROPOSED, ProposalStatus.APPROVED):
            raise _conflict(_("Cette proposition a déjà été traitée."), proposal_status=locked.status)
        locked.status = ProposalStatus.REJECTED
        locked.slot = None
        locked.decided_by, locked.decided_at = actor, timezone.now()
        locked.reason_code, locked.reason = reason_code, reason
        locked.save()
        audit_record(actor=actor, action="proposal.reject", target=locked, territory_id=locked.territory_id,
                     reason_code=reason_code, reason=reason,
                     data={"cycle": locked.cycle_id, "request": locked.request_id, "provider": _provider_label(locked)})
    return locked


@dataclass
class BulkOutcome:
    done: list[int]
    failed: list[dict[str, Any]]


def proposals_decide_bulk(*, actor: User, proposals: list[Proposal], decision: str,
                          reason_code: str = "", reason: str = "") -> BulkOutcome:
    """Approve or reject many proposals; each is its own decision (its own transaction), so one
    refused for capacity does not undo the others. Returns what was done and what was not, why."""
    if decision == "reject":
        _check_reason(reason_code, reason, RejectReason)
    outcome = BulkOutcome(done=[], failed=[])
    # Provider order: two bulk approvals lock providers in the same order (no deadlock).
    for proposal in sorted(proposals, key=lambda p: (p.mentor_id or 0, p.offer_id or 0, p.pk)):
        try:
            if decision == "approve":
                proposal_approve(actor=actor, proposal=proposal, reason_code=reason_code, reason=reason)
            else:
                proposal_reject(actor=actor, proposal=proposal, reason_code=reason_code, reason=reason)
            outcome.done.append(proposal.pk)
        except Conflict as exc:
            detail = exc.detail.get("detail") if isinstance(exc.detail, dict) else exc.detail
            outcome.failed.append({"id": proposal.pk, "detail": str(detail)})
    return outcome


def proposal_assign(*, actor: User, cycle: Cycle, request: Request, mentor: MentorProfile | None = None,
                    offer: Offer | None = None, reason: str = "", force: bool = False) -> tuple[Proposal, list[str]]:
    """Assign a request by hand to a provider with a place left. The pair's score is computed
    with the cycle's configuration; hard constraints it violates are returned as warnings and,
    unless ``force``, refused (409) so the coordinator confirms. An undecided proposal of the
    request in this cycle is superseded."""
    from cycles import adapter

    _require_coordinator(actor, cycle.territory_id)
    _require_coordinator(actor, request.territory_id)
    if (mentor is None) == (offer is None):
        raise ValidationError({"provider": _("Choisissez un parrain ou une offre, pas les deux.")})
    if cycle.territory_id is not None and request.territory_id != cycle.territory_id:
        raise ValidationError({"request": _("Cette demande n'est pas du territoire du cycle.")})
    check = adapter.score_one(cycle, request, mentor=mentor, offer=offer)
    if check.warnings and not force:
        raise _conflict(_("Cette affectation ne respecte pas toutes les règles ; confirmez avec force=true."),
                        warnings=check.warnings, score=check.score)
    try:
        with transaction.atomic():
            locked_mentor, locked_offer = _lock_provider(mentor_id=mentor.pk if mentor else None,
                                                         offer_id=offer.pk if offer else None)
            locked_request = _lock_request(request.pk)
            locked_cycle = Cycle.objects.select_for_update().get(pk=cycle.pk)
            if locked_cycle.status != CycleStatus.REVIEW:
                raise _conflict(_("Le cycle n'est pas en revue."), status=locked_cycle.status)
            _request_free(locked_request)
            slot = _take_slot(mentor=locked_mentor, offer=locked_offer)
            Proposal.objects.filter(cycle=locked_cycle, request=locked_request,
                                    status=ProposalStatus.PROPOSED).update(status=ProposalStatus.SUPERSEDED)
            profile = locked_request.entrepreneur.entrepreneur_profile
            now = timezone.now()
            proposal = Proposal.objects.create(
                cycle=locked_cycle, request=locked_request, mentor=locked_mentor, offer=locked_offer,
                provider_user_id=locked_mentor.user_id if locked_mentor else locked_offer.company.user_id,  # type: ignore[union-attr]
                territory_id=locked_request.territory_id, town_id=profile.town_id,
                source=ProposalSource.MANUAL, status=ProposalStatus.APPROVED, slot=slot,
                score=min(max(check.score, 0.0), 100.0), warnings=check.warnings,
                decided_by=actor, decided_at=now, reason_code="manual", reason=reason,
                **{adapter.CRITERIA_FIELDS[k]: v for k, v in check.breakdown.items() if k in adapter.CRITERIA_FIELDS},
            )
            UnmatchedRequest.objects.filter(cycle=locked_cycle, request=locked_request).delete()
            audit_record(actor=actor, action="proposal.assign", target=proposal, territory_id=proposal.territory_id,
                         reason_code="manual", reason=reason,
                         data={"cycle": cycle.pk, "request": request.pk, "provider": _provider_label(proposal),
                               "score": proposal.score, "warnings": check.warnings})
    except IntegrityError:
        raise _conflict(_("Une autre décision vient de prendre cette place ; réessayez.")) from None
    return proposal, check.warnings


# --- Publication and consent ----------------------------------------------------------------------


def cycle_publish(*, actor: User, cycle: Cycle) -> Cycle:
    """Publish a cycle in review: each approved proposal becomes a pending match (keeping its
    slot, so the place stays held), its request is ``proposed``, and both parties are told by
    e-mail after the commit. Undecided proposals are cancelled (not excluded)."""
    _require_coordinator(actor, cycle.territory_id)
    with transaction.atomic():
        locked = Cycle.objects.select_for_update().get(pk=cycle.pk)
        if locked.status != CycleStatus.REVIEW:
            raise _conflict(_("Seul un cycle en revue peut être publié."), status=locked.status)
        now = timezone.now()
        respond_by = now + dt.timedelta(days=locked.response_days)
        # A request withdrawn since its approval is not published: its proposal is cancelled and
        # the place it held is freed.
        stale = Proposal.objects.filter(cycle=locked, status=ProposalStatus.APPROVED).exclude(
            request__status=RequestStatus.OPEN)
        stale.update(status=ProposalStatus.CANCELLED, slot=None)
        approved = list(
            Proposal.objects.select_for_update().filter(cycle=locked, status=ProposalStatus.APPROVED)
            .select_related("request").order_by("pk")
        )
        matches = Match.objects.bulk_create([
            Match(request_id=p.request_id, entrepreneur_id=p.request.entrepreneur_id,
                  provider_user_id=p.provider_user_id, mentor_id=p.mentor_id, offer_id=p.offer_id,
                  territory_id=p.territory_id, cycle=locked, respond_by=respond_by, score=p.score,
                  slot=p.slot, created_at=now)
            for p in approved
        ], batch_size=WRITE_BATCH)
        for p, m in zip(approved, matches, strict=True):
            p.status, p.match_id = ProposalStatus.PUBLISHED, m.pk
        Proposal.objects.bulk_update(approved, ["status", "match"], batch_size=WRITE_BATCH)
        Request.objects.filter(pk__in=[p.request_id for p in approved]).update(
            status=RequestStatus.PROPOSED, status_changed_at=now)
        Proposal.objects.filter(cycle=locked, status=ProposalStatus.PROPOSED).update(status=ProposalStatus.CANCELLED)
        locked.status = CycleStatus.PUBLISHED
        locked.published_at = now
        locked.save()
        audit_record(actor=actor, action="cycle.publish", target=locked, territory_id=locked.territory_id,
                     data={"matches": len(matches)})
        match_ids = [m.pk for m in matches]
        transaction.on_commit(lambda: _notify_published(match_ids))
    return locked


def _notify_published(match_ids: list[int]) -> None:
    """E-mail both parties of each new match (after the commit: never for a rolled-back one)."""
    site = getattr(settings, "SITE_URL", "")
    messages = []
    for m in Match.objects.filter(pk__in=match_ids).select_related("entrepreneur", "provider_user"):
        deadline = timezone.localtime(m.respond_by).strftime("%d/%m/%Y") if m.respond_by else ""
        for user, other in ((m.entrepreneur, m.provider_user), (m.provider_user, m.entrepreneur)):
            messages.append((
                "Social LAB : une proposition de binôme vous attend",
                f"Bonjour {user.display_name},\n\nUne mise en relation avec {other.display_name} vous est proposée."
                f"\nAcceptez-la ou déclinez-la avant le {deadline} : {site}/binomes/{m.pk}/\n",
                None,
                [user.email],
            ))
    if messages:
        try:
            send_mass_mail(messages, fail_silently=False)
        except Exception:  # an e-mail failure must not undo a committed publication
            logger.exception("publication e-mails failed for %d matches", len(match_ids))


def _party(actor: User, match: Match) -> str:
    if actor.pk == match.entrepreneur_id:
        return "entrepreneur"
    if actor.pk == match.provider_user_id:
        return "provider"
    raise PermissionDenied(_("Seules les deux personnes du binôme peuvent répondre."))


def _expire_if_overdue(match: Match, now: dt.datetime) -> bool:
    return match.status == MatchStatus.PENDING and match.respond_by is not None and match.respond_by < now


def match_accept(*, actor: User, match: Match) -> Match:
    """One party accepts a pending match; when both have, the match is active and its
    conversation opens (in the same transaction). Accepting twice changes nothing."""
    side = _party(actor, match)
    with transaction.atomic():
        # Lock the match: the two parties accepting at the same moment serialise here, so the
        # second sees the first's acceptance and activates the match.
        locked = Match.objects.select_for_update().get(pk=match.pk)
        now = timezone.now()
        if _expire_if_overdue(locked, now):
            raise _conflict(_("Le délai de réponse est passé."), status=MatchStatus.EXPIRED)
        if locked.status != MatchStatus.PENDING:
            if locked.status == MatchStatus.ACTIVE:
                return locked
            raise _conflict(_("Ce binôme n'attend plus de réponse."), status=locked.status)
        field = f"{side}_accepted_at"
        if getattr(locked, field) is None:
            setattr(locked, field, now)
            audit_record(actor=actor, action="match.accept", target=locked, territory_id=locked.territory_id,
                         data={"side": side})
        if locked.entrepreneur_accepted_at and locked.provider_accepted_at:
            locked.status = MatchStatus.ACTIVE
            locked.activated_at = now
            Request.objects.filter(pk=locked.request_id).update(status=RequestStatus.MATCHED, status_changed_at=now)
            locked.save()
            _conversation_open(locked)
            audit_record(actor=actor, action="match.activate", target=locked, territory_id=locked.territory_id)
        else:
            locked.save()
    return locked


def _conversation_open(match: Match) -> None:
    try:
        from chat.services import conversation_open_for_match
    except ImportError:  # chat not there yet: the match is active, its conversation comes with chat
        logger.warning("chat.services.conversation_open_for_match missing; match %s has no conversation", match.pk)
        return
    conversation_open_for_match(match=match)


def _conversation_close(match: Match) -> None:
    try:
        from chat.services import conversation_close_for_match
    except ImportError:
        logger.warning("chat.services.conversation_close_for_match missing; match %s", match.pk)
        return
    conversation_close_for_match(match=match)


def _release_to_pool(match: Match, now: dt.datetime) -> None:
    """The request of a declined or expired match goes back to the pool (if nothing else holds
    it)."""
    Request.objects.filter(pk=match.request_id, status=RequestStatus.PROPOSED).update(
        status=RequestStatus.OPEN, status_changed_at=now)


def match_decline(*, actor: User, match: Match, reason_code: str, reason: str = "") -> Match:
    """One party declines a pending match, with a reason: its place is freed, the request returns
    to the pool, and this pair is never proposed again."""
    side = _party(actor, match)
    _check_reason(reason_code, reason, DeclineReason)
    with transaction.atomic():
        locked = Match.objects.select_for_update().get(pk=match.pk)
        if locked.status == MatchStatus.DECLINED:
            return locked
        if locked.status != MatchStatus.PENDING:
            raise _conflict(_("Seul un binôme en attente peut être décliné ; un binôme actif se termine."),
                            status=locked.status)
        now = timezone.now()
        locked.status = MatchStatus.DECLINED
        locked.ended_at, locked.ended_by = now, actor
        locked.end_reason_code, locked.end_reason = reason_code, reason
        locked.save()
        _release_to_pool(locked, now)
        audit_record(actor=actor, action="match.decline", target=locked, territory_id=locked.territory_id,
                     reason_code=reason_code, reason=reason, data={"side": side})
    return locked


def matches_expire_overdue(*, now: dt.datetime | None = None) -> int:
    """Expire pending matches past their deadline: places freed, requests back in the pool, pairs
    excluded. Called before every run and by ``manage.py expire_matches``."""
    now = now or timezone.now()
    count = 0
    ids = list(Match.objects.filter(status=MatchStatus.PENDING, respond_by__lt=now).values_list("pk", flat=True))
    for pk in ids:
        with transaction.atomic():
            locked = Match.objects.select_for_update().get(pk=pk)
            if not _expire_if_overdue(locked, now):
                continue
            locked.status = MatchStatus.EXPIRED
            locked.ended_at = now
            locked.end_reason_code = "deadline"
            locked.save()
            _release_to_pool(locked, now)
            audit_record(actor=None, action="match.expire", target=locked, territory_id=locked.territory_id,
                         reason_code="deadline")
            count += 1
    return count


def match_end(*, match: Match, actor: User, status: str, reason: str) -> Match:
    """End an active match as ``completed`` or ``ended_early``, by either party or a coordinator
    of its territory; its conversation becomes read-only (in the same transaction)."""
    if status not in (MatchStatus.COMPLETED, MatchStatus.ENDED_EARLY):
        raise ValidationError({"status": _("Choisissez « completed » ou « ended_early ».")})
    if actor.pk not in (match.entrepreneur_id, match.provider_user_id) and not user_can_coordinate(
        actor, match.territory_id
    ):
        raise PermissionDenied(_("Seuls le binôme et la coordination du territoire peuvent y mettre fin."))
    if status == MatchStatus.ENDED_EARLY and not (reason or "").strip():
        raise ValidationError({"reason": _("Indiquez pourquoi le binôme s'arrête.")})
    with transaction.atomic():
        locked = Match.objects.select_for_update().get(pk=match.pk)
        if locked.status == status:
            return locked
        if locked.status != MatchStatus.ACTIVE:
            raise _conflict(_("Seul un binôme actif peut se terminer."), status=locked.status)
        locked.status = status
        locked.ended_at, locked.ended_by = timezone.now(), actor
        locked.end_reason = reason or ""
        locked.end_reason_code = status
        locked.save()
        _conversation_close(locked)
        audit_record(actor=actor, action="match.end", target=locked, territory_id=locked.territory_id,
                     reason_code=status, reason=reason or "",
                     data={"by": "coordinator" if actor.role in (Role.COORDINATOR, Role.ADMINISTRATOR) else "party"})
    return locked
