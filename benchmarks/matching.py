"""Benchmark of the matching engine on a seeded marketplace-like pool.

    python benchmarks/matching.py --requests 10000 --providers 5000 [--repeat 3] [--ortools]

Prints one JSON line per run: seconds per stage (prepare, candidates, solve, explain), peak
memory (RSS high-water mark of the process), objective and matched count, and the same figures
for a greedy-by-score baseline on the same candidate graph. With ``--ortools`` (OR-Tools must be
importable: see benchmarks/README.md), also OR-Tools' min-cost flow on the same candidate graph,
its objective (a cross-check of ours) and the ratio of our solve time to its.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from matching import CycleConfig  # noqa: E402
from matching.candidates import generate  # noqa: E402
from matching.cycle import canonical  # noqa: E402
from matching.explain import diagnostics, unmatched_reasons  # noqa: E402
from matching.scoring import SCORE_DECIMALS, prepare  # noqa: E402
from matching.solver import Edges, solve_edges  # noqa: E402
from matching.synthetic import marketplace  # noqa: E402


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def greedy(ri: np.ndarray, pj: np.ndarray, value: np.ndarray, score: np.ndarray,
           capacity: np.ndarray, n: int) -> tuple[float, float, int]:
    """Greedy by score: best pairs first, each taken if the request is free and the provider
    has a place. Returns (objective, total score, matched)."""
    order = np.lexsort((pj, ri, -score))
    left = capacity.astype(np.int64).copy()
    free = np.ones(n, dtype=bool)
    obj = tot = 0.0
    got = 0
    for e in order.tolist():
        i, j = int(ri[e]), int(pj[e])
        if free[i] and left[j] > 0:
            free[i] = False
            left[j] -= 1
            obj += float(value[e])
            tot += float(score[e])
            got += 1
    return obj, tot, got


def ortools_flow(ri: np.ndarray, pj: np.ndarray, qvalue: np.ndarray, capacity: np.ndarray,
                 n: int, m: int) -> dict[str, Any]:
    from ortools.graph.python import min_cost_flow

    f = min_cost_flow.SimpleMinCostFlow()
    src, sink = n + m, n + m + 1
    req = np.arange(n, dtype=np.int64)
    tails = np.concatenate([np.full(n, src), ri, n + np.arange(m), req])
    heads = np.concatenate([req, n + pj, np.full(m, sink), np.full(n, sink)])
    caps = np.concatenate([np.ones(n), np.ones(ri.shape[0]), capacity, np.ones(n)]).astype(np.int64)
    costs = np.concatenate([np.zeros(n), -qvalue, np.zeros(m), np.zeros(n)]).astype(np.int64)
    t0, c0 = time.perf_counter(), time.process_time()
    f.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    f.set_nodes_supplies(np.array([src, sink]), np.array([n, -n]))
    status = f.solve()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    return {"ortools_solve_s": round(dt, 3), "ortools_solve_cpu_s": round(dc, 3),
            "ortools_status": int(status),
            "ortools_objective": -f.optimal_cost() / 10**SCORE_DECIMALS}


def run(n: int, m: int, seed: int, config: CycleConfig, with_ortools: bool) -> dict[str, Any]:
    t: dict[str, float] = {}
    cpu: dict[str, float] = {}
    t0 = time.perf_counter()
    pool = marketplace(n, m, seed=seed)
    t["generate_data"] = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    req, prov = canonical(pool.requests, pool.providers)
    p = prepare(req, prov, config, pool.town_coords)
    t["prepare"], cpu["prepare"] = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    exact = n * m <= config.exact_threshold
    cand = generate(p, exact=exact)
    t["candidates"], cpu["candidates"] = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    bonus = np.round(config.unmatched_penalty(req), SCORE_DECIMALS)
    qvalue = np.round((cand.score + bonus[cand.ri]) * 10**SCORE_DECIMALS).astype(np.int64)
    edges = Edges(n=n, m=m, row=cand.ri, col=cand.pj, score=cand.score)
    provider = solve_edges(edges, prov.capacity.astype(np.int64), qvalue)
    t["solve"], cpu["solve"] = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    matched = np.flatnonzero(provider >= 0)
    pos = np.searchsorted(cand.ri * m + cand.pj, matched * m + provider[matched])
    reasons = unmatched_reasons(p, cand, np.flatnonzero(provider < 0))
    diag = diagnostics(p, cand, provider, reasons)
    t["explain"], cpu["explain"] = time.perf_counter() - t0, time.process_time() - c0
    total = float(cand.score[pos].sum())
    objective = total + float(bonus[matched].sum())
    pipeline = t["prepare"] + t["candidates"] + t["solve"] + t["explain"]
    g_obj, g_tot, g_got = greedy(cand.ri, cand.pj, cand.score + bonus[cand.ri], cand.score,
                                 prov.capacity, n)
    out: dict[str, Any] = {
        "requests": n, "providers": m, "seed": seed,
        "K": config.candidates_per_request, "K_prime": config.candidates_per_provider,
        "exact": exact, "candidate_pairs": int(cand.ri.shape[0]),
        **{f"{k}_s": round(v, 3) for k, v in t.items()},
        "pipeline_s": round(pipeline, 3),
        **{f"{k}_cpu_s": round(v, 3) for k, v in cpu.items()},
        "pipeline_cpu_s": round(sum(cpu.values()), 3),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "peak_mib": round(peak_mib(), 1),
        "objective": round(objective, 6), "total_score": round(total, 6),
        "matched": int(matched.shape[0]),
        "unmatched_by_reason": diag.unmatched_by_reason,
        "blocking_pairs": diag.blocking_count,
        "greedy_objective": round(g_obj, 6), "greedy_total_score": round(g_tot, 6),
        "greedy_matched": g_got,
        "greedy_gap_pct": round(100 * (1 - g_obj / objective), 3) if objective else 0.0,
    }
    if with_ortools:
        o = ortools_flow(cand.ri, cand.pj, qvalue, prov.capacity, n, m)
        o["solve_ratio_vs_ortools"] = round(t["solve"] / max(o["ortools_solve_s"], 1e-9), 2)
        o["solve_cpu_ratio_vs_ortools"] = round(
            cpu["solve"] / max(o["ortools_solve_cpu_s"], 1e-9), 2
        )
        out.update(o)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--providers", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--k", type=int, default=20, help="candidates per request")
    ap.add_argument("--k-prime", type=int, default=10, help="candidates per provider")
    ap.add_argument("--exact-threshold", type=int, default=CycleConfig().exact_threshold)
    ap.add_argument("--ortools", action="store_true", help="compare with OR-Tools min-cost flow")
    a = ap.parse_args()
    if a.ortools:
        try:
            import ortools  # noqa: F401
        except ImportError:
            sys.exit("--ortools: OR-Tools is not importable (see benchmarks/README.md)")
    cfg = CycleConfig(candidates_per_request=a.k, candidates_per_provider=a.k_prime,
                      exact_threshold=a.exact_threshold)
    for r in range(a.repeat):
        print(json.dumps(run(a.requests, a.providers, a.seed + r, cfg, a.ortools)), flush=True)


if __name__ == "__main__":
    main()
