"""Benchmark: database to proposals written, for one matching cycle, on PostgreSQL.

    .venv/bin/python benchmarks/cycles.py town       # 500 requests x ~300 providers (one territory)
    .venv/bin/python benchmarks/cycles.py national   # 100,000 requests x ~50,000 providers (all)
    .venv/bin/python benchmarks/cycles.py national --skip-seed --stages load,write   # no engine

Uses its own database (``--db``, default ``sociallab_bench_cycles``, created if missing, on
127.0.0.1:5432), migrates it, loads ``seed_demo`` at the size asked (``--skip-seed`` reuses what
is there; ``--analyze`` runs ``VACUUM ANALYZE`` first, as autovacuum would in production: it is
off on the project's machines), then runs the cycle exactly as the worker does
(``cycle_run_start`` + ``cycle_run_execute``: load, engine, one write transaction) ``--repeat``
times and prints each stage and the process's peak resident memory.

``--stages load,write`` measures the database side alone: the same run through the same code,
except that the engine (``cycles.adapter.solve``) is replaced by a synthetic result built from
the loaded problem in well under a second: ``--matched`` requests (default: as many as the real
engine proposed on that pool, 83,219 nationally) get a random provider among the places free,
with a random breakdown (five criteria, 0-20 points each), and the others are unmatched with a
random reason. The rows written are as many and as wide as the real run's; only their pairing
means nothing. Everything else (load, write transaction, commit, ANALYZE) is the real code.
See benchmarks/README.md ("## Cycles") for results.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent
# Proposals of the real engine on each pool (benchmarks/README.md), for --stages load,write.
REAL_MATCHED = {"town": 500, "national": 83_219}
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
    parser.add_argument("--stages", default="all", choices=["all", "load,write"],
                        help="'load,write': a synthetic result instead of the engine (see above)")
    parser.add_argument("--matched", type=int, default=None,
                        help="proposals of the synthetic result (default: the real engine's count)")
    parser.add_argument("--analyze", action="store_true", help="VACUUM ANALYZE the database first")
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
    if args.analyze:
        from django.db import connection

        t = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(f"VACUUM ANALYZE: {time.perf_counter() - t:.1f} s")
    if args.stages == "load,write":
        from cycles import adapter

        adapter.solve = synthetic_solver(args.matched or REAL_MATCHED[args.size])  # type: ignore[assignment]
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

        cpu = time.process_time()
        report = cycle_run_execute(cycle_id=cycle.pk, token=cycle.run_token, on_progress=stage)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        timing = report.timings
        score = timing.get("engine_prepare", 0) + timing.get("engine_candidates", 0)
        solve = timing.get("engine_solve", 0) + timing.get("engine_explain", 0)
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"run {run}: {report.requests} requests x {report.providers} providers -> {report.proposals} proposals, "
            f"{report.unmatched} unmatched | load {timing['load']:.2f} s, score {score:.2f} s "
            f"(prepare {timing.get('engine_prepare', 0):.2f} + candidates {timing.get('engine_candidates', 0):.2f}), "
            f"solve {solve:.2f} s (assignment {timing.get('engine_solve', 0):.2f} + explain "
            f"{timing.get('engine_explain', 0):.2f}), write {timing['write']:.2f} s "
            f"(rows {timing.get('write_rows', 0):.2f} + commit {timing.get('commit', 0):.2f} + analyze "
            f"{timing.get('analyze', 0):.2f}) | total {wall:.2f} s, process CPU {cpu:.2f} s | "
            f"peak RSS {peak_mib:.0f} MiB | load average {os.getloadavg()[0]:.1f} | input {report.input_hash[:12]}"
        )
        Cycle.objects.filter(pk=cycle.pk).delete()


def synthetic_solver(matched: int):
    """A stand-in for ``cycles.adapter.solve`` (see the module's docstring): the engine's result
    type, sized like the real run's, built from the loaded problem with a fixed seed."""

    def solve(problem, *, progress=None):
        import numpy as np

        from matching.model import CRITERIA, UnmatchedReason

        t = time.perf_counter()
        rng = np.random.default_rng(20261127)
        requests, providers = problem.requests, problem.providers
        places = np.repeat(providers.ids, np.maximum(providers.capacity, 0))
        k = min(matched, requests.n, places.shape[0])
        chosen = np.sort(rng.choice(requests.n, size=k, replace=False))
        breakdown = rng.uniform(0.0, 20.0, size=(k, len(CRITERIA)))
        scores = breakdown.sum(axis=1)
        unmatched = np.setdiff1d(requests.ids, requests.ids[chosen])
        reasons = list(UnmatchedReason)
        return SimpleNamespace(
            request_ids=requests.ids[chosen], provider_ids=places[rng.permutation(places.shape[0])[:k]],
            scores=scores, breakdown=breakdown, criteria=tuple(CRITERIA),
            unmatched_request_ids=unmatched,
            unmatched_reasons=tuple(reasons[i] for i in rng.integers(0, len(reasons), unmatched.shape[0])),
            objective=float(scores.sum()), input_hash="synthetic", timings={"synthetic": time.perf_counter() - t},
        )

    return solve


if __name__ == "__main__":
    main()
