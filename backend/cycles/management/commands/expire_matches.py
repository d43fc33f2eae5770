"""``manage.py expire_matches``: expire pending matches past their answer deadline (run it daily,
e.g. from cron; every cycle run also does it first)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Expire pending matches whose answer deadline has passed, freeing their places."

    def handle(self, *args: Any, **options: Any) -> None:
        from cycles.services import matches_expire_overdue

        self.stdout.write(f"{matches_expire_overdue()} match(es) expired")
