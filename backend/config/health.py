"""Health endpoints for load balancers and orchestrators, and the probe that Docker runs.

* ``/healthz``: the process is up and serving. No I/O, so a slow database never makes an
  orchestrator kill healthy web processes.
* ``/readyz``: this process can do useful work: the database answers, every migration of this
  code is applied, and Redis answers when ``REDIS_URL`` is set. 503 with the name of each failed
  check, so a load balancer stops sending traffic and an operator sees why.

Both answer without a session, a login or a host check of their own; they are exempt from the
HTTPS redirect (``SECURE_REDIRECT_EXEMPT``) because the probes come from inside the network.

``python -m config.health --url URL`` or ``--database`` is the Docker health check: no Django
start-up, so it is cheap enough to run every few seconds.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

# Once this process has seen every migration applied it stays so: its code (and so its migration
# graph) cannot change while it runs. Caching the positive answer keeps /readyz to two round trips.
_migrations_applied = False
_redis_clients: dict[str, Any] = {}
_redis_lock = threading.Lock()

CHECK_TIMEOUT_SECONDS = 2.0


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    checks["database"] = _check_database()
    checks["migrations"] = _check_migrations() if checks["database"] == "ok" else "skipped"
    if getattr(settings, "REDIS_URL", None):
        checks["redis"] = _check_redis(settings.REDIS_URL)
    failed = sorted(name for name, result in checks.items() if result not in {"ok", "skipped"})
    if failed:
        return JsonResponse({"status": "unavailable", "failed": failed, "checks": checks}, status=503)
    return JsonResponse({"status": "ok", "checks": checks})


def _check_database() -> str:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready", never a 500
        logger.warning("readiness: database unreachable (%s)", type(exc).__name__)
        # A persistent connection that failed is broken for good: drop it so that the next
        # probe reconnects instead of reporting the old failure forever.
        try:
            connection.close()
        except Exception:
            pass  # already gone
        return "unreachable"
    return "ok"


def _check_migrations() -> str:
    global _migrations_applied
    if _migrations_applied:
        return "ok"
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        logger.warning("readiness: migration state unreadable (%s)", type(exc).__name__)
        return "unreadable"
    if pending:
        logger.warning("readiness: %d migration(s) not applied", len(pending))
        return "pending"
    _migrations_applied = True
    return "ok"


def _check_redis(url: str) -> str:
    import redis

    with _redis_lock:
        client = _redis_clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
                socket_timeout=CHECK_TIMEOUT_SECONDS,
            )
            _redis_clients[url] = client
    try:
        client.ping()
    except Exception as exc:
        logger.warning("readiness: redis unreachable (%s)", type(exc).__name__)
        return "unreachable"
    return "ok"


# --- Docker health check probe (runs without Django's set-up) ------------------------------------


def _probe_url(url: str) -> int:
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = next((h.lstrip(".") for h in hosts if h != "*"), "localhost")
    # Host must be an allowed one or Django answers 400 before reaching the view.
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=CHECK_TIMEOUT_SECONDS + 3) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"probe {url}: {exc}", file=sys.stderr)
        return 1


def _probe_database() -> int:
    import psycopg

    from config.env import env_str

    url = env_str("DATABASE_URL", None)
    if not url:
        print("probe database: DATABASE_URL is not set", file=sys.stderr)
        return 1
    try:
        with psycopg.connect(url, connect_timeout=int(CHECK_TIMEOUT_SECONDS) + 1) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        print(f"probe database: {type(exc).__name__}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Docker health check probe")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--url", help="GET this URL; healthy on 200")
    group.add_argument("--database", action="store_true", help="connect to DATABASE_URL")
    args = parser.parse_args(argv)
    return _probe_url(args.url) if args.url else _probe_database()


if __name__ == "__main__":
    sys.exit(main())
