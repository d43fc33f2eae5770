"""The pruned candidate graph is exactly its definition: each request's best K providers and
each provider's best K' requests by exact score (ties by index), compared with a brute-force
reference on random pools built to stress the partitioned scan: many equal scores, remote-only
and in-person-only pools, a single town, rare languages, sponsorship stages, exclusions,
self-matches, preferences and providers without places."""

from __future__ import annotations

import numpy as np
import pytest

from matching import CycleConfig, Providers, Requests, candidates
from matching.candidates import generate
from matching.scoring import OK, prepare, score_pairs


def _pool(seed: int, n: int, m: int, variant: str) -> tuple[Requests, Providers, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_towns = 1 if variant == "one_town" else int(rng.integers(2, 12))
    coords = np.column_stack(
        [44.8 + rng.normal(0, 0.2, n_towns), -0.5 + rng.normal(0, 0.2, n_towns)]
    )
    # few skills, levels and availability patterns: many exactly equal scores
    ties = variant == "ties"
    n_skills = 2 if ties else 6
    r_fmt = {"remote": [2], "in_person": [1]}.get(variant, [1, 2, 3])
    p_fmt = {"remote": [2, 3], "in_person": [1]}.get(variant, [1, 2, 3])
    rare = variant == "rare_languages"

    def langs(k: int) -> np.ndarray:
        if rare:
            return (np.uint64(1) << rng.integers(0, 4, k).astype(np.uint64)).astype(np.uint64)
        return np.where(rng.random(k) < 0.9, 1, 2).astype(np.uint64)

    def avail(k: int) -> np.ndarray:
        if ties:
            return rng.choice([0, 3, 15], size=k).astype(np.uint32)
        return rng.integers(0, 1 << 6, k).astype(np.uint32)

    need_counts = rng.integers(0 if not ties else 1, 3, n)
    need_skill = rng.integers(0, n_skills, int(need_counts.sum()))
    # one need per skill per request
    row = np.repeat(np.arange(n), need_counts)
    k_u = np.unique(row * n_skills + need_skill)
    row, need_skill = k_u // n_skills, k_u % n_skills
    need_counts = np.bincount(row, minlength=n)
    skill_counts = rng.integers(0, 4, m)
    p_row = np.repeat(np.arange(m), skill_counts)
    p_sk = np.unique(p_row * n_skills + rng.integers(0, n_skills, int(skill_counts.sum())))
    p_row, p_skill = p_sk // n_skills, p_sk % n_skills
    skill_counts = np.bincount(p_row, minlength=m)
    pref_counts = (rng.random(n) < 0.2).astype(np.int64)
    reach_counts = rng.integers(0, 3, m)
    user_r = np.arange(n, dtype=np.int64)
    user_p = np.where(rng.random(m) < 0.05, rng.integers(0, n, m), -1).astype(np.int64)
    requests = Requests(
        ids=np.arange(1, n + 1, dtype=np.int64),
        town=rng.integers(0, n_towns, n).astype(np.int32),
        format=rng.choice(r_fmt, size=n).astype(np.int8),
        languages=langs(n),
        availability=avail(n),
        priority_tier=np.zeros(n, dtype=np.int8),
        waiting_days=np.zeros(n, dtype=np.int32),
        sector=rng.integers(-1, 2 if ties else 4, n).astype(np.int32),
        stage=rng.integers(0, 3, n).astype(np.int32),
        kind=rng.choice([1, 2, 3], size=n).astype(np.int8),
        need_ptr=np.concatenate([[0], np.cumsum(need_counts)]).astype(np.int64),
        need_skill=need_skill.astype(np.int32),
        need_importance=(
            np.full(need_skill.shape[0], 2) if ties else rng.integers(1, 4, need_skill.shape[0])
        ).astype(np.int8),
        user_key=user_r,
        pref_ptr=np.concatenate([[0], np.cumsum(pref_counts)]).astype(np.int64),
        pref_provider_id=(100 + rng.integers(0, m, int(pref_counts.sum()))).astype(np.int64),
    )
    providers = Providers(
        ids=np.arange(100, 100 + m, dtype=np.int64),
        kind=rng.choice([1, 2], size=m).astype(np.int8),
        town=rng.integers(0, n_towns, m).astype(np.int32),
        reach_ptr=np.concatenate([[0], np.cumsum(reach_counts)]).astype(np.int64),
        reach_town=rng.integers(0, n_towns, int(reach_counts.sum())).astype(np.int32),
        format=rng.choice(p_fmt, size=m).astype(np.int8),
        languages=langs(m),
        availability=avail(m),
        capacity=rng.integers(0, 3, m).astype(np.int32),
        sectors=rng.integers(0, 1 << (2 if ties else 4), m).astype(np.uint64),
        skill_ptr=np.concatenate([[0], np.cumsum(skill_counts)]).astype(np.int64),
        skill_id=p_skill.astype(np.int32),
        skill_level=(
            np.full(p_skill.shape[0], 3) if ties else rng.integers(1, 4, p_skill.shape[0])
        ).astype(np.int8),
        accepted_stages=rng.integers(1, 8, m).astype(np.uint64),
        user_key=user_p,
    )
    return requests, providers, coords


def _brute(p, n: int, m: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    ri, pj = np.divmod(np.arange(n * m, dtype=np.int64), m)
    s, _, code = score_pairs(p, ri, pj)
    ok = (code == OK) & (p.providers.capacity[pj] > 0)
    out: np.ndarray = np.where(ok, s, -1.0).reshape(n, m)
    return out


def _reference(s: np.ndarray, k: int, kp: int) -> set[tuple[int, int]]:
    n, m = s.shape
    want: set[tuple[int, int]] = set()
    for i in range(n):
        for j in np.lexsort((np.arange(m), -s[i]))[:k]:
            if s[i, j] >= 0:
                want.add((i, int(j)))
    for j in range(m):
        for i in np.lexsort((np.arange(n), -s[:, j]))[:kp]:
            if s[i, j] >= 0:
                want.add((int(i), j))
    return want


VARIANTS = ["mixed", "ties", "remote", "in_person", "one_town", "rare_languages"]


@pytest.mark.parametrize("block_elements", [None, 400])
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", range(4))
def test_pruned_candidates_are_exactly_the_top_k_and_k_prime(
    variant: str, seed: int, block_elements: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if block_elements is not None:
        # a few rows per block: running column thresholds across many blocks
        monkeypatch.setattr(candidates, "BLOCK_ELEMENTS", block_elements)
        monkeypatch.setattr(candidates, "EXACT_CHUNK", 97)
    rng = np.random.default_rng(1000 + seed)
    n, m = int(rng.integers(30, 160)), int(rng.integers(20, 140))
    requests, providers, coords = _pool(seed, n, m, variant)
    k, kp = int(rng.integers(1, 6)), int(rng.integers(0, 4))
    min_score = float(rng.choice([0.0, 10.0, 20.0, 35.0]))
    ex = np.column_stack([rng.integers(1, n + 1, 15), rng.integers(100, 100 + m, 15)])
    cfg = CycleConfig(
        candidates_per_request=k,
        candidates_per_provider=kp,
        min_score=min_score,
        excluded_pairs=ex,
    )
    p = prepare(requests, providers, cfg, coords)
    s = _brute(p, n, m)
    c = generate(p, exact=False)
    got = set(zip(c.ri.tolist(), c.pj.tolist(), strict=True))
    assert got == _reference(s, k, kp)
    assert np.array_equal(c.score, s[c.ri, c.pj])
    key = c.ri * m + c.pj
    assert np.all(np.diff(key) > 0), "sorted by (request, provider), no duplicates"
    # exact mode: every allowed pair
    e = generate(p, exact=True)
    r, q = np.nonzero(s >= 0)
    assert np.array_equal(e.ri, r) and np.array_equal(e.pj, q)
    assert np.array_equal(e.score, s[r, q])
