"""``manage.py run_cycle <id>``: solve a cycle from a terminal, with a progress bar, exactly as
the worker does (same service, same single write transaction)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cycles.models import Cycle


class Command(BaseCommand):
    help = "Solve a matching cycle now, in this process (the worker does the same in the background)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("cycle_id", type=int)
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")

    def handle(self, *args: Any, cycle_id: int, no_progress: bool, **options: Any) -> None:
        from cycles.services import (
            RunSuperseded,
            cycle_run_execute,
            cycle_run_failed,
            cycle_run_start,
        )
        from marketplace.api.errors import Conflict

        cycle = Cycle.objects.filter(pk=cycle_id).first()
        if cycle is None:
            raise CommandError(f"cycle {cycle_id} does not exist")
        try:
            cycle = cycle_run_start(actor=None, cycle=cycle, enqueue=False)
        except Conflict as exc:
            raise CommandError(str(exc.detail)) from None
        bar = None if no_progress else tqdm(total=100, unit="%", desc="load", leave=True)

        def progress(stage: str, fraction: float) -> None:
            if bar is not None:
                bar.set_description(stage or "run")
                bar.n = round(100 * fraction)
                bar.refresh()

        try:
            report = cycle_run_execute(cycle_id=cycle.pk, token=cycle.run_token, on_progress=progress)
        except RunSuperseded:
            raise CommandError("another run took over this cycle; nothing written") from None
        except Exception as exc:
            cycle_run_failed(cycle_id=cycle.pk, token=cycle.run_token, error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if bar is not None:
                bar.close()
        timings = " ".join(f"{k}={v:.2f}s" for k, v in report.timings.items())
        self.stdout.write(
            f"cycle {report.cycle_id}: {report.requests} requests, {report.providers} providers, "
            f"{report.proposals} proposals, {report.unmatched} unmatched, objective {report.objective:.2f}, "
            f"input {report.input_hash[:12]} ({timings})"
        )
