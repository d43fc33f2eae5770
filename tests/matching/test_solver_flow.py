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
from matching._flow import assign_providers

from .reference import check_feasible, lp_optimum


def _dense_optimum(n_prov: int, n_req: int, prov: np.ndarray, req: np.ndarray,
                   base: np.ndarray, n_slot: np.ndarray, tie: np.ndarray, dummy: int) -> int:
    """Independent optimum: dense LSA, one row per slot (k-th slot of j costs base + tie[k]),
    one private empty column per slot at ``dummy``."""
    big = float(2**52)
    n_s = int(n_slot.sum())
    start = np.concatenate([[0], np.cumsum(n_slot)])
    mat = np.full((n_s, n_req + n_s), big)
    for j, i, b in zip(prov.tolist(), req.tolist(), base.tolist(), strict=True):
        for k in range(int(n_slot[j])):
            mat[start[j] + k, i] = b + tie[min(k, tie.size - 1)]
    mat[np.arange(n_s), n_req + np.arange(n_s)] = dummy
    ri, ci = linear_sum_assignment(mat)
    assert np.all(mat[ri, ci] < big)
    return int(mat[ri, ci].astype(np.int64).sum())


def _cost_of(served: np.ndarray, prov: np.ndarray, req: np.ndarray, base: np.ndarray,
             n_slot: np.ndarray, tie: np.ndarray, dummy: int) -> int:
    """Cost of a service: pairs used, the cheapest slots of each provider, empties."""
    key = {(int(j), int(i)): int(b) for j, i, b in zip(prov, req, base, strict=True)}
    total = 0
    for i, j in enumerate(served.tolist()):
        if j >= 0:
            total += key[(j, i)]  # a forbidden pair raises KeyError
    load = np.bincount(served[served >= 0], minlength=n_slot.size)
    assert np.all(load <= n_slot), "capacity exceeded"
    for j in range(n_slot.size):
        total += sum(int(tie[min(k, tie.size - 1)]) for k in range(int(load[j])))
        total += dummy * int(n_slot[j] - load[j])
    return total


@st.composite
def provider_problems(draw: st.DrawFn) -> tuple:
    n_prov = draw(st.integers(0, 8))
    n_req = draw(st.integers(0, 16))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from([0.1, 0.3, 0.7, 1.0]))
    mask = rng.random((n_prov, n_req)) < density
    prov, req = np.nonzero(mask)
    style = draw(st.sampled_from(["wide", "ties", "binary"]))
    if style == "wide":
        base = rng.integers(0, 10**9, prov.size)
    elif style == "ties":
        base = rng.integers(0, 4, prov.size) * 5
    else:
        base = np.zeros(prov.size, dtype=np.int64)
    deg = np.bincount(prov, minlength=n_prov)
    n_slot = np.minimum(rng.integers(0, 4, n_prov), deg)
    tie = np.array(draw(st.sampled_from([[0], [1, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8]])))
    dummy = int(draw(st.sampled_from([0, 1, 7, 10**9 + 9])))
    return (n_prov, n_req, prov.astype(np.int64), req.astype(np.int64), base.astype(np.int64),
            n_slot.astype(np.int64), tie.astype(np.int64), dummy)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(provider_problems())
def test_assign_providers_reaches_the_dense_optimum(p: tuple) -> None:
    got = assign_providers(*p)
    n_prov, n_req = p[0], p[1]
    assert got.shape == (n_req,) and got.dtype == np.int64
    assert np.all(got < max(n_prov, 1))
    assert _cost_of(got, *p[2:]) == _dense_optimum(*p)
    assert np.array_equal(got, assign_providers(*p))


@pytest.mark.parametrize("seed", range(4))
def test_assign_providers_reaches_the_dense_optimum_on_seeded_larger_instances(seed: int) -> None:
    """More providers, requests and places than the hypothesis cases, so that augmenting paths
    run through several providers and end at released places as well as at free requests (a
    wrong choice between the two there is caught here, not by the cases above)."""
    rng0 = np.random.default_rng(seed)
    for _ in range(150):
        rng = np.random.default_rng(rng0.integers(2**32))
        n_prov, n_req = int(rng.integers(1, 14)), int(rng.integers(1, 24))
        mask = rng.random((n_prov, n_req)) < rng.choice([0.2, 0.5, 1.0])
        prov, req = np.nonzero(mask)
        base = [
            rng.integers(0, 10**9, prov.size),
            rng.integers(0, 4, prov.size) * 5,
            np.zeros(prov.size, dtype=np.int64),
        ][int(rng.integers(3))]
        n_slot = np.minimum(rng.integers(0, 5, n_prov), np.bincount(prov, minlength=n_prov))
        tie = np.array([[0], [1, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8]][int(rng.integers(3))])
        dummy = int(rng.choice([0, 1, 7, 10**9 + 9]))
        p = (n_prov, n_req, prov.astype(np.int64), req.astype(np.int64), base.astype(np.int64),
             n_slot.astype(np.int64), tie.astype(np.int64), dummy)
        got = assign_providers(*p)
        assert _cost_of(got, *p[2:]) == _dense_optimum(*p)


def test_assign_providers_refuses_costs_out_of_range() -> None:
    one = np.array([0])
    with pytest.raises(ValueError, match="costs"):
        assign_providers(1, 1, one, one, np.array([-1]), np.array([1]), np.array([1]), 5)
    with pytest.raises(ValueError, match="costs"):
        assign_providers(1, 1, one, one, np.array([2**50]), np.array([1]), np.array([1]), 5)
    with pytest.raises(ValueError, match="nondecreasing"):
        assign_providers(1, 1, one, one, np.array([3]), np.array([2]), np.array([2, 1]), 5)


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

    monkeypatch.setattr(solver, "assign_providers", broken)
    got = assign(mat, cap, unmatched_penalty=pen, method="flow")
    assert np.array_equal(got.provider, expected.provider)


def test_flow_stops_at_its_round_budget() -> None:
    # every score equal: each round serves one slot, so 40 slots need 40 rounds
    n_prov, n_req = 40, 60
    prov = np.repeat(np.arange(n_prov), n_req)
    req = np.tile(np.arange(n_req), n_prov)
    base = np.full(prov.shape[0], 5, dtype=np.int64)
    n_slot = np.ones(n_prov, dtype=np.int64)
    tie = np.arange(8, dtype=np.int64) + 1
    with pytest.raises(solver.FlowError, match="round budget of 10 exceeded"):
        assign_providers(n_prov, n_req, prov, req, base, n_slot, tie, 100, max_rounds=10)
    served = assign_providers(n_prov, n_req, prov, req, base, n_slot, tie, 100, max_rounds=None)
    assert (served >= 0).sum() == n_prov


def test_auto_hands_tie_heavy_components_to_lapjvsp_within_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a dense component of equal scores (one slot per round for the flow path): under "auto" the
    # rounds stop at the budget and LAPJVsp gives the same optimum as forcing it
    n, m = 400, 300
    mat = np.full((n, m), 50.0)
    cap = np.ones(m, dtype=np.int64)
    budget = solver.flow_round_budget(n, m, n * m)
    assert budget == solver.MIN_FLOW_ROUNDS
    calls: list[int | None] = []
    real = solver.assign_providers

    def spy(*args: object, **kwargs: object) -> np.ndarray:
        calls.append(kwargs.get("max_rounds"))  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(solver, "assign_providers", spy)
    got = assign(mat, cap)
    assert calls == [budget]
    expected = assign(mat, cap, method="sparse")
    assert np.array_equal(got.provider, expected.provider)
    assert got.total == expected.total == 50.0 * m
    forced = assign(mat, cap, method="flow")  # no budget when the method is forced
    assert calls == [budget, None]
    assert forced.total == expected.total


def test_round_budget_leaves_marketplace_pools_on_the_flow_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the budget only stops degenerate graphs: a marketplace-like pool is solved by the rounds
    mat, cap, pen = _marketplace_like(3, 600, 250)
    outcomes: list[str] = []
    real = solver.assign_providers

    def spy(*args: object, **kwargs: object) -> np.ndarray:
        try:
            served = real(*args, **kwargs)  # type: ignore[arg-type]
        except solver.FlowError:
            outcomes.append("stopped")
            raise
        outcomes.append(f"solved within {kwargs.get('max_rounds')} rounds")
        return served

    monkeypatch.setattr(solver, "assign_providers", spy)
    got = assign(mat, cap, unmatched_penalty=pen)
    assert len(outcomes) == 1 and outcomes[0].startswith("solved within"), outcomes
    assert got.value == assign(mat, cap, unmatched_penalty=pen, method="sparse").value
