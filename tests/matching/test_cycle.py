"""solve_cycle: proposals, reasons, diagnostics, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from matching import CycleConfig, Providers, Requests, UnmatchedReason, assign, solve_cycle
from matching.synthetic import marketplace

from .pools import AR, FR, TOWNS, providers, requests


def _solve(reqs: Requests, provs: Providers, **kw):  # type: ignore[no-untyped-def]
    return solve_cycle(reqs, provs, CycleConfig(**kw), town_coords=TOWNS)


def _reason(res, request_id: int) -> UnmatchedReason:  # type: ignore[no-untyped-def]
    idx = res.unmatched_request_ids.tolist().index(request_id)
    return res.unmatched_reasons[idx]


def test_each_unmatched_request_gets_the_reason_that_removed_its_providers() -> None:
    reqs = requests(
        {"id": 1, "languages": AR},
        {"id": 2, "format": 1, "town": 2},
        {"id": 3},  # will lose to request 4 (better score)
        {"id": 4, "needs": [(0, 3)], "sector": 0},
        {"id": 5, "kind": 2},
        {"id": 6, "needs": [(7, 3)], "sector": 9, "town": 2, "format": 2, "availability": 1},
        {"id": 7, "user_key": 42, "town": 2, "format": 1},
    )
    provs = providers(
        {"id": 100, "format": 1, "town": 0, "capacity": 1},
        {"id": 101, "format": 3, "town": 0, "capacity": 0, "languages": FR, "reach": [2],
         "user_key": 42},
    )
    res = _solve(reqs, provs, excluded_pairs=np.array([[3, 100]]), priority_bonus=(0.0, 0.0))
    assert res.request_ids.tolist() == [4]
    assert _reason(res, 1) == UnmatchedReason.NO_COMMON_LANGUAGE
    assert _reason(res, 2) == UnmatchedReason.NO_CAPACITY
    assert _reason(res, 3) == UnmatchedReason.NO_CAPACITY  # 100 excluded, 101 has no place
    assert _reason(res, 5) == UnmatchedReason.NO_PROVIDER_OF_KIND
    assert _reason(res, 7) == UnmatchedReason.EXCLUDED  # its only reachable provider is itself


def test_full_providers_and_low_scores_are_told_apart() -> None:
    reqs = requests(
        {"id": 1},
        {"id": 2, "sector": 5},
        {"id": 3, "needs": [(7, 3)], "sector": 9, "availability": 1},
        {"id": 4, "format": 1, "town": 2},
    )
    provs = providers({"id": 100, "capacity": 1, "availability": 2})
    res = _solve(reqs, provs)
    assert res.request_ids.tolist() == [1]
    assert _reason(res, 2) == UnmatchedReason.PROVIDERS_FULL
    assert _reason(res, 3) == UnmatchedReason.BELOW_MIN_SCORE
    assert _reason(res, 4) == UnmatchedReason.NOT_REACHABLE
    assert res.diagnostics.unmatched_by_reason == {
        "providers_full": 1,
        "below_min_score": 1,
        "not_reachable": 1,
    }


def test_proposals_carry_their_breakdown_and_respect_capacity() -> None:
    pool = marketplace(400, 200, seed=5)
    res = solve_cycle(pool.requests, pool.providers, CycleConfig(), town_coords=pool.town_coords)
    assert res.breakdown.shape == (res.matched_count, len(res.criteria))
    assert np.allclose(res.breakdown.sum(axis=1), res.scores, atol=1e-5)
    assert np.all(res.scores >= CycleConfig().min_score)
    assert np.all(np.diff(res.request_ids) > 0)
    d = res.diagnostics
    assert np.all(d.provider_load <= d.provider_capacity)
    load = dict(zip(d.provider_ids.tolist(), d.provider_load.tolist(), strict=True))
    counts = np.unique(res.provider_ids, return_counts=True)
    assert all(load[p] == c for p, c in zip(*counts, strict=True))
    assert d.score_histogram.sum() == res.matched_count
    tot = sum(v[0] for v in d.match_rate_by_tier.values())
    got = sum(v[1] for v in d.match_rate_by_tier.values())
    assert (tot, got) == (400, res.matched_count)
    assert res.matched_count + res.unmatched_request_ids.shape[0] == 400
    assert set(res.timings) == {"prepare", "candidates", "solve", "explain"}


def test_the_cycle_is_the_exact_optimum_of_its_candidate_graph() -> None:
    pool = marketplace(300, 120, seed=6)
    cfg = CycleConfig()
    res = solve_cycle(pool.requests, pool.providers, cfg, town_coords=pool.town_coords)
    # rebuild every allowed pair and solve with assign(): same objective
    from matching.candidates import generate
    from matching.scoring import prepare

    p = prepare(pool.requests, pool.providers, cfg, pool.town_coords)
    c = generate(p, exact=True)
    s = np.full((300, 120), np.nan)
    s[c.ri, c.pj] = c.score
    pen = np.round(cfg.unmatched_penalty(pool.requests), 6)
    a = assign(s, pool.providers.capacity, unmatched_penalty=pen)
    assert res.objective == pytest.approx(a.value, abs=1e-6)
    assert res.total_score == pytest.approx(a.total, abs=1e-4)


def test_blocking_pairs_are_reported_with_their_margin() -> None:
    pool = marketplace(500, 150, seed=7)
    res = solve_cycle(
        pool.requests,
        pool.providers,
        CycleConfig(blocking_margin=2.0, priority_bonus=(30.0, 60.0)),
        town_coords=pool.town_coords,
    )
    d = res.diagnostics
    assert d.blocking_count >= d.blocking_request_ids.shape[0] > 0
    assert np.all(d.blocking_request_gain >= 2.0) and np.all(d.blocking_provider_gain >= 2.0)
    got = dict(zip(res.request_ids.tolist(), res.provider_ids.tolist(), strict=True))
    for r, p in zip(d.blocking_request_ids.tolist(), d.blocking_provider_ids.tolist(), strict=True):
        assert got.get(r) != p
    gmin = np.minimum(d.blocking_request_gain, d.blocking_provider_gain)
    assert np.all(np.diff(gmin) <= 0)


def test_priority_bonus_raises_the_match_rate_of_priority_publics() -> None:
    pool = marketplace(600, 120, seed=8)
    plain = solve_cycle(
        pool.requests, pool.providers, CycleConfig(priority_bonus=(0.0, 0.0),
        waiting_bonus_per_30_days=0.0), town_coords=pool.town_coords
    )
    fair = solve_cycle(
        pool.requests, pool.providers, CycleConfig(priority_bonus=(40.0, 80.0)),
        town_coords=pool.town_coords
    )
    r0 = plain.diagnostics.match_rate_by_tier
    r1 = fair.diagnostics.match_rate_by_tier
    assert r1[2][2] > r0[2][2] and r1[1][2] > r0[1][2]
    assert fair.total_score <= plain.total_score + 1e-6


def _shuffle(pool, seed: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    r, p = pool.requests, pool.providers
    ro = rng.permutation(r.n)
    po = rng.permutation(p.m)
    from matching.cycle import _permute_csr

    need_ptr, (ns, ni) = _permute_csr(r.need_ptr, ro, r.need_skill, r.need_importance)
    pref_ptr, (pi,) = _permute_csr(r.pref_ptr, ro, r.pref_provider_id)
    reqs = Requests(
        ids=r.ids[ro], town=r.town[ro], format=r.format[ro], languages=r.languages[ro],
        availability=r.availability[ro], priority_tier=r.priority_tier[ro],
        waiting_days=r.waiting_days[ro], sector=r.sector[ro], stage=r.stage[ro], kind=r.kind[ro],
        need_ptr=need_ptr, need_skill=ns[::-1][::-1], need_importance=ni,
        user_key=r.user_key[ro], pref_ptr=pref_ptr, pref_provider_id=pi,
    )
    reach_ptr, (rt,) = _permute_csr(p.reach_ptr, po, p.reach_town)
    skill_ptr, (si, sl) = _permute_csr(p.skill_ptr, po, p.skill_id, p.skill_level)
    provs = Providers(
        ids=p.ids[po], kind=p.kind[po], town=p.town[po], reach_ptr=reach_ptr, reach_town=rt,
        format=p.format[po], languages=p.languages[po], availability=p.availability[po],
        capacity=p.capacity[po], sectors=p.sectors[po], skill_ptr=skill_ptr, skill_id=si,
        skill_level=sl, accepted_stages=p.accepted_stages[po], user_key=p.user_key[po],
    )
    return reqs, provs


@pytest.mark.parametrize("exact_threshold", [10**9, 0])
def test_same_input_in_any_order_gives_the_same_result_bit_for_bit(exact_threshold: int) -> None:
    pool = marketplace(700, 300, seed=9)
    cfg = CycleConfig(exact_threshold=exact_threshold)
    a = solve_cycle(pool.requests, pool.providers, cfg, town_coords=pool.town_coords)
    reqs, provs = _shuffle(pool, 1)
    b = solve_cycle(reqs, provs, cfg, town_coords=pool.town_coords)
    assert a.input_hash == b.input_hash
    assert np.array_equal(a.request_ids, b.request_ids)
    assert np.array_equal(a.provider_ids, b.provider_ids)
    assert a.scores.tobytes() == b.scores.tobytes()
    assert a.breakdown.tobytes() == b.breakdown.tobytes()
    assert a.unmatched_reasons == b.unmatched_reasons
    assert a.objective == b.objective
    c = solve_cycle(pool.requests, pool.providers, CycleConfig(min_score=21), town_coords=pool.town_coords)
    assert c.input_hash != a.input_hash


def test_progress_is_reported_for_every_stage() -> None:
    pool = marketplace(100, 40, seed=10)
    seen: list[tuple[str, float]] = []
    solve_cycle(
        pool.requests, pool.providers, town_coords=pool.town_coords,
        progress=lambda s, f: seen.append((s, f)),
    )
    stages = [s for s, _ in seen]
    assert stages[0] == "prepare" and stages[-1] == "explain"
    assert {"prepare", "candidates", "solve", "explain"} <= set(stages)
    assert all(0.0 <= f <= 1.0 for _, f in seen)


def test_empty_pools() -> None:
    res = _solve(requests({}), providers({"capacity": 0}))
    assert res.matched_count == 0
    assert res.unmatched_reasons == (UnmatchedReason.NO_CAPACITY,)
    empty = requests({})
    empty = Requests(**{f: getattr(empty, f)[:0] if f not in ("need_ptr", "pref_ptr") else
                        getattr(empty, f)[:1] for f in empty.__dataclass_fields__})
    res = _solve(empty, providers({}))
    assert res.matched_count == 0 and res.unmatched_request_ids.shape == (0,)
