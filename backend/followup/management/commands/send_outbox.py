from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from followup.services import outbox_deliver_due, outbox_prune


class Command(BaseCommand):
    help = (
        "Send the due e-mails of the follow-up outbox (each once; failures are retried later with a "
        "backoff). Safe to run from a timer beside the worker: claims are atomic."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="at most this many messages")
        parser.add_argument(
            "--prune-days", type=int, default=None,
            help="also delete sent and given-up messages older than this many days",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = outbox_deliver_due(limit=options["limit"])
        line = f"sent={report.sent} failed={report.failed} dead={report.dead} skipped={report.skipped}"
        if report.next_retry_at:
            line += f" next_retry_at={report.next_retry_at.isoformat()}"
        if options["prune_days"] is not None:
            line += f" pruned={outbox_prune(older_than_days=options['prune_days'])}"
        self.stdout.write(line)
