"""Benchmark: database to proposals written, for one matching cycle, on PostgreSQL.

    .venv/bin/python benchmarks/cycles.py town       # 500 requests x ~300 providers (one territory)
    .venv/bin/python benchmarks/cycles.py national   # 100,000 requests x ~50,000 providers (all)

Uses its own database (``--db``, default ``sociallab_bench_cycles``, created if missing, on
127.0.0.1:5432), migrates it, loads ``seed_demo`` at the size asked (``--skip-seed`` reuses what
is there), then runs the cycle exactly as the worker does (``cycle_run_start`` +
``cycle_run_execute``: load, engine, one write transaction) ``--repeat`` times and prints each
stage and the process's peak resident memory. See benchmarks/README.md ("## Cycles") for results.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIZES = {
    # entrepreneurs (one open request each), mentors, companies (1-2 offers each)
    "town": (500, 270, 20),
    "national": (100_000, 47_900, 1_400),
}


def ensure_database(name: str) -> str:
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("size", choices=sorted(SIZES))
    parser.add_argument("--db", default="sociallab_bench_cycles")
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=None,
                        help="candidates_per_request of the cycle (default: the model's, 20)")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = ensure_database(args.db)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path[:0] = [str(REPO / "backend"), str(REPO)]
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from cycles.models import Cycle
    from cycles.services import cycle_run_execute, cycle_run_start
    from marketplace.models import Territory

    call_command("migrate", verbosity=0)
    entrepreneurs, mentors, companies = SIZES[args.size]
    if not args.skip_seed:
        t = time.perf_counter()
        call_command("seed_demo", "--reset", entrepreneurs=entrepreneurs, mentors=mentors, companies=companies)
        print(f"seed_demo: {time.perf_counter() - t:.1f} s")
    territory = Territory.objects.get(code="rive-droite") if args.size == "town" else None
    today = timezone.localdate()
    for run in range(1, args.repeat + 1):
        extra = {} if args.candidates is None else {"candidates_per_request": args.candidates}
        cycle = Cycle.objects.create(territory=territory, name=f"bench {args.size} {run}", opens_on=today,
                                     closes_on=today, status="open", **extra)
        cycle = cycle_run_start(actor=None, cycle=cycle, enqueue=False)
        t = time.perf_counter()
        seen: list[str] = []

        def stage(name: str, fraction: float, seen: list[str] = seen, t: float = t) -> None:
            # Stage changes as they happen, so a run stopped by a timeout still tells where time went.
            if not seen or seen[-1] != name:
                seen.append(name)
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"  +{time.perf_counter() - t:7.2f} s  {name} (peak RSS so far {rss:.0f} MiB)", flush=True)

        report = cycle_run_execute(cycle_id=cycle.pk, token=cycle.run_token, on_progress=stage)
        wall = time.perf_counter() - t
        timing = report.timings
        score = timing.get("engine_prepare", 0) + timing.get("engine_candidates", 0)
        solve = timing.get("engine_solve", 0) + timing.get("engine_explain", 0)
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"run {run}: {report.requests} requests x {report.providers} providers -> {report.proposals} proposals, "
            f"{report.unmatched} unmatched | load {timing['load']:.2f} s, score {score:.2f} s "
            f"(prepare {timing.get('engine_prepare', 0):.2f} + candidates {timing.get('engine_candidates', 0):.2f}), "
            f"solve {solve:.2f} s (assignment {timing.get('engine_solve', 0):.2f} + explain "
            f"{timing.get('engine_explain', 0):.2f}), write {timing['write']:.2f} s | total {wall:.2f} s | "
            f"peak RSS {peak_mib:.0f} MiB | input {report.input_hash[:12]}"
        )
        Cycle.objects.filter(pk=cycle.pk).delete()


if __name__ == "__main__":
    main()
