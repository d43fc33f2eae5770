from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from followup.services import outbox_deliver_due, reminders_enqueue_due


class Command(BaseCommand):
    help = (
        "Write the due reminders (unanswered proposals after 3, 7 and 14 days; stalled pairs) into "
        "the outbox. Idempotent: run it as often as you like (daily or hourly), each reminder is "
        "written once. Delivery is queued for the worker; --send also delivers now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--send", action="store_true", help="deliver the due outbox right after")

    def handle(self, *args: Any, **options: Any) -> None:
        report = reminders_enqueue_due()
        self.stdout.write(f"proposal_reminders={report.proposal_reminders} stalled_reminders={report.stalled_reminders}")
        if options["send"]:
            sent = outbox_deliver_due()
            self.stdout.write(f"sent={sent.sent} failed={sent.failed} dead={sent.dead}")
