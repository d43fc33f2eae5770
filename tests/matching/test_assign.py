"""assign() is exactly optimal: checked against the LP optimum (HiGHS) on many instances."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching import Assignment, assign

from .reference import check_feasible, lp_optimum

TOL = 1e-6


@st.composite
def instances(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    n = draw(st.integers(0, 14))
    m = draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    style = draw(st.sampled_from(["float", "ties", "binary", "one_provider", "decimal"]))
    if style == "float":
        s = rng.random((n, m)) * 100
    elif style == "ties":
        s = rng.integers(0, 3, (n, m)).astype(float) * 10
    elif style == "binary":
        s = np.ones((n, m))
    elif style == "decimal":
        s = np.round(rng.random((n, m)) * 100, 6)
    else:
        s = np.full((n, m), np.nan)
        s[:, 0] = rng.integers(0, 5, n) * 7.5
    density = draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))
    s[rng.random((n, m)) > density] = np.nan
    if n and draw(st.booleans()):
        s[rng.integers(0, n)] = np.nan  # an empty row
    cap = rng.integers(0, 4, m)
    if draw(st.booleans()):
        cap[rng.integers(0, m)] = 0
    pen = rng.random(n) * 30 if draw(st.booleans()) else None
    return s, cap, pen


def _check(s: np.ndarray, cap: np.ndarray, pen: np.ndarray | None, a: Assignment) -> None:
    check_feasible(s, cap, a.provider)
    got = np.flatnonzero(a.provider >= 0)
    total = float(np.sum(s[got, a.provider[got]]))
    assert a.total == pytest.approx(total, abs=TOL)
    best = lp_optimum(s, cap, pen)
    value = total + (float(np.sum(pen[got])) if pen is not None else 0.0)
    assert value == pytest.approx(a.value, abs=TOL)
    assert value >= best - TOL, f"suboptimal: {value} < {best}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.sampled_from(["auto", "dense", "sparse", "flow"]))
def test_assign_reaches_the_lp_optimum(inst: tuple, method: str) -> None:
    s, cap, pen = inst
    a = assign(s, cap, unmatched_penalty=pen, method=method)  # type: ignore[arg-type]
    _check(s, cap, pen, a)


@settings(max_examples=40, deadline=None)
@given(instances())
def test_sparse_input_gives_the_same_optimum_as_dense(inst: tuple) -> None:
    s, cap, pen = inst
    mask = ~np.isnan(s)
    r, c = np.nonzero(mask)
    mat = sp.csr_matrix((s[r, c], (r, c)), shape=s.shape)
    a = assign(mat, cap, unmatched_penalty=pen)
    _check(s, cap, pen, a)
    assert a.value == pytest.approx(assign(s, cap, unmatched_penalty=pen).value, abs=TOL)


def test_a_stored_zero_is_an_allowed_pair() -> None:
    mat = sp.csr_matrix((np.array([0.0]), (np.array([0]), np.array([0]))), shape=(1, 1))
    assert assign(mat, np.array([1])).total == 0.0
    dense = np.array([[np.nan]])
    a = assign(dense, np.array([1]))
    assert a.provider.tolist() == [-1] and a.total == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_large_components_are_optimal_on_the_sparse_path(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = 400, 150
    s = np.full((n, m), np.nan)
    for i in range(n):
        cols = rng.choice(m, size=6, replace=False)
        s[i, cols] = np.round(rng.random(6) * 100, 3)
    cap = rng.integers(0, 4, m)
    pen = np.where(rng.random(n) < 0.3, 20.0, 0.0)
    for method in ("sparse", "dense", "flow", "auto"):
        a = assign(s, cap, unmatched_penalty=pen, method=method)  # type: ignore[arg-type]
        _check(s, cap, pen, a)


def test_one_provider_for_everyone_takes_the_best_requests() -> None:
    s = np.array([[10.0], [30.0], [20.0], [30.0]])
    a = assign(s, np.array([2]))
    assert sorted(np.flatnonzero(a.provider == 0).tolist()) == [1, 3]
    assert a.total == 60.0


def test_forbidden_everything_and_empty_inputs() -> None:
    a = assign(np.full((3, 2), np.nan), np.array([1, 1]))
    assert a.provider.tolist() == [-1, -1, -1] and a.total == 0.0 and a.matched_count == 0
    a = assign(np.zeros((0, 2)), np.array([1, 1]))
    assert a.provider.shape == (0,)
    a = assign(np.zeros((2, 0)), np.zeros(0, dtype=np.int64))
    assert a.provider.tolist() == [-1, -1]


def test_penalty_makes_the_solver_prefer_a_priority_request() -> None:
    s = np.array([[50.0], [45.0]])
    assert assign(s, np.array([1])).provider.tolist() == [0, -1]
    a = assign(s, np.array([1]), unmatched_penalty=np.array([0.0, 10.0]))
    assert a.provider.tolist() == [-1, 0]
    assert a.total == 45.0 and a.value == 55.0


def test_ties_are_broken_the_same_way_every_time_and_spread_load() -> None:
    s = np.full((4, 2), 10.0)
    first = assign(s, np.array([4, 4])).provider
    for _ in range(3):
        assert np.array_equal(assign(s, np.array([4, 4])).provider, first)
    assert sorted(np.bincount(first, minlength=2).tolist()) == [2, 2]


def test_the_result_does_not_depend_on_the_solver_path_for_unique_optima() -> None:
    rng = np.random.default_rng(7)
    s = rng.random((60, 20)) * 100
    s[rng.random(s.shape) < 0.6] = np.nan
    cap = rng.integers(1, 3, 20)
    p = [assign(s, cap, method=m).provider for m in ("dense", "sparse", "flow")]  # type: ignore[arg-type]
    assert np.array_equal(p[0], p[1])
    assert np.array_equal(p[0], p[2])


@pytest.mark.parametrize(
    ("scores", "capacity", "match"),
    [
        (np.array([[1.0, -1.0]]), np.array([1, 1]), "scores"),
        (np.array([[1.0, np.inf]]), np.array([1, 1]), "scores"),
        (np.array([1.0, 2.0]), np.array([1, 1]), "scores"),
        (np.array([[1.0, 2.0]]), np.array([1]), "capacity"),
        (np.array([[1.0, 2.0]]), np.array([1, -1]), "capacity"),
        (np.array([[1.0, 2.0]]), np.array([1.5, 1.0]), "capacity"),
    ],
)
def test_invalid_input_is_refused(scores: np.ndarray, capacity: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        assign(scores, capacity)


def test_penalty_must_be_valid() -> None:
    with pytest.raises(ValueError, match="unmatched_penalty"):
        assign(np.ones((2, 1)), np.array([1]), unmatched_penalty=np.array([1.0]))
