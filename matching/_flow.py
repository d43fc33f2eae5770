"""Exact rectangular assignment by rounds of multi-source Dijkstra (successive shortest paths).

The problem: every row (a provider's slot) is matched to exactly one column, either a real column
(a request) at an integer cost >= 0 or its own private "empty" column at ``dummy`` (also the
cost of a slot left empty); each real column takes at most one row. Minimise the total cost.

Why not SciPy's ``min_weight_full_bipartite_matching`` alone: on a rectangular graph it runs one
shortest-path search per row and each search touches every column, so its cost grows with rows x
columns. Here every round is one call to SciPy's compiled Dijkstra over the whole residual graph,
and serves many rows at once:

1. Potentials ``pr`` (rows) and ``pc`` (columns) keep every reduced cost
   ``red = cost + pr[row] - pc[col]`` >= 0; matched edges have ``red == 0``; every free column has
   ``pc == 0`` and every other ``pc <= 0``. These are the optimality conditions of the
   rectangular assignment LP (rows: equality, columns: <= 1), so a full matching of the rows
   that keeps them is optimal.
2. Start: ``pr = -min(cost of the row)``, ``pc = 0``, nothing matched.
3. Round: ``h`` = distance from every node to the nearest free column in the residual graph
   (unmatched edges row -> column at ``red``, matched edges column -> row at 0), computed by one
   multi-source Dijkstra on the reversed graph from all free columns. With ``L`` the largest
   finite ``h`` of a free row, ``p -= min(h, L)`` keeps every reduced cost >= 0 (triangle
   inequality), leaves free columns at 0, and makes the shortest path of every free row tight.
   Each free column's shortest-path tree contains vertex-disjoint paths to it; one free row per
   tree (the nearest, then the lowest index) is augmented along its tight path, which keeps the
   matched edges tight and only adds matched columns.
4. Every free row can reach its own empty column, so each round serves at least one row and the
   loop ends with every row matched: an optimal assignment, checked at the end against the
   conditions of 1. (a certificate: the function raises if it does not hold).

Costs are int64 below 2**50; Dijkstra works in float64 on reduced costs clipped to 2**50, where
every sum that matters (<= L < 2**50) is an exact integer. Deterministic: the same input gives the
same rounds and the same result.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped,unused-ignore]
from scipy.sparse.csgraph import dijkstra  # type: ignore[import-untyped,unused-ignore]

from .model import I64

CLIP = 2**50
POTENTIAL_LIMIT = 2**61


class FlowError(RuntimeError):
    """The round scheme could not certify its result (never seen; callers fall back)."""


def assign_rows(n_rows: int, n_cols: int, row: I64, col: I64, cost: I64, dummy: int) -> I64:
    """Optimal assignment of every row to a column or to its private empty column.

    ``row``, ``col``, ``cost``: the allowed (row, column) pairs and their integer costs (>= 0,
    unique pairs); ``dummy``: the cost of a row's empty column.
    Returns, for each row, its column, or -1 for its empty column.
    """
    nc = n_cols + n_rows  # real columns, then one private empty column per row
    r_all = np.concatenate([row.astype(np.int64), np.arange(n_rows, dtype=np.int64)])
    c_all = np.concatenate([col.astype(np.int64), n_cols + np.arange(n_rows, dtype=np.int64)])
    w_all = np.concatenate([cost.astype(np.int64), np.full(n_rows, dummy, dtype=np.int64)])
    if w_all.size and (w_all.min() < 0 or w_all.max() >= CLIP):
        raise ValueError("costs must be in [0, 2**50)")
    # edges sorted by column: the reversed residual graph's out-lists of the column nodes
    order = np.lexsort((r_all, c_all))
    er, ec, ew = r_all[order], c_all[order], w_all[order]
    n_nodes = n_rows + nc
    indptr = np.concatenate(
        [np.arange(n_rows + 1), n_rows + np.cumsum(np.bincount(ec, minlength=nc))]
    ).astype(np.int32)
    indices = np.concatenate([np.full(n_rows, n_rows), er]).astype(np.int32)
    data = np.empty(n_rows + er.shape[0], dtype=np.float64)
    key = ec * n_rows + er  # sorted (column-major order)

    def edge_pos(rows: I64, cols: I64) -> I64:
        return np.searchsorted(key, cols * n_rows + rows)

    # potentials: row reduction
    best = np.full(n_rows, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, er, ew)
    pr = -best
    pc = np.zeros(nc, dtype=np.int64)
    mr = np.full(n_rows, -1, dtype=np.int64)
    mc = np.full(nc, -1, dtype=np.int64)
    deg_c = np.diff(indptr[n_rows:]).astype(np.int64)
    medge = np.zeros(n_rows, dtype=np.int64)  # position (in column order) of a row's matched edge
    red = np.empty(er.shape[0], dtype=np.int64)
    while True:
        free = np.flatnonzero(mr < 0)
        if free.size == 0:
            break
        np.subtract(pr[er], np.repeat(pc, deg_c), out=red)
        red += ew
        np.minimum(red, CLIP, out=red)
        data[n_rows:] = red
        is_m = mr >= 0
        data[n_rows + medge[is_m]] = np.inf
        indices[:n_rows] = n_rows + np.where(is_m, mr, 0)
        data[:n_rows] = np.where(is_m, 0.0, np.inf)
        graph = sp.csr_matrix((data, indices, indptr), shape=(n_nodes, n_nodes))
        free_cols = np.flatnonzero(mc < 0)
        h, pred, src = dijkstra(
            graph, indices=n_rows + free_cols, min_only=True, return_predecessors=True
        )
        hf = h[free]
        reach = np.isfinite(hf)
        if not reach.all():
            raise FlowError("a free row cannot reach a free column")
        src_f = src[free]
        pick = np.lexsort((free, hf, src_f))
        first = np.ones(pick.shape[0], dtype=bool)
        first[1:] = src_f[pick][1:] != src_f[pick][:-1]
        chosen = free[pick[first]]
        cap = float(hf.max())
        shift = np.rint(np.minimum(h, cap)).astype(np.int64)
        pr -= shift[:n_rows]
        pc -= shift[n_rows:]
        if pr.size and min(int(pr.min()), int(pc.min())) < -POTENTIAL_LIMIT:
            raise FlowError("potentials out of range")
        rows = chosen
        while rows.size:
            cols = pred[rows].astype(np.int64) - n_rows
            nxt = mc[cols].copy()
            mr[rows] = cols
            mc[cols] = rows
            medge[rows] = edge_pos(rows, cols)
            rows = nxt[nxt >= 0]
    # certificate: reduced costs >= 0, matched edges tight, free columns at 0, others <= 0
    red = ew + pr[er] - pc[ec]
    ok = (
        (red.size == 0 or int(red.min()) >= 0)
        and bool(np.all(red[mr[er] == ec] == 0))
        and bool(np.all(pc[mc < 0] == 0))
        and (pc.size == 0 or int(pc.max()) <= 0)
    )
    if not ok:
        raise FlowError("optimality certificate failed")
    return np.where(mr < n_cols, mr, -1).astype(np.int64)
