"""Experiments around SciPy's LAPJVsp on the cycle's candidate graph (results in README.md).

    python benchmarks/solver_experiments.py --requests 10000 --providers 5000 \
        [--variants shipped,lapjvsp,square,square-optimal-duals,square-auction-duals] \
        [--auction-stop 10,60]

Builds the same pool and candidate graph as ``benchmarks/matching.py`` (seed 0, K = 20, K' = 10),
replicates each provider into slots (capacity), and solves the assignment several ways, printing
one JSON line per variant with its time and the optimal cost it reached (all must agree):

- ``shipped``: ``matching.solver.solve_edges`` as the engine runs it (since 2026-11-27: the
  rounds of multi-source Dijkstra on the provider network, ``matching._flow``);
- ``lapjvsp``: ``solve_edges(method="sparse")``, SciPy's LAPJVsp with the slots as rows (the
  engine's solver before 2026-11-27);
- ``square``: a square matrix (requests and one "empty" row per slot, against slots and one
  "unmatched" column per request), so that SciPy runs Jonker-Volgenant's initialisation;
- ``square-optimal-duals``: the square matrix on reduced costs from the optimal duals, computed
  by Bellman-Ford on the residual graph of a first solve (slow: for small pools only; it shows
  how fast LAPJVsp is when the duals are right);
- ``square-auction-duals``: reduced costs from the prices of a NumPy forward auction with
  epsilon-scaling stopped at max/``stop`` (unowned slots kept at price 0).
The square variants are not part of the engine: an investigation that did not pay off at
national size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import bellman_ford, min_weight_full_bipartite_matching

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from matching import CycleConfig  # noqa: E402
from matching.candidates import generate  # noqa: E402
from matching.cycle import canonical  # noqa: E402
from matching.scoring import SCORE_DECIMALS, prepare  # noqa: E402
from matching.solver import Edges, solve_edges  # noqa: E402
from matching.synthetic import marketplace  # noqa: E402

NEG = np.iinfo(np.int64).min // 4


def graph(n: int, m: int) -> dict[str, Any]:
    cfg = CycleConfig()
    pool = marketplace(n, m, seed=0)
    req, prov = canonical(pool.requests, pool.providers)
    p = prepare(req, prov, cfg, pool.town_coords)
    cand = generate(p, exact=n * m <= cfg.exact_threshold)
    bonus = np.round(cfg.unmatched_penalty(req), SCORE_DECIMALS)
    q = np.round((cand.score + bonus[cand.ri]) * 10**SCORE_DECIMALS).astype(np.int64)
    cap = prov.capacity.astype(np.int64)
    ri, pj = cand.ri, cand.pj
    nsl = np.minimum(cap, np.bincount(pj, minlength=m))
    ss = np.concatenate([[0], np.cumsum(nsl)])
    rep = nsl[pj]
    e_idx = np.repeat(np.arange(ri.shape[0]), rep)
    k = np.arange(e_idx.shape[0]) - np.repeat(np.cumsum(rep) - rep, rep)
    tie = 8 * n + 1
    return {"n": n, "m": m, "ri": ri, "pj": pj, "score": cand.score, "q": q, "cap": cap,
            "S": int(ss[-1]), "slot": ss[pj[e_idx]] + k, "rr": ri[e_idx],
            "w": q[e_idx] * tie - np.minimum(k, 7)}


def square(g: dict[str, Any]) -> tuple[Any, Any, Any, int]:
    n, S, rr, slot, w = g["n"], g["S"], g["rr"], g["slot"], g["w"]
    dc = int(w.max()) + 1
    R = np.concatenate([rr, np.arange(n), n + np.arange(S), n + slot])
    C = np.concatenate([n + slot, np.arange(n), n + np.arange(S), rr])
    c = np.concatenate([dc - w, np.full(n, dc), np.full(S, dc // 2), np.full(rr.shape[0], dc // 2)])
    return R, C, c.astype(np.int64), dc


def lapjvsp(R: Any, C: Any, cost: Any, N: int) -> Any:
    mat = sp.csr_matrix((cost.astype(np.float64) + 1.0, (R, C)), shape=(N, N))
    mat.sort_indices()
    return min_weight_full_bipartite_matching(mat)[1]


def auction_prices(g: dict[str, Any], stop: float, theta: int = 6) -> tuple[Any, Any, int]:
    """Forward auction (requests bid for slots; a private "unmatched" of value 0), Jacobi rounds,
    epsilon-scaling from max/theta down to max/stop; slots without owner are kept at price 0."""
    n, S, rr, slot, w = g["n"], g["S"], g["rr"], g["slot"], g["w"]
    ptr = np.concatenate([[0], np.cumsum(np.bincount(rr, minlength=n))])
    deg = np.diff(ptr)
    nz = deg > 0
    price = np.zeros(S, dtype=np.int64)
    owner = np.full(S, -1, dtype=np.int64)
    asg = np.full(n, -2, dtype=np.int64)  # -2 bidding, -1 unmatched, else slot
    aedge = np.full(n, -1, dtype=np.int64)
    vmax = int(w.max())
    eps = max(1, vmax // theta)
    rounds = 0
    while True:
        while True:  # keep assignments that stay epsilon-optimal once free slots are at 0
            price[owner < 0] = 0
            best = np.zeros(n, dtype=np.int64)
            best[nz] = np.maximum.reduceat(w - price[slot], ptr[:-1][nz])
            best = np.maximum(best, 0)
            cur = np.zeros(n, dtype=np.int64)
            has = asg >= 0
            cur[has] = w[aedge[has]] - price[asg[has]]
            drop = (asg != -2) & (cur < best - eps)
            if not drop.any():
                break
            owner[asg[drop & has]] = -1
            asg[drop], aedge[drop] = -2, -1
        active = np.flatnonzero(asg == -2)
        while active.size:
            rounds += 1
            asg[active[deg[active] == 0]] = -1
            act = active[deg[active] > 0]
            if act.size == 0:
                break
            d = deg[act]
            offs = np.cumsum(d) - d
            eidx = np.repeat(ptr[act] - offs, d) + np.arange(int(d.sum()))
            val = w[eidx] - price[slot[eidx]]
            w1 = np.maximum.reduceat(val, offs)
            pos = np.flatnonzero(val == np.repeat(w1, d))
            grp = np.repeat(np.arange(act.size), d)[pos]
            first = np.ones(pos.size, dtype=bool)
            first[1:] = grp[1:] != grp[:-1]
            amax = pos[first]
            val[amax] = NEG
            w2 = np.maximum(np.maximum.reduceat(val, offs), 0)
            bid_ok = w1 > 0
            asg[act[~bid_ok]] = -1
            bidders, be = act[bid_ok], eidx[amax[bid_ok]]
            bslot = slot[be]
            bid = price[bslot] + (w1 - w2)[bid_ok] + eps
            order = np.lexsort((bidders, -bid, bslot))
            head = np.ones(order.size, dtype=bool)
            head[1:] = bslot[order][1:] != bslot[order][:-1]
            win = order[head]
            ws = bslot[win]
            prev = owner[ws]
            out = prev[prev >= 0]
            asg[out], aedge[out] = -2, -1
            owner[ws], price[ws] = bidders[win], bid[win]
            asg[bidders[win]], aedge[bidders[win]] = ws, be[win]
            lose = np.ones(bidders.size, dtype=bool)
            lose[win] = False
            active = np.sort(np.concatenate([bidders[lose], out]))
        if eps <= max(1, int(vmax / stop)):
            break
        eps = max(1, eps // theta)
    best = np.zeros(n, dtype=np.int64)
    best[nz] = np.maximum.reduceat(w - price[slot], ptr[:-1][nz])
    return price, np.maximum(best, 0), rounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--providers", type=int, default=5_000)
    ap.add_argument("--variants",
                    default="shipped,lapjvsp,square,square-optimal-duals,square-auction-duals")
    ap.add_argument("--auction-stop", default="10,60")
    a = ap.parse_args()
    t0 = time.perf_counter()
    g = graph(a.requests, a.providers)
    n, S = g["n"], g["S"]
    N = n + S
    base = {"requests": n, "providers": g["m"], "slot_edges": int(g["w"].shape[0]),
            "graph_s": round(time.perf_counter() - t0, 2)}
    R, C, c, dc = square(g)
    x_opt = None
    for v in a.variants.split(","):
        runs: list[tuple[str, Any, Any, float]] = []
        if v in ("shipped", "lapjvsp"):
            t, c0 = time.perf_counter(), time.process_time()
            e = Edges(n=n, m=g["m"], row=g["ri"], col=g["pj"], score=g["score"])
            provider = solve_edges(e, g["cap"], g["q"], method="auto" if v == "shipped" else "sparse")
            dt, dc = time.perf_counter() - t, time.process_time() - c0
            mt = provider >= 0
            pos = np.searchsorted(g["ri"] * g["m"] + g["pj"], np.flatnonzero(mt) * g["m"] + provider[mt])
            print(json.dumps({**base, "variant": v, "solve_s": round(dt, 3),
                              "solve_cpu_s": round(dc, 3),
                              "objective_units": int(g["q"][pos].sum()),
                              "load_avg_1min": round(os.getloadavg()[0], 2)}), flush=True)
            continue
        if v == "square":
            t = time.perf_counter()
            x_opt = lapjvsp(R, C, c, N)
            runs.append((v, x_opt, None, time.perf_counter() - t))
        elif v == "square-optimal-duals":
            if x_opt is None:
                x_opt = lapjvsp(R, C, c, N)
            matched = x_opt[R] == C
            src = 2 * N
            tails = np.concatenate([R[~matched], N + C[matched], np.full(N, src)])
            heads = np.concatenate([N + C[~matched], R[matched], N + np.arange(N)])
            wts = np.concatenate([c[~matched], -c[matched], np.zeros(N, dtype=np.int64)])
            t = time.perf_counter()
            dist = bellman_ford(sp.csr_matrix((wts.astype(np.float64), (tails, heads)),
                                              shape=(2 * N + 1, 2 * N + 1)), indices=src)
            duals_s = time.perf_counter() - t
            red = np.round(c + dist[:N][R] - dist[N:2 * N][C]).astype(np.int64)
            t = time.perf_counter()
            runs.append((v, lapjvsp(R, C, red, N), {"duals_s": round(duals_s, 2)},
                         time.perf_counter() - t))
        elif v == "square-auction-duals":
            for stop in [float(s) for s in a.auction_stop.split(",")]:
                t = time.perf_counter()
                price, profit, rounds = auction_prices(g, stop)
                auction_s = time.perf_counter() - t
                # row potentials: dc - profit (requests), dc // 2 (empty rows); columns: 0
                # (unmatched), -price (slots); reduced costs are >= 0 by construction
                a_row = np.concatenate([dc - profit, np.full(S, dc // 2)])
                b_col = np.concatenate([np.zeros(n, dtype=np.int64), -price])
                red = c - a_row[R] - b_col[C]
                assert red.min() >= 0
                t = time.perf_counter()
                runs.append((f"{v}@max/{stop:g}", lapjvsp(R, C, red, N),
                             {"auction_s": round(auction_s, 2), "auction_rounds": rounds},
                             time.perf_counter() - t))
        for name, x, extra, dt in runs:
            print(json.dumps({**base, "variant": name, "lapjvsp_s": round(dt, 3), **(extra or {}),
                              "cost": int(c[x[R] == C].astype(object).sum()),
                              "load_avg_1min": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
