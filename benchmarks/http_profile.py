"""Per-request cost of the HTTP path, in-process: the benchmark's targets served by Django's WSGI
handler (what gunicorn's sync worker calls) with the benchmark server's settings (production
mode, PostgreSQL with the web workers' ``PGOPTIONS``, Redis), one request at a time.

    .venv/bin/python benchmarks/http_profile.py                        # CPU ms, wall ms, queries per target
    .venv/bin/python benchmarks/http_profile.py --match matches --profile 30   # cProfile of one target

It needs the national database of ``benchmarks/http_load.py`` (run that once first: it loads
it). For each target: 20 warm-up requests, then ``--requests`` timed ones; prints CPU ms and
wall ms per request (CPU is this process only: robust to the machine's load; wall includes the
database and Redis), SQL queries and Redis commands per request. ``--profile N`` runs cProfile
over the timed requests and prints the N heaviest functions by cumulative and by own time.
Read-only (GET requests); signs in by reading the demo users' tokens and making sessions.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import secrets
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "backend"), str(REPO)]

from benchmarks.http_data import database_url  # noqa: E402
from benchmarks.http_run import LOGINS, Target, target_list  # noqa: E402
from config.processes import WEB_PGOPTIONS  # noqa: E402


def setup(args: argparse.Namespace) -> None:
    os.environ.update({
        "SOCIALLAB_MODE": "production",
        "DJANGO_SETTINGS_MODULE": "benchmarks.http_settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url(args.db),
        "REDIS_URL": args.redis_url,
        "CHANNEL_LAYER_PREFIX": "bench-http",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "THROTTLE_USER": "1000000/s",
        "LOG_LEVEL": args.log_level,
        "PGOPTIONS": WEB_PGOPTIONS,
    })
    import django

    django.setup()


def credentials() -> tuple[dict[str, str], dict[str, str]]:
    """Token and session cookie of every demo role, made directly (no sign-in requests)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from rest_framework.authtoken.models import Token

    from accounts.models import User

    tokens, cookies = {}, {}
    for role, email in LOGINS.items():
        user = User.objects.get(email=email)
        tokens[role] = Token.objects.get_or_create(user=user)[0].key
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        cookies[role] = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
    return tokens, cookies


def plan(tokens: dict[str, str]) -> list[Target]:
    """The benchmark's targets (benchmarks/http_run.py), ids read from the database."""
    from cycles.models import Cycle, Proposal
    from marketplace.models import MentorProfile, Offer, Request

    cycle = Cycle.objects.filter(status="review").order_by("-pk").first()
    assert cycle is not None, "no cycle in review: run benchmarks/http_load.py once first"
    cid = cycle.pk
    from marketplace.models import CoordinatorScope

    scope = CoordinatorScope.objects.filter(user__email=LOGINS["coordinator"]).values_list("territory_id", flat=True)
    request_id = Request.objects.filter(territory_id__in=list(scope)).order_by(
        "-created_at", "-id").values_list("pk", flat=True).first()
    proposal_id = Proposal.objects.filter(cycle=cycle).order_by("pk").values_list("pk", flat=True).first()
    mentor_id = MentorProfile.objects.order_by("-pk").values_list("pk", flat=True).first()
    offer_id = Offer.objects.filter(company__user__email=LOGINS["company"]).order_by(
        "-created_at", "-id").values_list("pk", flat=True).first()
    return target_list(cid, request_id=request_id, proposal_id=proposal_id, mentor_id=mentor_id,
                       offer_id=offer_id)


class Counters:
    """SQL queries (a connection execute wrapper) and Redis commands (redis-py's connection)."""

    def __init__(self) -> None:
        self.queries = 0
        self.redis = 0

    def install(self) -> None:
        from django.db import connection
        from redis.connection import Connection

        counters = self

        def wrapper(execute, sql, params, many, context):  # noqa: ANN001, ANN202
            counters.queries += 1
            return execute(sql, params, many, context)

        connection.execute_wrappers.append(wrapper)
        original = Connection.send_packed_command

        def send_packed_command(self, command, check_health=True):  # noqa: ANN001, ANN202
            counters.redis += 1
            return original(self, command, check_health)

        Connection.send_packed_command = send_packed_command  # type: ignore[method-assign]


def environ_for(target: Target, tokens: dict[str, str], cookies: dict[str, str]) -> dict:
    path, _, query = target.path.partition("?")
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "SCRIPT_NAME": "",
        "SERVER_NAME": "localhost", "SERVER_PORT": "443", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost", "HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_FOR": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": False,
        "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    if target.role != "anonymous":
        if target.kind == "page":
            environ["HTTP_COOKIE"] = cookies[target.role]
        else:
            environ["HTTP_AUTHORIZATION"] = f"Token {tokens[target.role]}"
    return environ


def serve(handler, environ: dict) -> tuple[str, int]:  # noqa: ANN001
    status: list[str] = []
    body = handler({**environ, "wsgi.input": io.BytesIO(b"")}, lambda s, h, exc_info=None: status.append(s))
    size = sum(len(chunk) for chunk in body)
    if hasattr(body, "close"):
        body.close()  # request_finished: closes or keeps the database connection, as gunicorn does
    return status[0], size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sociallab_bench_http")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per target")
    parser.add_argument("--match", default="", help="only the targets whose 'kind role path' contains this")
    parser.add_argument("--profile", type=int, default=0, help="cProfile: print the N heaviest functions")
    parser.add_argument("--log-level", default="WARNING", help="LOG_LEVEL (the benchmark's server: WARNING)")
    parser.add_argument("--sql", action="store_true", help="print the SQL statements of one request per target")
    args = parser.parse_args()
    setup(args)
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    tokens, cookies = credentials()
    counters = Counters()
    counters.install()
    targets = [t for t in plan(tokens) if args.match in t.label]
    print("| kind | role | path | status | CPU ms | wall ms | queries | redis cmds | body bytes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for target in targets:
        environ = environ_for(target, tokens, cookies)
        for _ in range(20):
            status, size = serve(handler, environ)
        counters.queries = counters.redis = 0
        profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU time
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        for _ in range(args.requests):
            status, size = serve(handler, environ)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        n = args.requests
        print(f"| {target.kind} | {target.role} | `{target.path}` | {status.split()[0]} | {cpu / n * 1000:.2f} | "
              f"{wall / n * 1000:.2f} | {counters.queries / n:g} | {counters.redis / n:g} | {size} |", flush=True)
        if args.sql:
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as captured:
                serve(handler, environ)
            for query in captured.captured_queries:
                print(f"  {query['time']} s  {query['sql'][:300]}")
        if profiler:
            for order in ("cumulative", "tottime"):
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.profile)
                print(out.getvalue())


if __name__ == "__main__":
    main()
