"""The production process commands, in one place.

docker-compose.yml runs exactly these (a test compares them), the scale-out test starts its
Daphne processes with ``web_ws_command``, and docs/operations.md describes them. Change a command
here and the compose file must follow, or the test fails.

Every command runs with the ``backend/`` directory as its working directory (the image's
WORKDIR is /app/backend), so ``config.asgi`` and ``config.wsgi`` import without a PYTHONPATH.

The production HTTP path (issue 10): under ASGI every sync Django view runs on one thread per
process, so one Daphne process serves about 450 requests/s of a trivial DRF view on this kind of
machine, while gunicorn with 2 sync workers serves about 3,000. HTTP therefore goes to gunicorn
(WSGI, ``WEB_CONCURRENCY`` workers, one per core plus one) and only ``/ws/`` goes to Daphne; the
reverse proxy (deploy/Caddyfile) routes between the two and terminates TLS.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Ports inside the containers (and the defaults for local runs).
HTTP_PORT = 8000
WS_PORT = 8001


#: PostgreSQL settings of the HTTP workers' sessions (see ``web_http_command``).
WEB_PGOPTIONS = "-c join_collapse_limit=3 -c jit=off"


def web_http_command(*, bind: str = "0.0.0.0", port: int = HTTP_PORT) -> list[str]:
    """gunicorn serving every HTTP request (pages, API, static files through whitenoise).

    The worker count comes from ``WEB_CONCURRENCY`` (gunicorn reads it itself; default 1), so an
    operator sizes it per machine without touching the command. Sync workers are safe here
    because the reverse proxy buffers request bodies of slow clients. No access log: the
    request-id middleware writes one JSON line per request, without query strings or bodies.

    ``PGOPTIONS`` (read by libpq when the workers connect) tunes PostgreSQL's planner for these
    short queries, in the web processes only: on the national data set, planning a list with
    its ``select_related`` joins took 6-14 ms against 0.1-1 ms to run it; with
    ``join_collapse_limit=3`` planning takes 0.5-1.7 ms and the plans run as fast. JIT is off:
    compiling a big aggregate (the coordinator's report) cost more than running it.
    """
    return [
        "gunicorn",
        "--bind", f"{bind}:{port}",
        "--worker-class", "sync",
        "--timeout", "30",
        "--graceful-timeout", "25",
        "--error-logfile", "-",
        "--env", f"PGOPTIONS={WEB_PGOPTIONS}",
        "config.wsgi:application",
    ]


def web_ws_command(*, bind: str = "0.0.0.0", port: int = WS_PORT) -> list[str]:
    """Daphne serving WebSockets (``/ws/``); it can serve HTTP too, but slowly (see above).

    ``--proxy-headers`` takes the client address from the proxy's X-Forwarded-For. Daphne's own
    access log is off: its plain-text lines carry paths and client addresses; the application
    logs what it needs as JSON lines (config/logging.py).
    """
    return [
        "daphne",
        "--bind", bind,
        "--port", str(port),
        "--proxy-headers",
        "--access-log", os.devnull,
        "config.asgi:application",
    ]


#: The background worker that solves matching cycles (django-tasks-db).
WORKER_COMMAND = ["python", "manage.py", "db_worker", "--queue-name", "*"]

#: One-shot step run before the web and worker processes start.
MIGRATE_COMMAND = ["python", "manage.py", "migrate", "--noinput"]

#: Idempotent housekeeping, run every ``SCHEDULER_INTERVAL_SECONDS`` by the scheduler process:
#: expire matches past their answer deadline, write due reminders to the outbox, send what the
#: outbox still holds (the worker sends it too; claims are atomic, so running both is safe) and
#: prune delivered e-mails after 90 days.
PERIODIC_COMMANDS = [
    ["python", "manage.py", "expire_matches"],
    ["python", "manage.py", "followup_reminders"],
    ["python", "manage.py", "send_outbox", "--prune-days", "90"],
    # GDPR retention: abandoned sign-ups and old audit entries (accounts/gdpr.py, docs/security.md).
    ["python", "manage.py", "purge_retention"],
]
SCHEDULER_INTERVAL_SECONDS = 3600


def scheduler_command(*, interval: int = SCHEDULER_INTERVAL_SECONDS) -> list[str]:
    """A shell loop: one failing job is logged and retried at the next round, never fatal.
    ``sleep & wait`` lets the TERM trap stop it at once on ``docker compose stop``."""
    jobs = "; ".join(" ".join(command) for command in PERIODIC_COMMANDS)
    return ["sh", "-c", f"trap 'exit 0' TERM INT; while :; do {jobs}; sleep {interval} & wait $!; done"]


SCHEDULER_COMMAND = scheduler_command()

WEB_HTTP_COMMAND = web_http_command()
WEB_WS_COMMAND = web_ws_command()

#: Docker health checks: ``python -m config.health`` probes a URL or the database.
HEALTHCHECK_WEB_HTTP = ["python", "-m", "config.health", "--url", f"http://127.0.0.1:{HTTP_PORT}/readyz"]
HEALTHCHECK_WEB_WS = ["python", "-m", "config.health", "--url", f"http://127.0.0.1:{WS_PORT}/readyz"]
HEALTHCHECK_WORKER = ["python", "-m", "config.health", "--database"]
HEALTHCHECK_SCHEDULER = HEALTHCHECK_WORKER

BACKEND_DIR = Path(__file__).resolve().parent.parent


def local(command: list[str]) -> list[str]:
    """The same command for a process started from this checkout (tests, benchmarks).

    Resolves ``gunicorn``/``daphne``/``python`` to the ones of the running interpreter's
    environment (the virtualenv), whether or not it is on PATH. Run it with
    ``cwd=BACKEND_DIR``.
    """
    head, *rest = command
    if head == "python":
        return [sys.executable, *rest]
    candidate = Path(sys.executable).parent / head
    return [str(candidate) if os.access(candidate, os.X_OK) else head, *rest]
