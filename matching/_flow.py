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
   One Dijkstra computes it on a graph with one node per provider and one source node:
   - a served request is reached only from its provider, so it is not a node: provider j has
     an arc to provider j2 for each request q that j serves and that could move to j2, of
     weight red(j, q) + red(q, j2) (its distance is then h[j] + red(j, q));
   - the source stands for every free column: it has one arc per provider, the cheaper of the
     provider's cheapest arc from a free request and the release of the cheapest of its sending
     slots (back to that slot's free empty);
   - slots and empties are not nodes either: a slot's distance is read off its two arcs.
   Requests outnumber providers, so this graph has a third of the nodes of the residual graph
   and the same number of arcs (Dijkstra's cost goes with the nodes: 3 times faster at 100,000
   requests). With ``L`` the largest ``h`` of a free slot, ``p -= min(h, L)`` keeps the
   conditions of 1. (triangle inequality), leaves free columns at 0 and makes every free slot's
   shortest path tight. Paths that meet share the rest of their way (one predecessor per
   node), so they are grouped by where they end (a free request, a released slot, or the
   slot's own empty) and the nearest free slot of each group (then the lowest index) is
   augmented along its path: at each step the request that moves is the lowest one on a tight
   arc. Who serves whom (the request of each sending slot, the arc of each served request) is
   kept along the augmentations, so that a round sorts nothing.
4. A free slot always reaches its own empty, so each round serves at least one slot; the loop
   ends with every slot served, and the conditions of 1. are checked at the end (a certificate:
   ``FlowError`` if they do not hold, so that the caller can fall back; a negative weight, which
   would abort SciPy's dijkstra, raises it before the search).

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
    # arcs by (request, provider); the Dijkstra graph has one node per provider and the source
    # node src (every free request and every free empty at distance 0)
    src = n_prov
    m_key = max(n_prov, 1)
    order = np.lexsort((prov, req))
    ar, ap, ab = req[order], prov[order], base[order]
    deg_q = np.bincount(ar, minlength=n_req).astype(np.int64)
    q_start = np.cumsum(deg_q) - deg_q
    pair_key = ar * m_key + ap
    ap32 = ap.astype(np.int32)
    a1: BoolArray = np.zeros(n_s, dtype=bool)  # the slot sends its unit to its provider
    a3: BoolArray = np.zeros(n_s, dtype=bool)  # the slot stays empty
    big = np.iinfo(np.int64).max
    min_base = np.full(n_prov, big, dtype=np.int64)
    np.minimum.at(min_base, ap, ab)
    pot_p = np.where(min_base == big, 0, -min_base)
    pot_s = np.maximum(pot_p[s_prov] - s_tie, -dummy)
    pot_q = np.zeros(n_req, dtype=np.int64)
    pot_e = np.zeros(n_s, dtype=np.int64)
    # who serves whom, kept along the augmentations: the request of each sending slot and the
    # arc of each served request (a provider's slots follow each other, so the sending slots
    # list the served requests by provider without a sort)
    slot_q = np.full(n_s, -1, dtype=np.int64)
    q_arc = np.full(n_req, -1, dtype=np.int64)
    rounds = 0
    while True:
        free = np.flatnonzero(~(a1 | a3))
        if free.size == 0:
            break
        rounds += 1
        if max_rounds is not None and rounds > max_rounds:
            raise FlowError(f"round budget of {max_rounds} exceeded with {free.size} slots left")
        # t = cost + p[provider] on every arc: red(q, j) = t - p[q], and a free request is at
        # potential 0
        t = ab + pot_p[ap]
        # served requests, by provider
        sending = np.flatnonzero(a1)
        sq, sj = slot_q[sending], s_prov[sending]
        served = np.full(n_req, -1, dtype=np.int64)
        served[sq] = sj
        q_slot = np.full(n_req, -1, dtype=np.int64)
        q_slot[sq] = sending
        srv_ptr = np.searchsorted(sj, np.arange(n_prov + 1))
        arc_srv = q_arc[sq]
        t_srv = np.zeros(n_req, dtype=np.int64)
        t_srv[sq] = t[arc_srv]
        red_srv = t_srv - pot_q  # on served requests
        red1 = s_tie + pot_s - pot_p[s_prov]
        red3 = dummy + pot_s - pot_e
        # provider j -> provider j2 through a request q that j serves and that could move to
        # j2: red(j, q) + red(q, j2) = t(q, j2) - t(q, j); one row per provider, made of the
        # arcs of the requests it serves (in provider order, so rows follow each other)
        dq = deg_q[sq]
        arc_csr = _ranges(q_start[sq], dq)
        n_in = arc_csr.shape[0]
        w_in = t[arc_csr]
        w_in -= np.repeat(t_srv[sq], dq)
        # source -> provider: its cheapest arc from a free request, or the release of its
        # cheapest sending slot (a sending slot back to its free empty: red3 - red1 =
        # dummy + p[provider] - tie[k], so the sending slot of largest k)
        last = np.ones(sending.shape[0], dtype=bool)
        last[:-1] = sj[1:] != sj[:-1]
        snd = sending[last]
        release = np.full(n_prov, -1, dtype=np.int64)
        release[s_prov[snd]] = snd
        zw = np.full(n_prov, np.inf)
        zw[s_prov[snd]] = np.minimum(red3[snd] - red1[snd], CLIP)
        fq = np.flatnonzero(served < 0)
        arc_f = _ranges(q_start[fq], deg_q[fq])
        w_f, p_f = t[arc_f], ap[arc_f]
        min_free = np.full(n_prov, big, dtype=np.int64)
        np.minimum.at(min_free, p_f, w_f)
        at_min = np.flatnonzero(w_f == min_free[p_f])
        q_min = np.full(n_prov, big, dtype=np.int64)
        np.minimum.at(q_min, p_f[at_min], ar[arc_f[at_min]])  # lowest request at the minimum
        from_q = np.where(min_free < big, np.minimum(min_free, CLIP), np.inf)
        end_req = (q_min < big) & (from_q <= zw)  # ties: the free request
        w_src = np.minimum(from_q, zw)
        src_to = np.flatnonzero(np.isfinite(w_src))
        n_arcs = n_in + src_to.shape[0]
        indptr = np.empty(n_prov + 2, dtype=np.int32)
        indptr[:-1] = np.concatenate([[0], np.cumsum(dq)])[srv_ptr]  # row j: its requests' arcs
        indptr[-1] = n_arcs
        indices = np.empty(n_arcs, dtype=np.int32)
        np.take(ap32, arc_csr, out=indices[:n_in])
        indices[n_in:] = src_to
        data = np.empty(n_arcs)
        # >= 0 (0 on the loop j -> j of the request's own arc); above 2**53 inexact, but never
        # near a distance that matters
        data[:n_in] = w_in
        data[n_in:] = w_src[src_to]
        if n_arcs and data.min() < 0:
            # never observed; SciPy's dijkstra would abort the process on a negative weight
            raise FlowError("negative reduced cost")
        graph = sp.csr_matrix((n_prov + 1, n_prov + 1))
        graph.data, graph.indices, graph.indptr = data, indices, indptr
        h, pred = dijkstra(graph, indices=src, return_predecessors=True)[:2]
        h_p = h[:n_prov]
        # slots, analytically: free min(own empty, via provider); sending: own empty;
        # empty (a3): via provider
        via_p = red1 + h_p[s_prov]
        h_s = np.where(a1, red3, np.where(a3, via_p, np.minimum(red3, via_p)))
        h_free = h_s[free]
        if not np.isfinite(h_free).all():
            raise FlowError("a free slot cannot reach a free column")
        cap = float(h_free.max())
        own = red3[free] <= via_p[free]
        # group of each free slot: its own empty, or the free request / released slot its path
        # ends at (paths that meet share the rest, so one per group)
        root = _path_ends(pred, src)[s_prov[free]]
        grp = np.where(own, -1 - free, np.where(end_req[root], n_prov + q_min[root], root))
        pick = np.lexsort((free, h_free, grp))
        first = np.ones(pick.shape[0], dtype=bool)
        first[1:] = grp[pick][1:] != grp[pick][:-1]
        chosen = free[pick[first]]
        chosen_own = own[pick[first]]
        # potentials (a served request is reached from its provider only)
        h_q = np.zeros(n_req)
        h_q[sq] = h_p[sj] + np.minimum(-red_srv[sq], CLIP)
        hs = np.minimum(h_s, cap)
        h_e = np.where(a3, np.minimum(h_s - red3, cap), 0.0)
        pot_s -= np.rint(hs).astype(np.int64)
        pot_e -= np.rint(h_e).astype(np.int64)
        pot_p -= np.rint(np.minimum(h_p, cap)).astype(np.int64)
        pot_q -= np.rint(np.minimum(h_q, cap)).astype(np.int64)
        lowest = min(int(pot_s.min()), int(pot_e.min()), int(pot_p.min(initial=0)),
                     int(pot_q.min(initial=0)))
        if lowest < -POTENTIAL_LIMIT:
            raise FlowError("potentials out of range")
        # augment: the chosen paths are disjoint (paths that meet end in the same group)
        a3[chosen[chosen_own]] = True
        go = chosen[~chosen_own]
        a1[go] = True
        u = s_prov[go]
        cur = go  # the slot of u that takes the request moving to u
        while u.size:
            v = pred[u].astype(np.int64)
            at_src = v == src
            r, r_slot = u[at_src], cur[at_src]
            to_q = end_req[r]
            # the path starts at a free request: r's slot takes it
            rq, qf = r[to_q], q_min[r[to_q]]
            slot_q[r_slot[to_q]] = qf
            q_arc[qf] = np.searchsorted(pair_key, qf * m_key + rq)
            # the path starts at a released slot: r's slot takes the request of the released
            # one (the same slot when it is the one released), which becomes empty
            rs, sr = release[r[~to_q]], r_slot[~to_q]
            other = rs != sr
            slot_q[sr[other]] = slot_q[rs[other]]
            slot_q[rs] = -1
            a1[rs] = False
            a3[rs] = True
            u, v, cur = u[~at_src], v[~at_src], cur[~at_src]
            # the request that moves from v to u: a tight arc, the lowest such request
            c = srv_ptr[v + 1] - srv_ptr[v]
            owner = np.repeat(np.arange(u.shape[0], dtype=np.int64), c)
            qq = sq[_ranges(srv_ptr[v], c)]
            key = qq * m_key + u[owner]
            a = np.minimum(np.searchsorted(pair_key, key), max(pair_key.shape[0] - 1, 0))
            need = np.rint(h_p[u] - h_p[v]).astype(np.int64)
            tight = np.flatnonzero(
                (pair_key[a] == key) & (t[a] - t_srv[qq] == need[owner])
            )
            tight = tight[np.lexsort((qq[tight], owner[tight]))]
            one = np.ones(tight.shape[0], dtype=bool)
            one[1:] = owner[tight][1:] != owner[tight][:-1]
            tight = tight[one]
            if tight.shape[0] != u.shape[0]:
                raise FlowError("no tight arc along a shortest path")
            mq = qq[tight]
            slot_q[cur] = mq
            q_arc[mq] = a[tight]
            u, cur = v, q_slot[mq]  # its slot at v takes the next request
    # the request of each sending slot: each served once, through the arc kept for it
    sq = slot_q[a1]
    served = np.full(n_req, -1, dtype=np.int64)
    if not (
        bool(np.all(sq >= 0))
        and np.unique(sq).shape[0] == sq.shape[0]
        and bool(np.array_equal(pair_key[q_arc[sq]], sq * m_key + s_prov[a1]))
        and bool(np.all(slot_q[~a1] < 0))
    ):
        raise FlowError("slot bookkeeping out of step")
    served[sq] = s_prov[a1]
    _certify(ar, ap, ab, served, s_prov, s_tie, dummy, a1, a3, pot_s, pot_p, pot_q, pot_e, n_prov)
    return served


def _ranges(start: I64, count: I64) -> I64:
    """The ranges [start, start + count) one after the other."""
    out: I64 = np.repeat(start - (np.cumsum(count) - count), count)
    out += np.arange(out.shape[0], dtype=np.int64)
    return out


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
