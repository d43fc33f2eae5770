"""The multi-source Dijkstra solver (matching._flow, method="flow") is exact and deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

import matching.solver as solver
from matching import assign
from matching._flow import assign_rows

from .reference import check_feasible, lp_optimum


def _dense_optimum(n_rows: int, n_cols: int, row: np.ndarray, col: np.ndarray,
                   cost: np.ndarray, dummy: int) -> int:
    """Independent optimum of the row problem: dense LSA with one empty column per row."""
    big = float(2**52)
    mat = np.full((n_rows, n_cols + n_rows), big)
    mat[row, col] = cost
    mat[np.arange(n_rows), n_cols + np.arange(n_rows)] = dummy
    ri, ci = linear_sum_assignment(mat)
    assert np.all(mat[ri, ci] < big)
    return int(mat[ri, ci].astype(np.int64).sum())


def _cost_of(rows_to_cols: np.ndarray, row: np.ndarray, col: np.ndarray, cost: np.ndarray,
             n_cols: int, dummy: int) -> int:
    key = {(int(r), int(c)): int(w) for r, c, w in zip(row, col, cost, strict=True)}
    total = 0
    for r, c in enumerate(rows_to_cols.tolist()):
        total += dummy if c < 0 else key[(r, c)]
    used = rows_to_cols[rows_to_cols >= 0]
    assert np.unique(used).size == used.size, "a column used twice"
    assert np.all(used < n_cols)
    return total


@st.composite
def row_problems(draw: st.DrawFn) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray, int]:
    n_rows = draw(st.integers(0, 25))
    n_cols = draw(st.integers(0, 25))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from([0.1, 0.3, 0.7, 1.0]))
    mask = rng.random((n_rows, n_cols)) < density
    row, col = np.nonzero(mask)
    style = draw(st.sampled_from(["wide", "ties", "binary"]))
    if style == "wide":
        cost = rng.integers(0, 10**9, row.size)
    elif style == "ties":
        cost = rng.integers(0, 4, row.size) * 5
    else:
        cost = np.ones(row.size, dtype=np.int64)
    dummy = int(draw(st.sampled_from([0, 1, 7, 10**9 + 1])))
    return n_rows, n_cols, row.astype(np.int64), col.astype(np.int64), cost.astype(np.int64), dummy


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row_problems())
def test_assign_rows_reaches_the_dense_optimum(p: tuple) -> None:
    n_rows, n_cols, row, col, cost, dummy = p
    got = assign_rows(n_rows, n_cols, row, col, cost, dummy)
    assert got.shape == (n_rows,) and got.dtype == np.int64
    assert _cost_of(got, row, col, cost, n_cols, dummy) == _dense_optimum(
        n_rows, n_cols, row, col, cost, dummy
    )
    assert np.array_equal(got, assign_rows(n_rows, n_cols, row, col, cost, dummy))


def test_assign_rows_refuses_costs_out_of_range() -> None:
    with pytest.raises(ValueError, match="costs"):
        assign_rows(1, 1, np.array([0]), np.array([0]), np.array([-1]), 5)
    with pytest.raises(ValueError, match="costs"):
        assign_rows(1, 1, np.array([0]), np.array([0]), np.array([2**50]), 5)


def _marketplace_like(seed: int, n: int, m: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """One large component: every request sees 8 providers, scores on the 1e-6 grid with ties."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), 8)
    cols = np.concatenate([rng.choice(m, size=8, replace=False) for _ in range(n)])
    score = np.round(rng.random(rows.size) * 100, 6)
    score[rng.random(rows.size) < 0.2] = 50.0
    mat = sp.csr_matrix((score, (rows, cols)), shape=(n, m))
    cap = rng.integers(0, 4, m)
    pen = np.where(rng.random(n) < 0.3, 10.0, 0.0)
    return mat, cap, pen


def _tie_cost(provider: np.ndarray, m: int) -> int:
    load = np.bincount(provider[provider >= 0], minlength=m)
    return sum(sum(min(k, solver.TIE_LEVELS - 1) + 1 for k in range(int(x))) for x in load)


@pytest.mark.parametrize("seed", range(4))
def test_flow_matches_lapjvsp_value_and_tie_breaker_on_large_components(seed: int) -> None:
    mat, cap, pen = _marketplace_like(seed, 1800, 700)
    flow = assign(mat, cap, unmatched_penalty=pen, method="flow")
    lap = assign(mat, cap, unmatched_penalty=pen, method="sparse")
    auto = assign(mat, cap, unmatched_penalty=pen)
    assert np.array_equal(auto.provider, flow.provider)  # auto takes the flow path here
    coo = mat.tocoo()
    dense = np.full(mat.shape, np.nan)
    dense[coo.row, coo.col] = coo.data
    check_feasible(dense, cap, flow.provider)
    # same optimum (integers on the 1e-6 grid) and same secondary objective (spread of load)
    assert round(flow.value * 1e6) == round(lap.value * 1e6)
    assert _tie_cost(flow.provider, mat.shape[1]) == _tie_cost(lap.provider, mat.shape[1])
    again = assign(mat, cap, unmatched_penalty=pen, method="flow")
    assert np.array_equal(again.provider, flow.provider)


@pytest.mark.parametrize("seed", range(3))
def test_flow_reaches_the_lp_optimum(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n, m = 300, 90
    s = np.full((n, m), np.nan)
    for i in range(n):
        cols = rng.choice(m, size=5, replace=False)
        s[i, cols] = np.round(rng.random(5) * 100, 3)
    cap = rng.integers(0, 4, m)
    pen = np.where(rng.random(n) < 0.3, 20.0, 0.0)
    a = assign(s, cap, unmatched_penalty=pen, method="flow")
    check_feasible(s, cap, a.provider)
    assert a.value == pytest.approx(lp_optimum(s, cap, pen), abs=1e-6)


def test_flow_falls_back_to_lapjvsp_when_its_certificate_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mat, cap, pen = _marketplace_like(9, 400, 150)
    expected = assign(mat, cap, unmatched_penalty=pen, method="sparse")

    def broken(*args: object, **kwargs: object) -> np.ndarray:
        raise solver.FlowError("optimality certificate failed")

    monkeypatch.setattr(solver, "assign_rows", broken)
    got = assign(mat, cap, unmatched_penalty=pen, method="flow")
    assert np.array_equal(got.provider, expected.provider)
