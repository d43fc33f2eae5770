"""Exact maximum-score assignment of requests to providers with capacities.

``assign(scores, capacity)`` maximises the total score of the chosen pairs, each request getting
at most one provider and provider j at most ``capacity[j]`` requests.

How (see docs/matching.md for the formulas):

- values are turned into integers on a grid (``resolution``), so that the solvers compare exact
  integers; a tie-breaker is folded into the low digits of the cost, lexicographically under the
  score: among assignments of equal total it prefers spreading load over providers;
- a provider of capacity c has c slots (at most as many as its degree), slot k costing
  min(k, TIE_LEVELS - 1) + 1 tie-breaker units; the matrix solvers replicate it into slot
  columns and give every request a private "unmatched" column, so a full matching always exists
  (the flow solver keeps one node per provider and its slots as arcs, each with an "empty");
- the graph is split into connected components: trivial ones (one request, or one provider) are
  solved in closed form, vectorised; small ones with ``scipy.optimize.linear_sum_assignment``
  (dense), large ones by rounds of multi-source Dijkstra on a provider network without slot
  replication (``matching._flow``: successive shortest paths on SciPy's compiled ``dijkstra``,
  ending with an optimality certificate), or with
  ``scipy.sparse.csgraph.min_weight_full_bipartite_matching`` (``method="sparse"``, slot
  columns; also the fallback if the certificate ever failed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped,unused-ignore]
from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped,unused-ignore]
from scipy.sparse.csgraph import (  # type: ignore[import-untyped,unused-ignore]
    connected_components,
    min_weight_full_bipartite_matching,
)

from ._flow import FlowError, assign_providers
from .model import F64, I64

# Lexicographic tie-breaker: slot k of a provider costs min(k, TIE_LEVELS - 1) more units.
TIE_LEVELS = 8
# Largest integer cost given to the float64 solvers (7 bits of headroom under 2**53).
MAX_COST_BITS = 46
DENSE_MAX_ROWS = 250
# Round budget of the flow path under method="auto": a round costs about 10 ns per arc, LAPJVsp
# at least about 7 ns per slot x column (one search per slot over every column), so past
# FLOW_BUDGET x slots x (requests + slots) / arcs rounds (never fewer than MIN_FLOW_ROUNDS) the
# component goes to LAPJVsp: tie-heavy dense graphs, where a round serves one slot, then cost
# at most about twice LAPJVsp instead of one Dijkstra per slot. The benchmark's pools use 1-2 %
# of their budget (63 rounds of 660 at 10,000 requests, 122 of about 6,000 at 100,000).
FLOW_BUDGET = 0.7
MIN_FLOW_ROUNDS = 16

Method = Literal["auto", "dense", "sparse", "flow"]


@dataclass(frozen=True)
class Assignment:
    """Result of ``assign``.

    - ``provider``: int64 array of length n, the column chosen for each row, -1 if unmatched;
    - ``total``: sum of the chosen scores (float, computed from the input values);
    - ``value``: ``total`` plus the unmatched penalties of the matched rows (the objective);
    - ``resolution``: the grid the solver worked on (exact for values on it).
    """

    provider: I64
    total: float
    value: float
    resolution: float

    @property
    def matched_count(self) -> int:
        return int((self.provider >= 0).sum())


@dataclass(frozen=True)
class Edges:
    """A canonical edge list: sorted by (row, col), no duplicates."""

    n: int
    m: int
    row: I64
    col: I64
    score: F64


def _edges_from_input(scores: Any, m_expected: int | None) -> Edges:
    if sp.issparse(scores):
        coo = sp.coo_matrix(scores)
        n, m = coo.shape
        if coo.nnz and not np.isfinite(coo.data).all():
            raise ValueError("scores: stored entries must be finite (absent entries are forbidden)")
        row = coo.row.astype(np.int64)
        col = coo.col.astype(np.int64)
        data = coo.data.astype(np.float64)
        key = row * max(m, 1) + col
        order = np.argsort(key, kind="stable")
        key, row, col, data = key[order], row[order], col[order], data[order]
        if key.shape[0] > 1 and np.any(key[1:] == key[:-1]):
            raise ValueError("scores: duplicate entries for a pair")
    else:
        a = np.asarray(scores, dtype=np.float64)
        if a.ndim != 2:
            raise ValueError(f"scores: expected a 2-dimensional array, got shape {a.shape}")
        n, m = a.shape
        if np.isinf(a).any():
            raise ValueError("scores: must be finite, NaN marks a forbidden pair")
        row, col = np.nonzero(~np.isnan(a))
        row = row.astype(np.int64)
        col = col.astype(np.int64)
        data = a[row, col]
    if data.size and data.min() < 0:
        raise ValueError("scores: scores must be >= 0")
    if m_expected is not None and m != m_expected:
        raise ValueError(f"capacity: expected length {m} (columns of scores), got {m_expected}")
    return Edges(n=int(n), m=int(m), row=row, col=col, score=data)


def _grid(values: F64, resolution: float | None, n_rows: int) -> tuple[npt.NDArray[np.int64], float]:
    """Integer values on a grid, and the grid step.

    With ``resolution=None``, a 1e-6 grid is used when every value is on it (the cycle's scores
    and bonuses are), else the finest power of two that keeps costs under 2**MAX_COST_BITS.
    """
    vmax = float(values.max()) if values.size else 0.0
    mult_bits = math.ceil(math.log2(max(n_rows, 1) * (TIE_LEVELS - 1) + 2))
    budget = 2.0 ** (MAX_COST_BITS - mult_bits)
    if resolution is None:
        micro = values * 1e6
        q = np.round(micro)
        if vmax * 1e6 < budget and bool(np.all(np.abs(micro - q) <= 1e-4)):
            return q.astype(np.int64), 1e-6
        resolution = 2.0 ** math.ceil(math.log2(vmax / budget)) if vmax > 0 else 1.0
    if resolution <= 0 or not math.isfinite(resolution):
        raise ValueError("resolution: must be a positive number")
    if vmax / resolution >= budget:
        raise ValueError(
            f"resolution: {resolution} too fine for values up to {vmax} with {n_rows} rows"
        )
    return np.round(values / resolution).astype(np.int64), float(resolution)


def _solve_component_dense(
    rows: I64, row: I64, slot: I64, cost: F64, n_slots: int, dummy_cost: float
) -> tuple[I64, I64]:
    """Dense LSA on one component; returns (row position, slot) for matched rows."""
    r = rows.shape[0]
    mat = np.full((r, n_slots + r), np.inf)
    mat[row, slot] = cost
    mat[:, n_slots:] = dummy_cost
    ri, ci = linear_sum_assignment(mat)
    keep = ci < n_slots
    return ri[keep].astype(np.int64), ci[keep].astype(np.int64)


def _solve_component_sparse(
    r: int, row: I64, slot: I64, cost: F64, n_slots: int, dummy_cost: float
) -> tuple[I64, I64]:
    """LAPJVsp with the slots as rows: each slot is filled by a request or by its private
    "empty" column (same cost as a request's unmatched option, so the optimum is the same).
    Measured 2-3x faster than requests as rows on marketplace-like graphs: the searches start
    from slots, and few slots stay empty."""
    all_row = np.concatenate([slot, np.arange(n_slots, dtype=np.int64)])
    all_col = np.concatenate([row, r + np.arange(n_slots, dtype=np.int64)])
    all_cost = np.concatenate([cost, np.full(n_slots, dummy_cost)])
    g = sp.csr_matrix((all_cost, (all_row, all_col)), shape=(n_slots, r + n_slots))
    g.sort_indices()
    si, ci = min_weight_full_bipartite_matching(g)
    keep = ci < r
    return ci[keep].astype(np.int64), si[keep].astype(np.int64)


def flow_round_budget(n_req: int, n_slots: int, n_arcs: int) -> int:
    """Rounds after which ``method="auto"`` hands a component to LAPJVsp (see FLOW_BUDGET)."""
    work = FLOW_BUDGET * n_slots * (n_req + n_slots) / max(n_arcs, 1)
    return max(MIN_FLOW_ROUNDS, math.ceil(work))


def _solve_component_flow(
    n_req: int, r_loc: I64, p_loc: I64, base: I64, n_slot: I64, dummy_cost: int,
    max_rounds: int | None = None,
) -> I64 | None:
    """Rounds of multi-source Dijkstra on the provider network (``matching._flow``): the
    provider of each request of the component (local index, -1 if unmatched), or None if the
    optimality certificate ever failed or the rounds went past ``max_rounds`` (the caller then
    solves the component with LAPJVsp)."""
    tie = np.arange(TIE_LEVELS, dtype=np.int64) + 1
    try:
        return assign_providers(
            n_slot.shape[0], n_req, p_loc, r_loc, base, n_slot, tie, dummy_cost,
            max_rounds=max_rounds,
        )
    except FlowError:
        return None


def solve_edges(
    edges: Edges,
    capacity: npt.NDArray[np.int64],
    value: npt.NDArray[np.int64],
    *,
    method: Method = "auto",
) -> I64:
    """Exact max-value b-matching on integer values (>= 0); returns the provider of each row.

    ``edges`` must be canonical (sorted by row then column, unique); ``value`` aligned with it.
    """
    n, m = edges.n, edges.m
    provider = np.full(n, -1, dtype=np.int64)
    keep = capacity[edges.col] > 0
    row, col, val = edges.row[keep], edges.col[keep], value[keep]
    if row.shape[0] == 0:
        return provider
    # components of the bipartite graph (requests 0..n-1, providers n..n+m-1)
    g = sp.coo_matrix(
        (np.ones(row.shape[0], dtype=np.int8), (row, n + col)), shape=(n + m, n + m)
    ).tocsr()
    _, label = connected_components(g, directed=False)
    deg_r = np.bincount(row, minlength=n)
    deg_p = np.bincount(col, minlength=m)
    comp_of_edge = label[row]
    n_rows_comp = np.bincount(label[:n][deg_r > 0], minlength=label.max() + 1)
    n_prov_comp = np.bincount(label[n:][deg_p > 0], minlength=label.max() + 1)
    tie_mult = int(max(1, int(n_rows_comp.max())) * (TIE_LEVELS - 1) + 1)
    vmax = int(val.max())
    # trivial components: one request (take its best provider) or one provider (its best rows)
    one_row = n_rows_comp[comp_of_edge] == 1
    if one_row.any():
        r1, c1, v1 = row[one_row], col[one_row], val[one_row]
        order = np.lexsort((c1, -v1, r1))
        first = np.ones(order.shape[0], dtype=bool)
        first[1:] = r1[order][1:] != r1[order][:-1]
        best = order[first]
        provider[r1[best]] = c1[best]
    one_prov = (n_prov_comp[comp_of_edge] == 1) & ~one_row
    if one_prov.any():
        r1, c1, v1 = row[one_prov], col[one_prov], val[one_prov]
        order = np.lexsort((r1, -v1, c1))
        c_sorted = c1[order]
        start = np.searchsorted(c_sorted, c_sorted, side="left")
        rank = np.arange(order.shape[0]) - start
        take = order[rank < capacity[c_sorted]]
        provider[r1[take]] = c1[take]
    rest = ~(one_row | one_prov)
    if not rest.any():
        return provider
    row, col, val, comp = row[rest], col[rest], val[rest], comp_of_edge[rest]
    order = np.argsort(comp, kind="stable")
    row, col, val, comp = row[order], col[order], val[order], comp[order]
    bounds = np.flatnonzero(np.diff(comp)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [row.shape[0]]])
    dummy_int = int(vmax * tie_mult + 1)
    dummy_cost = float(dummy_int)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        cr, cc, cv = row[s:e], col[s:e], val[s:e]
        rows_u, r_loc = np.unique(cr, return_inverse=True)
        prov_u, p_loc = np.unique(cc, return_inverse=True)
        deg = np.bincount(p_loc, minlength=prov_u.shape[0])
        n_slot_p = np.minimum(capacity[prov_u], deg)
        r = rows_u.shape[0]
        use_dense = method == "dense" or (method == "auto" and r <= DENSE_MAX_ROWS)
        if not use_dense and method != "sparse":
            budget = (
                flow_round_budget(r, int(n_slot_p.sum()), int(cr.shape[0]))
                if method == "auto" else None
            )
            served = _solve_component_flow(
                r, r_loc.astype(np.int64), p_loc.astype(np.int64), (vmax - cv) * tie_mult,
                n_slot_p, dummy_int, max_rounds=budget,
            )
            if served is not None:
                got = served >= 0
                provider[rows_u[got]] = prov_u[served[got]]
                continue
        slot_start = np.concatenate([[0], np.cumsum(n_slot_p)])
        n_slots = int(slot_start[-1])
        rep = n_slot_p[p_loc]
        e_idx = np.repeat(np.arange(cr.shape[0], dtype=np.int64), rep)
        k = np.arange(e_idx.shape[0], dtype=np.int64) - np.repeat(np.cumsum(rep) - rep, rep)
        slot = slot_start[p_loc[e_idx]] + k
        cost = ((vmax - cv[e_idx]) * tie_mult + np.minimum(k, TIE_LEVELS - 1) + 1).astype(
            np.float64
        )
        if use_dense:
            ri, si = _solve_component_dense(rows_u, r_loc[e_idx], slot, cost, n_slots, dummy_cost)
        else:
            ri, si = _solve_component_sparse(r, r_loc[e_idx], slot, cost, n_slots, dummy_cost)
        slot_owner = np.repeat(np.arange(prov_u.shape[0], dtype=np.int64), n_slot_p)
        provider[rows_u[ri]] = prov_u[slot_owner[si]]
    return provider


def assign(
    scores: Any,
    capacity: Any,
    *,
    unmatched_penalty: Any = None,
    resolution: float | None = None,
    method: Method = "auto",
) -> Assignment:
    """Maximum-total-score assignment, exact.

    ``scores``: n x m SciPy sparse matrix (a stored entry is an allowed pair and its score >= 0,
    an absent entry is forbidden) or dense array (NaN marks a forbidden pair).
    ``capacity``: integer array of length m (>= 0).
    ``unmatched_penalty``: optional array of length n (>= 0): the extra value of matching row i,
    i.e. what leaving it unmatched costs; the objective is sum(score + penalty) over matched rows.
    ``resolution``: grid of the values (default: 1e-6 when every value is on it, else the finest
    power of two that fits); the result is exactly optimal for the values rounded to the grid.
    ``method``: how components of more than one request and one provider are solved: "auto"
    (dense ``linear_sum_assignment`` up to ``DENSE_MAX_ROWS`` requests, else "flow"), "dense",
    "sparse" (SciPy's LAPJVsp) or "flow" (rounds of multi-source Dijkstra, ``matching._flow``).
    All are exact; among assignments of equal value and equal tie-breaker they may differ.
    """
    cap = np.asarray(capacity)
    if cap.ndim != 1 or (cap.size and not np.issubdtype(cap.dtype, np.integer)):
        raise ValueError("capacity: expected a 1-dimensional integer array")
    cap = cap.astype(np.int64)
    if cap.size and cap.min() < 0:
        raise ValueError("capacity: must be >= 0")
    edges = _edges_from_input(scores, cap.shape[0])
    n = edges.n
    if unmatched_penalty is None:
        pen = np.zeros(n, dtype=np.float64)
    else:
        pen = np.asarray(unmatched_penalty, dtype=np.float64)
        if pen.shape != (n,) or not np.isfinite(pen).all() or (pen.size and pen.min() < 0):
            raise ValueError("unmatched_penalty: expected n finite values >= 0")
    values = edges.score + pen[edges.row]
    deg = np.bincount(edges.row, minlength=n)
    qv, step = _grid(values, resolution, int(min(n, max(1, deg.astype(bool).sum()))))
    provider = solve_edges(edges, cap, qv, method=method)
    total, value = _totals(edges, provider, pen)
    return Assignment(provider=provider, total=total, value=value, resolution=step)


def _totals(edges: Edges, provider: I64, pen: F64) -> tuple[float, float]:
    matched = np.flatnonzero(provider >= 0)
    if matched.size == 0:
        return 0.0, 0.0
    key = edges.row * max(edges.m, 1) + edges.col
    pos = np.searchsorted(key, matched * max(edges.m, 1) + provider[matched])
    chosen = edges.score[pos]
    total = float(np.sum(chosen))
    return total, float(total + np.sum(pen[matched]))
