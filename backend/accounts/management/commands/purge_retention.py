"""Retention: delete abandoned unverified sign-ups and old audit entries (accounts/gdpr.py).

Idempotent; run it daily or hourly (the scheduler's housekeeping loop). Ages come from
RETENTION_UNVERIFIED_ACCOUNT_DAYS and RETENTION_AUDIT_DAYS (docs/operations.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.gdpr import retention_purge


class Command(BaseCommand):
    help = "Delete unverified accounts and audit entries older than their retention ages."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        report = retention_purge(dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"purge_retention: {verb} {report.accounts_deleted} unverified account(s) older than "
            f"{settings.RETENTION_UNVERIFIED_ACCOUNT_DAYS} days and {report.audit_entries_deleted} audit "
            f"entr(y/ies) older than {settings.RETENTION_AUDIT_DAYS} days"
        )
