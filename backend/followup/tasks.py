"""Background delivery of the outbox on django-tasks (database backend: the job row is durable).

A run sends what is due; when some sends failed, it queues one more run for the earliest retry
(``run_after``), so retries happen with their backoff without a cron. ``manage.py send_outbox``
does the same by hand or from a timer, as a safety net."""

from __future__ import annotations

import logging
from typing import Any

from django_tasks import task

logger = logging.getLogger(__name__)


@task()
def outbox_deliver_task() -> dict[str, Any]:
    from followup.services import outbox_deliver_due

    report = outbox_deliver_due()
    if report.next_retry_at is not None:
        try:
            if outbox_deliver_task.get_backend().supports_defer:
                outbox_deliver_task.using(run_after=report.next_retry_at).enqueue()
        except Exception:  # the messages stay pending; send_outbox or the next kick sends them
            logger.exception("could not schedule the outbox retry run")
    return {
        "sent": report.sent, "failed": report.failed, "dead": report.dead, "skipped": report.skipped,
        "next_retry_at": report.next_retry_at.isoformat() if report.next_retry_at else None,
    }
