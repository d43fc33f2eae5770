"""Update frontend/locale/<lang>/LC_MESSAGES/django.po from the sources, in pure Python (Django's
``makemessages`` needs GNU gettext, which ``make run`` must not require).

Collected: the frontend's templates (through Django's own ``templatize``, as makemessages does),
``gettext``-family calls in the Python of the frontend and the backend apps (model choices,
labels), and the literal messages of ``ValidationError``/``PermissionDenied`` raised by the backend's
services, which the pages translate when they show them. New msgids get an empty translation to
fill in; msgids no longer used are marked obsolete (their translation is kept).

``--check`` changes nothing and exits 1 if a msgid used by the frontend (templates, frontend/*.py)
is missing or untranslated (run by the tests). Msgids used only by the backend are reported but do
not fail the check unless ``--strict``: other teams add them, and the catalogue lives here."""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation.template import templatize

GETTEXT_NAMES = {"_", "gettext", "gettext_lazy", "gettext_noop", "pgettext", "pgettext_lazy"}
NGETTEXT_NAMES = {"ngettext", "ngettext_lazy"}
ERROR_NAMES = {"ValidationError", "PermissionDenied"}
PYTHON_ROOTS = ["frontend", "backend/accounts", "backend/marketplace", "backend/cycles", "backend/chat"]
STRING = r"""u?(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
TEMPLATE_CALL = re.compile(rf"\b(n?gettext)\(({STRING})(?:, ({STRING}), count)?\)")


@dataclass
class Catalogue:
    singular: dict[str, set[str]] = field(default_factory=dict)
    plural: dict[str, str] = field(default_factory=dict)

    def add(self, msgid: str, where: str, msgid_plural: str | None = None) -> None:
        if not msgid.strip():
            return
        self.singular.setdefault(msgid, set()).add(where)
        if msgid_plural:
            self.plural[msgid] = msgid_plural


def collect_templates(repo: Path, catalogue: Catalogue) -> None:
    for path in sorted((repo / "frontend" / "templates").rglob("*")):
        if path.suffix not in {".html", ".txt"}:
            continue
        where = str(path.relative_to(repo))
        for match in TEMPLATE_CALL.finditer(templatize(path.read_text(encoding="utf-8"))):
            msgid = ast.literal_eval(match.group(2))
            plural = ast.literal_eval(match.group(3)) if match.group(3) else None
            catalogue.add(msgid, where, plural)


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _literals(node: ast.expr) -> list[str]:
    """String literals of an error's message argument: "…", ["…"], {"field": "…"}."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [s for item in node.elts for s in _literals(item)]
    if isinstance(node, ast.Dict):
        return [s for value in node.values for s in _literals(value)]
    return []


def collect_python(repo: Path, catalogue: Catalogue) -> None:
    for root in PYTHON_ROOTS:
        for path in sorted((repo / root).rglob("*.py")):
            if "migrations" in path.parts or "management" in path.parts:
                continue
            where = str(path.relative_to(repo))
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=where)
            backend = root.startswith("backend/")
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name = _name(node.func)
                args = node.args
                if name in GETTEXT_NAMES:
                    index = 1 if name.startswith("pgettext") else 0
                    if len(args) > index and isinstance(args[index], ast.Constant) and isinstance(args[index].value, str):
                        catalogue.add(args[index].value, where)
                elif name in NGETTEXT_NAMES and len(args) >= 2:
                    if all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args[:2]):
                        catalogue.add(args[0].value, where, args[1].value)
                elif name in ERROR_NAMES and backend and path.name == "services.py":
                    # Service messages are French literals for the API; the pages translate them.
                    for literal in _literals(args[0]):
                        if not literal.isascii() or " " in literal:  # skip English developer messages
                            if not re.match(r"^(Only|This) ", literal):
                                catalogue.add(literal, where)


def update_po(po_path: Path, catalogue: Catalogue, check: bool) -> tuple[list[str], list[str]]:
    """Returns (problems of frontend msgids, problems of backend-only msgids)."""
    po = polib.pofile(str(po_path)) if po_path.exists() else polib.POFile()
    if not po_path.exists():
        po.metadata = {
            "Project-Id-Version": "sociallab",
            "Language": po_path.parent.parent.name,
            "MIME-Version": "1.0",
            "Content-Type": "text/plain; charset=UTF-8",
            "Content-Transfer-Encoding": "8bit",
            "Plural-Forms": "nplurals=2; plural=(n != 1);",
        }
    problems: list[str] = []
    backend_only: list[str] = []
    existing = {entry.msgid: entry for entry in po}
    for msgid, places in sorted(catalogue.singular.items()):
        entry = existing.get(msgid)
        msgid_plural = catalogue.plural.get(msgid)
        report = problems if any(place.startswith("frontend/") for place in places) else backend_only
        if entry is None:
            report.append(f"missing: {msgid!r}")
            entry = polib.POEntry(msgid=msgid, msgstr="")
            if msgid_plural:
                entry.msgid_plural = msgid_plural
                entry.msgstr_plural = {0: "", 1: ""}
            po.append(entry)
        entry.obsolete = False
        entry.occurrences = [(place, "") for place in sorted(places)]
        translated = all(entry.msgstr_plural.values()) if entry.msgid_plural else bool(entry.msgstr)
        if (not translated or "fuzzy" in entry.flags) and entry.msgid in existing:
            report.append(f"untranslated: {msgid!r}")
    for entry in po:
        if entry.msgid and entry.msgid not in catalogue.singular and not entry.obsolete:
            entry.obsolete = True
    if not check:
        po_path.parent.mkdir(parents=True, exist_ok=True)
        po.save(str(po_path))
    return problems, backend_only


class Command(BaseCommand):
    help = "Update the frontend's .po catalogues from templates and Python sources (no GNU gettext)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--check", action="store_true", help="change nothing; fail on missing or untranslated msgids")
        parser.add_argument("--strict", action="store_true", help="with --check, backend-only msgids fail too")
        parser.add_argument("--locale", default="en")

    def handle(self, *args: object, **options: object) -> None:
        repo = Path(settings.REPO_DIR) if hasattr(settings, "REPO_DIR") else Path(settings.BASE_DIR).parent
        catalogue = Catalogue()
        collect_templates(repo, catalogue)
        collect_python(repo, catalogue)
        po_path = repo / "frontend" / "locale" / str(options["locale"]) / "LC_MESSAGES" / "django.po"
        problems, backend_only = update_po(po_path, catalogue, check=bool(options["check"]))
        if options["strict"]:
            problems, backend_only = problems + backend_only, []
        self.stdout.write(
            f"{len(catalogue.singular)} msgids, {len(problems) + len(backend_only)} to translate"
            + (f" ({len(backend_only)} used only by the backend)" if backend_only else "")
        )
        for problem in backend_only[:50]:
            self.stdout.write(f"backend: {problem}")
        if options["check"] and problems:
            for problem in problems[:50]:
                self.stderr.write(problem)
            raise CommandError(f"{len(problems)} message(s) missing or untranslated in {po_path}")
        if problems and not options["check"]:
            sys.stdout.write("\n".join(problems[:20]) + "\n")
