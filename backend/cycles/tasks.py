"""Background work of cycles, on django-tasks (the backport of Django 6's tasks framework) with
its database backend: the job row in PostgreSQL is the queue, so a queued run survives a restart
of the web process or of the worker, and no extra broker is needed. ``manage.py db_worker`` runs
it (``make run`` starts one beside Daphne)."""

from __future__ import annotations

import logging
from typing import Any

from django_tasks import task

logger = logging.getLogger(__name__)


@task()
def cycle_run_task(cycle_id: int, token: str) -> dict[str, Any]:
    """Solve a cycle (see ``cycles.services.cycle_run_execute``). A superseded run (another took
    over after this one was presumed dead) ends quietly; any other error puts the cycle back in
    its previous state with the error shown, ready to be rerun."""
    from cycles.services import RunSuperseded, cycle_run_execute, cycle_run_failed

    try:
        report = cycle_run_execute(cycle_id=cycle_id, token=token)
    except RunSuperseded:
        logger.info("cycle %s: run %s superseded, nothing written", cycle_id, token)
        return {"cycle": cycle_id, "superseded": True}
    except Exception as exc:
        logger.exception("cycle %s: run failed", cycle_id)
        cycle_run_failed(cycle_id=cycle_id, token=token, error=f"{type(exc).__name__}: {exc}")
        raise
    return {
        "cycle": cycle_id,
        "requests": report.requests,
        "providers": report.providers,
        "proposals": report.proposals,
        "unmatched": report.unmatched,
        "input_hash": report.input_hash,
    }
