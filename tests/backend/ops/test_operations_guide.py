"""docs/operations.md stays true: every variable the code reads is documented, and the commands
it shows are the ones the deployment runs."""

from __future__ import annotations

import re
from pathlib import Path

from config import processes

REPO = Path(__file__).resolve().parents[3]
GUIDE = (REPO / "docs" / "operations.md").read_text()
READ = re.compile(r"""env_(?:str|int|bool|list)\(\s*["']([A-Z][A-Z0-9_]*)["']""")


def variables_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for root in ("backend", "frontend", "matching"):
        for path in (REPO / root).rglob("*.py"):
            names |= set(READ.findall(path.read_text(encoding="utf-8")))
    return names


def test_the_scan_finds_the_variables_it_must_find():
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "LOG_FORMAT"} <= variables_read_by_the_code()


def test_every_environment_variable_the_code_reads_is_in_the_operations_guide():
    missing = sorted(name for name in variables_read_by_the_code() if f"`{name}" not in GUIDE)
    assert not missing, f"document these in docs/operations.md (Configure): {missing}"


def test_the_guide_names_the_process_commands_and_the_compose_only_variables():
    for name in ("WEB_HTTP_COMMAND", "WEB_WS_COMMAND", "WORKER_COMMAND", "SCHEDULER_COMMAND", "MIGRATE_COMMAND"):
        assert name in GUIDE and hasattr(processes, name)
    for name in ("SITE_ADDRESS", "WEB_CONCURRENCY", "WEB_WS_REPLICAS"):
        assert f"`{name}`" in GUIDE
    for job in processes.PERIODIC_COMMANDS:
        assert job[2] in GUIDE

