"""Exact capacitated assignment by rounds of multi-source Dijkstra (successive shortest paths).

The problem, as a min-cost flow with unit arcs. Provider j has ``n_slot[j]`` slots; slot k of j
supplies one unit and costs ``tie[k]`` if it serves a request, through arcs

    slot (j, k) -> provider j        cost tie[k]      ("a1")
    provider j  -> request i         cost base_ij     ("a2", one per allowed pair)
    slot (j, k) -> its own "empty"   cost dummy       ("a3", the slot stays empty)

and every request and every empty takes at most one unit. Every slot must send its unit; the
total cost is minimised. (A provider's slots are interchangeable but for their tie cost, so the
graph has one arc per allowed pair, not one per pair and slot.)

Why not SciPy's ``min_weight_full_bipartite_matching``: on a rectangular graph it runs one
shortest-path search per row, and each search touches every column, so its cost grows with
rows x columns. Here each round is one call to SciPy's compiled ``dijkstra`` over the whole
residual graph and serves many slots at once:

1. Node potentials keep the reduced cost ``red = cost + p[tail] - p[head]`` of every arc >= 0
   when it carries no flow and <= 0 when it does; requests and empties without flow (the "free
   columns") are at potential 0 and all others at <= 0. These are the optimality conditions of
   the LP (integral for this network); once every slot sends its unit, the flow is optimal.
2. Start: no flow, ``p = 0`` on requests and empties, ``p[j] = -min base_ij``,
   ``p[slot] = max(p[j] - tie[k], -dummy)``.
3. Round: ``h`` = distance from every node to the nearest free column in the residual graph.
   One multi-source Dijkstra on the reversed residual graph computes it for providers and
   requests; slots and empties are not graph nodes: a provider reaches the free empties through
   the cheapest of its sending slots that it could release (one extra source node stands for all
   free empties), and the distance of a slot is then read off its two arcs. With ``L`` the
   largest ``h`` of a free slot, ``p -= min(h, L)`` keeps the conditions of 1. (triangle
   inequality), leaves free columns at 0 and makes every free slot's shortest path tight. Paths
   that meet share the rest of their way (one predecessor per node), so they are grouped by where
   they end (a request, a released slot, or the slot's own empty) and the nearest free slot of
   each group (then the lowest index) is augmented along its path.
4. A free slot always reaches its own empty, so each round serves at least one slot; the loop
   ends with every slot served, and the conditions of 1. are checked at the end (a certificate:
   ``FlowError`` if they do not hold, so that the caller can fall back).

Costs are int64 below 2**50; Dijkstra works in float64 on reduced costs clipped to 2**50, where
every distance that matters (<= L < 2**50) is an exact integer. Deterministic.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped,unused-ignore]
from scipy.sparse.csgraph import dijkstra  # type: ignore[import-untyped,unused-ignore]

from .model import I64

CLIP = 2**50
POTENTIAL_LIMIT = 2**61
BoolArray = npt.NDArray[np.bool_]


class FlowError(RuntimeError):
    """The rounds could not certify their result (never observed; callers fall back)."""


def assign_providers(
    n_prov: int,
    n_req: int,
    prov: I64,
    req: I64,
    base: I64,
    n_slot: I64,
    tie: I64,
    dummy: int,
    max_rounds: int | None = None,
) -> I64:
    """Minimum-cost service of requests by provider slots; returns the provider of each request.

    ``prov``, ``req``, ``base``: the allowed pairs (unique) and their integer costs;
    ``n_slot[j]``: slots of provider j; ``tie[k]``: extra cost of a provider's k-th slot (the
    last value for every k beyond; nondecreasing); ``dummy``: cost of an empty slot. All costs
    >= 0 and below 2**50. Returns -1 for a request served by nobody. ``max_rounds``: raise
    ``FlowError`` once that many rounds have not served every slot (None: no limit); a round
    serves at least one slot, so tie-heavy dense graphs can need one round per slot.
    """
    prov = prov.astype(np.int64)
    req = req.astype(np.int64)
    base = base.astype(np.int64)
    n_slot = n_slot.astype(np.int64)
    tie = tie.astype(np.int64)
    n_s = int(n_slot.sum())
    n_e = prov.shape[0]
    served = np.full(n_req, -1, dtype=np.int64)
    if n_s == 0:
        return served
    costs = np.concatenate([base, tie, [dummy]])
    if costs.min() < 0 or costs.max() >= CLIP:
        raise ValueError("costs must be in [0, 2**50)")
    if np.any(np.diff(tie) < 0):
        raise ValueError("tie: must be nondecreasing")
    s_prov = np.repeat(np.arange(n_prov, dtype=np.int64), n_slot)
    s_k = np.arange(n_s, dtype=np.int64) - np.repeat(np.cumsum(n_slot) - n_slot, n_slot)
    s_tie = tie[np.minimum(s_k, tie.shape[0] - 1)]
    # reduced graph: providers 0..m-1, requests m..m+n-1, z = m+n (every free empty, behind
    # the slot a provider would release)
    o_q, z = n_prov, n_prov + n_req
    n_nodes = z + 1
    order = np.lexsort((prov, req))
    ar, ap, ab = req[order], prov[order], base[order]
    deg_q = np.bincount(ar, minlength=n_req).astype(np.int64)
    pair_key = ar * max(n_prov, 1) + ap
    count = np.concatenate([n_slot, deg_q, [n_prov]])
    indptr = np.concatenate([[0], np.cumsum(count)]).astype(np.int32)
    indices = np.zeros(int(indptr[-1]), dtype=np.int32)
    data = np.full(int(indptr[-1]), np.inf)
    p_pos = indptr[:n_prov].astype(np.int64)
    q_pos = int(indptr[o_q])
    z_pos = int(indptr[z])
    pq_all = p_pos[s_prov] + s_k
    indices[q_pos:q_pos + n_e] = ap
    indices[z_pos:z_pos + n_prov] = np.arange(n_prov)
    a1: BoolArray = np.zeros(n_s, dtype=bool)  # the slot sends its unit to its provider
    a3: BoolArray = np.zeros(n_s, dtype=bool)  # the slot stays empty
    big = np.iinfo(np.int64).max
    min_base = np.full(n_prov, big, dtype=np.int64)
    np.minimum.at(min_base, ap, ab)
    pot_p = np.where(min_base == big, 0, -min_base)
    pot_s = np.maximum(pot_p[s_prov] - s_tie, -dummy)
    pot_q = np.zeros(n_req, dtype=np.int64)
    pot_e = np.zeros(n_s, dtype=np.int64)
    red2 = np.empty(n_e, dtype=np.int64)
    rounds = 0
    while True:
        free = np.flatnonzero(~(a1 | a3))
        if free.size == 0:
            break
        rounds += 1
        if max_rounds is not None and rounds > max_rounds:
            raise FlowError(f"round budget of {max_rounds} exceeded with {free.size} slots left")
        np.subtract(pot_p[ap], np.repeat(pot_q, deg_q), out=red2)
        red2 += ab
        data[q_pos:q_pos + n_e] = red2
        sq = np.flatnonzero(served >= 0)
        sj = served[sq]
        arc = np.searchsorted(pair_key, sq * max(n_prov, 1) + sj)
        data[q_pos + arc] = np.inf
        red_srv = red2[arc]
        red1 = s_tie + pot_s - pot_p[s_prov]
        red3 = dummy + pot_s - pot_e
        # provider -> served requests
        data[pq_all] = np.inf
        by_prov = np.argsort(sj, kind="stable")
        sq, sj, red_srv = sq[by_prov], sj[by_prov], red_srv[by_prov]
        rank = np.arange(sj.shape[0]) - np.searchsorted(sj, sj, side="left")
        pos = p_pos[sj] + rank
        indices[pos] = o_q + sq
        data[pos] = np.minimum(-red_srv, CLIP)
        # z -> provider: its cheapest slot to release (a sending slot back to its free empty):
        # red3 - red1 = dummy + p[provider] - tie[k] (its empty is free: potential 0), so the
        # sending slot of largest k (slots are in provider, then k order)
        snd = np.flatnonzero(a1)
        last = np.ones(snd.shape[0], dtype=bool)
        last[:-1] = s_prov[snd][1:] != s_prov[snd][:-1]
        snd = snd[last]
        release = np.full(n_prov, -1, dtype=np.int64)
        release[s_prov[snd]] = snd
        zw = np.full(n_prov, np.inf)
        zw[s_prov[snd]] = np.minimum(red3[snd] - red1[snd], CLIP)
        data[z_pos:z_pos + n_prov] = zw
        graph = sp.csr_matrix((data, indices, indptr), shape=(n_nodes, n_nodes))
        sources = np.concatenate([o_q + np.flatnonzero(served < 0), [z]])
        h, pred = dijkstra(graph, indices=sources, min_only=True, return_predecessors=True)[:2]
        # slots, analytically: free min(own empty, via provider); sending: own empty;
        # empty (a3): via provider
        via_p = red1 + h[s_prov]
        h_s = np.where(a1, red3, np.where(a3, via_p, np.minimum(red3, via_p)))
        h_free = h_s[free]
        if not np.isfinite(h_free).all():
            raise FlowError("a free slot cannot reach a free column")
        cap = float(h_free.max())
        own = red3[free] <= via_p[free]
        # group of each free slot: its own empty, or the request / released provider its path
        # ends at (paths that meet share the rest, so one per group)
        top = _path_ends(pred, z)
        grp = np.where(own, -1 - free, top[s_prov[free]])
        pick = np.lexsort((free, h_free, grp))
        first = np.ones(pick.shape[0], dtype=bool)
        first[1:] = grp[pick][1:] != grp[pick][:-1]
        chosen = free[pick[first]]
        chosen_own = own[pick[first]]
        # potentials
        hs = np.minimum(h_s, cap)
        h_e = np.where(a3, np.minimum(h_s - red3, cap), 0.0)
        pot_s -= np.rint(hs).astype(np.int64)
        pot_e -= np.rint(h_e).astype(np.int64)
        sh = np.rint(np.minimum(h, cap)).astype(np.int64)
        pot_p -= sh[:o_q]
        pot_q -= sh[o_q:z]
        lowest = min(int(pot_s.min()), int(pot_e.min()), int(pot_p.min(initial=0)),
                     int(pot_q.min(initial=0)))
        if lowest < -POTENTIAL_LIMIT:
            raise FlowError("potentials out of range")
        # augment
        a3[chosen[chosen_own]] = True
        go = chosen[~chosen_own]
        a1[go] = True
        u = s_prov[go]  # provider nodes
        while u.size:
            v = pred[u].astype(np.int64)
            is_p = u < o_q
            u_p, v_p = u[is_p], v[is_p]
            rel_end = v_p == z
            rs = release[u_p[rel_end]]
            a1[rs] = False
            a3[rs] = True
            to_q = ~rel_end
            q = v_p[to_q] - o_q
            was_free = served[q] < 0
            served[q] = u_p[to_q]
            u = np.concatenate([v_p[to_q][~was_free], v[~is_p]])
    _certify(ar, ap, ab, served, s_prov, s_tie, dummy, a1, a3, pot_s, pot_p, pot_q, pot_e, n_prov)
    return served


def _path_ends(pred: npt.NDArray[np.int32], z: int) -> I64:
    """For every node, the last node of its path u -> pred[u] before z, or its source."""
    n = pred.shape[0]
    ids = np.arange(n, dtype=np.int64)
    nxt = pred.astype(np.int64)
    done = (nxt < 0) | (nxt == z)
    top = np.where(done, ids, -1)
    todo = np.flatnonzero(~done)
    while todo.size:
        t = nxt[todo]
        fin = done[t]
        top[todo[fin]] = top[t[fin]]
        done[todo[fin]] = True
        todo = todo[~fin]
        nxt[todo] = nxt[nxt[todo]]
    return top


def _certify(
    ar: I64, ap: I64, ab: I64, served: I64, s_prov: I64, s_tie: I64, dummy: int,
    a1: BoolArray, a3: BoolArray, pot_s: I64, pot_p: I64, pot_q: I64, pot_e: I64, n_prov: int,
) -> None:
    """Raise FlowError unless the flow and the potentials satisfy the optimality conditions."""
    red2 = ab + pot_p[ap] - pot_q[ar]
    red1 = s_tie + pot_s - pot_p[s_prov]
    red3 = dummy + pot_s - pot_e
    srv = served[ar] == ap
    load = np.bincount(served[served >= 0], minlength=n_prov)
    ok = (
        bool(np.all(a1 ^ a3))
        and bool(np.all(red2[~srv] >= 0) and np.all(red2[srv] <= 0))
        and bool(np.all(red1[~a1] >= 0) and np.all(red1[a1] <= 0))
        and bool(np.all(red3[~a3] >= 0) and np.all(red3[a3] <= 0))
        and bool(np.all(pot_q[served < 0] == 0) and np.all(pot_e[~a3] == 0))
        and int(pot_q.max(initial=0)) <= 0
        and int(pot_e.max(initial=0)) <= 0
        and bool(np.array_equal(load, np.bincount(s_prov[a1], minlength=n_prov)))
        and int(srv.sum()) == int((served >= 0).sum())
    )
    if not ok:
        raise FlowError("optimality certificate failed")
