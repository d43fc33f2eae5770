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
3. Round: ``h`` = distance from every node to the nearest free column in the residual graph, by
   one multi-source Dijkstra on the reversed residual graph from all free columns. With ``L`` the
   largest ``h`` of a free slot, ``p -= min(h, L)`` keeps the conditions of 1. (triangle
   inequality), leaves free columns at 0 and makes every free slot's shortest path tight. The
   shortest-path trees are vertex-disjoint; in each tree one free slot (the nearest, then the
   lowest index) is augmented along its path.
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
) -> I64:
    """Minimum-cost service of requests by provider slots; returns the provider of each request.

    ``prov``, ``req``, ``base``: the allowed pairs (unique) and their integer costs;
    ``n_slot[j]``: slots of provider j; ``tie[k]``: extra cost of a provider's k-th slot (the
    last value for every k beyond); ``dummy``: cost of an empty slot. All costs >= 0 and
    below 2**50. Returns -1 for a request served by nobody.
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
    s_prov = np.repeat(np.arange(n_prov, dtype=np.int64), n_slot)
    s_k = np.arange(n_s, dtype=np.int64) - np.repeat(np.cumsum(n_slot) - n_slot, n_slot)
    s_tie = tie[np.minimum(s_k, tie.shape[0] - 1)]
    # nodes: slots, providers, requests, empties
    o_p, o_q, o_e = n_s, n_s + n_prov, n_s + n_prov + n_req
    n_nodes = o_e + n_s
    # pairs sorted by request: the out-lists of the request nodes in the reversed graph
    order = np.lexsort((prov, req))
    ar, ap, ab = req[order], prov[order], base[order]
    deg_q = np.bincount(ar, minlength=n_req).astype(np.int64)
    pair_key = ar * max(n_prov, 1) + ap  # sorted
    # reversed residual graph, fixed CSR layout (unused entries weigh inf):
    # slot -> [its provider (a1 has flow), its empty (a3 has flow)]
    # provider -> [its slots (a1 has no flow)] + [n_slot entries: the requests it serves]
    # request -> [its providers (a2 has no flow)];  empty -> [its slot (a3 has no flow)]
    count = np.concatenate(
        [np.full(n_s, 2, dtype=np.int64), 2 * n_slot, deg_q, np.ones(n_s, dtype=np.int64)]
    )
    indptr = np.concatenate([[0], np.cumsum(count)]).astype(np.int32)
    indices = np.zeros(int(indptr[-1]), dtype=np.int32)
    data = np.full(int(indptr[-1]), np.inf)
    slot_ids = np.arange(n_s, dtype=np.int64)
    s_pos = indptr[:n_s].astype(np.int64)
    p_pos = indptr[o_p:o_q].astype(np.int64)
    q_pos = int(indptr[o_q])
    e_pos = indptr[o_e:n_nodes].astype(np.int64)
    ps_pos = p_pos[s_prov] + s_k  # provider -> slot entries
    pq_start = p_pos + n_slot  # provider -> served request entries
    pq_all = pq_start[s_prov] + s_k
    indices[s_pos] = o_p + s_prov
    indices[s_pos + 1] = o_e + slot_ids
    indices[ps_pos] = slot_ids
    indices[q_pos : q_pos + n_e] = o_p + ap
    indices[e_pos] = slot_ids
    # flow state
    a1: BoolArray = np.zeros(n_s, dtype=bool)
    a3: BoolArray = np.zeros(n_s, dtype=bool)
    # potentials
    big = np.iinfo(np.int64).max
    min_base = np.full(n_prov, big, dtype=np.int64)
    np.minimum.at(min_base, ap, ab)
    pot_p = np.where(min_base == big, 0, -min_base)
    pot_s = np.maximum(pot_p[s_prov] - s_tie, -dummy)
    pot_q = np.zeros(n_req, dtype=np.int64)
    pot_e = np.zeros(n_s, dtype=np.int64)
    red2 = np.empty(n_e, dtype=np.int64)
    while True:
        free = np.flatnonzero(~(a1 | a3))
        if free.size == 0:
            break
        np.subtract(pot_p[ap], np.repeat(pot_q, deg_q), out=red2)
        red2 += ab
        # float64 is exact below 2**53; larger reduced costs exceed every distance used (< 2**50)
        data[q_pos : q_pos + n_e] = red2
        sq = np.flatnonzero(served >= 0)
        sj = served[sq]
        arc = np.searchsorted(pair_key, sq * max(n_prov, 1) + sj)  # the arcs carrying flow
        data[q_pos + arc] = np.inf
        red_srv = red2[arc]
        red1 = s_tie + pot_s - pot_p[s_prov]
        red3 = dummy + pot_s - pot_e
        data[s_pos] = np.where(a1, np.minimum(-red1, CLIP), np.inf)
        data[s_pos + 1] = np.where(a3, np.minimum(-red3, CLIP), np.inf)
        data[ps_pos] = np.where(a1, np.inf, np.minimum(red1, CLIP))
        data[e_pos] = np.where(a3, np.inf, np.minimum(red3, CLIP))
        data[pq_all] = np.inf
        by_prov = np.argsort(sj, kind="stable")
        sq, sj, red_srv = sq[by_prov], sj[by_prov], red_srv[by_prov]
        rank = np.arange(sj.shape[0]) - np.searchsorted(sj, sj, side="left")
        pos = pq_start[sj] + rank
        indices[pos] = o_q + sq
        data[pos] = np.minimum(-red_srv, CLIP)
        graph = sp.csr_matrix((data, indices, indptr), shape=(n_nodes, n_nodes))
        free_cols = np.concatenate([o_q + np.flatnonzero(served < 0), o_e + np.flatnonzero(~a3)])
        h, pred, src = dijkstra(
            graph, indices=free_cols, min_only=True, return_predecessors=True
        )
        h_free = h[free]
        if not np.isfinite(h_free).all():
            raise FlowError("a free slot cannot reach a free column")
        src_free = src[free]
        pick = np.lexsort((free, h_free, src_free))
        first = np.ones(pick.shape[0], dtype=bool)
        first[1:] = src_free[pick][1:] != src_free[pick][:-1]
        chosen = free[pick[first]]
        shift = np.rint(np.minimum(h, float(h_free.max()))).astype(np.int64)
        pot_s -= shift[:o_p]
        pot_p -= shift[o_p:o_q]
        pot_q -= shift[o_q:o_e]
        pot_e -= shift[o_e:]
        lowest = min(int(pot_s.min()), int(pot_e.min()), int(pot_p.min(initial=0)),
                     int(pot_q.min(initial=0)))
        if lowest < -POTENTIAL_LIMIT:
            raise FlowError("potentials out of range")
        _augment(chosen, pred, a1, a3, served, o_p, o_q, o_e)
    _certify(ar, ap, ab, served, s_prov, s_tie, dummy, a1, a3, pot_s, pot_p, pot_q, pot_e, n_prov)
    return served


def _augment(
    chosen: I64, pred: npt.NDArray[np.int32], a1: BoolArray, a3: BoolArray, served: I64,
    o_p: int, o_q: int, o_e: int,
) -> None:
    """Flip the flow along the tight paths u -> pred[u] of the chosen slots (disjoint paths)."""
    u = chosen.astype(np.int64)
    while u.size:
        v = pred[u].astype(np.int64)
        is_s = u < o_p
        is_p = (u >= o_p) & (u < o_q)
        is_q = (u >= o_q) & (u < o_e)
        s_u, v_s = u[is_s], v[is_s]
        to_empty = v_s >= o_e
        a3[s_u[to_empty]] = True  # the slot stays empty: end of the path
        a1[s_u[~to_empty]] = True  # the slot sends to its provider
        u_p, v_p = u[is_p], v[is_p]
        to_q = (v_p >= o_q) & (v_p < o_e)
        q = v_p[to_q] - o_q
        was_free = served[q] < 0
        served[q] = u_p[to_q] - o_p  # the provider serves q (q's old provider comes next)
        a1[v_p[~to_q]] = False  # the provider gives up that slot
        u = np.concatenate([v_s[~to_empty], v_p[~to_q], v_p[to_q][~was_free], v[is_q]])


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
