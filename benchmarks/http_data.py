"""The national data set of the HTTP benchmark, in its own PostgreSQL database.

``ensure_loaded`` creates the database if missing, migrates it, and loads ``seed_demo`` at the
asked sizes unless the database already carries a marker for exactly these sizes and seed (a
JSON comment on the database, written only after a successful load), so reruns take seconds.
It then makes sure one territory cycle is in review with proposals (the national cycle does not
finish in minutes on this machine, see "## Cycles" of benchmarks/README.md; a territory cycle
solves in seconds and gives the coordinator pages and endpoints real proposals to list).

Runs in a child process (``python benchmarks/http_data.py --db ... --entrepreneurs ...``) so the
benchmark's own process never imports Django against the wrong database.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def database_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def read_marker(name: str) -> dict | None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    try:
        return json.loads(row[0]) if row and row[0] else None
    except ValueError:
        return None


def write_marker(name: str, marker: dict | None) -> None:
    import psycopg

    text = "NULL" if marker is None else "'" + json.dumps(marker, sort_keys=True).replace("'", "''") + "'"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'COMMENT ON DATABASE "{name}" IS {text}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sociallab_bench_http")
    parser.add_argument("--entrepreneurs", type=int, default=100_000)
    parser.add_argument("--mentors", type=int, default=50_000)
    parser.add_argument("--companies", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument("--territory", default="rive-droite", help="territory of the cycle solved for proposals")
    args = parser.parse_args()

    ensure_database(args.db)
    os.environ["DATABASE_URL"] = database_url(args.db)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path[:0] = [str(REPO / "backend"), str(REPO)]
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    wanted = {"seed": args.seed, "entrepreneurs": args.entrepreneurs, "mentors": args.mentors,
              "companies": args.companies}
    marker = read_marker(args.db)
    if marker is None or {k: marker.get(k) for k in wanted} != wanted:
        write_marker(args.db, None)  # a half-done load must never look complete
        t = time.perf_counter()
        call_command("seed_demo", "--reset", entrepreneurs=args.entrepreneurs, mentors=args.mentors,
                     companies=args.companies, seed=args.seed)
        print(f"seed_demo: {time.perf_counter() - t:.1f} s", flush=True)
        with connection.cursor() as cursor:
            # VACUUM too: autovacuum is off on the project's machines, and without a visibility
            # map the index-only scans of the list counts read the heap (as in a fresh restore).
            cursor.execute("VACUUM ANALYZE")
        write_marker(args.db, {**wanted, "loaded_at": timezone.now().isoformat()})
    else:
        print(f"database {args.db} already holds seed {args.seed} at these sizes: reused", flush=True)

    from cycles.models import Cycle, Proposal
    from cycles.services import cycle_run_execute, cycle_run_start
    from marketplace.models import Territory

    territory = Territory.objects.get(code=args.territory)
    if not Proposal.objects.filter(cycle__territory=territory, cycle__status="review").exists():
        today = timezone.localdate()
        cycle = Cycle.objects.create(territory=territory, name=f"Benchmark HTTP {args.territory}",
                                     opens_on=today, closes_on=today, status="open")
        cycle = cycle_run_start(actor=None, cycle=cycle, enqueue=False)
        t = time.perf_counter()
        report = cycle_run_execute(cycle_id=cycle.pk, token=cycle.run_token)
        print(f"cycle {cycle.pk} ({args.territory}): {report.requests} requests x {report.providers} providers -> "
              f"{report.proposals} proposals, {report.unmatched} unmatched in {time.perf_counter() - t:.1f} s",
              flush=True)
        with connection.cursor() as cursor:
            # Fresh statistics for the proposals just written: with the seed's, the planner expects
            # 3 rows where there are 36,000 and picks nested loops (2.6 s instead of milliseconds);
            # VACUUM sets the visibility map the proposals count's index-only scan needs.
            cursor.execute("VACUUM ANALYZE")
    cycle = Cycle.objects.filter(territory=territory, status="review").order_by("-pk").first()
    print(json.dumps({"cycle_id": cycle.pk, "territory": args.territory}), flush=True)


if __name__ == "__main__":
    main()
