"""Compile gettext catalogues (.po → .mo) in pure Python (polib), so that neither `make run` nor
CI needs the system's gettext tools. Only stale catalogues are rewritten."""

from __future__ import annotations

from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Compile .po translation catalogues to .mo without GNU gettext."

    def handle(self, *args: object, **options: object) -> None:
        roots = [Path(p) for p in settings.LOCALE_PATHS]
        compiled = 0
        for root in roots:
            for po_path in sorted(root.rglob("*.po")):
                mo_path = po_path.with_suffix(".mo")
                if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                    continue
                polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
                compiled += 1
        if compiled:
            self.stdout.write(f"compiled {compiled} catalogue(s)")
