"""The reason given to an unmatched request without candidates equals a brute-force reading of
every (request, provider) pair's first hard constraint, on random pools built to reach every
reason: rare languages, in-person-only pools, sponsorship stages, providers without places,
exclusions covering all of a request's providers, and the same person on both sides."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from matching import CycleConfig, UnmatchedReason, explain
from matching.candidates import Candidates, generate
from matching.explain import unmatched_reasons
from matching.scoring import C_EXCLUDED, C_FORMAT, C_KIND, C_LANGUAGE, constraint_codes, prepare

from .test_candidates_exact import VARIANTS, _pool


def _brute_reason(p, i: int) -> UnmatchedReason:  # type: ignore[no-untyped-def]
    """The first constraint that leaves no provider, reading every pair of request i."""
    m = p.m
    code = constraint_codes(p, np.full(m, i, dtype=np.int64), np.arange(m, dtype=np.int64))
    kind = code != C_KIND
    lang = kind & (code != C_LANGUAGE)
    meet = lang & (code != C_FORMAT)
    ok = meet & (code != C_EXCLUDED)
    cap = ok & (p.providers.capacity > 0)
    for alive, reason in (
        (kind, UnmatchedReason.NO_PROVIDER_OF_KIND),
        (lang, UnmatchedReason.NO_COMMON_LANGUAGE),
        (meet, UnmatchedReason.NOT_REACHABLE),
        (ok, UnmatchedReason.EXCLUDED),
        (cap, UnmatchedReason.NO_CAPACITY),
    ):
        if not alive.any():
            return reason
    return UnmatchedReason.BELOW_MIN_SCORE


def _pool_for(seed: int, n: int, m: int, variant: str):  # type: ignore[no-untyped-def]
    requests, providers, coords = _pool(seed, n, m, variant)
    if seed == 0:
        # mentors only: sponsorship requests find no provider of their kind
        providers = dataclasses.replace(providers, kind=np.ones(m, dtype=np.int8))
    return requests, providers, coords


def _no_candidates() -> Candidates:
    e = np.zeros(0, dtype=np.int64)
    return Candidates(ri=e, pj=e, score=np.zeros(0), crit=np.zeros((0, 5)), exact=False)


@pytest.mark.parametrize("chunk", [None, 7])
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", range(5))
def test_reasons_equal_a_reading_of_every_pair(
    variant: str, seed: int, chunk: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chunk is not None:
        monkeypatch.setattr(explain, "PAIRS_PER_CHUNK", chunk)  # many small chunks
    rng = np.random.default_rng(2000 + seed)
    n, m = int(rng.integers(20, 90)), int(rng.integers(1, 60))
    requests, providers, coords = _pool_for(seed, n, m, variant)
    # random exclusions, plus a few requests that exclude every provider or all but one
    ex = [np.column_stack([rng.integers(1, n + 1, 15), rng.integers(100, 100 + m, 15)])]
    for rid in rng.choice(np.arange(1, n + 1), size=3, replace=False):
        keep = int(rng.integers(-1, m))  # -1: every provider excluded
        pids = np.array([100 + j for j in range(m) if j != keep], dtype=np.int64)
        ex.append(np.column_stack([np.full(pids.shape[0], rid), pids]))
    cfg = CycleConfig(excluded_pairs=np.concatenate(ex), min_score=float(rng.choice([20, 90])))
    p = prepare(requests, providers, cfg, coords)
    everyone = np.arange(n, dtype=np.int64)[::-1]  # any order, each reason at its place
    got = unmatched_reasons(p, _no_candidates(), everyone)
    want = tuple(_brute_reason(p, int(i)) for i in everyone)
    assert got == want
    # with the real candidates: requests with a candidate lost it to others
    cand = generate(p, exact=False)
    has = set(cand.ri.tolist())
    got = unmatched_reasons(p, cand, everyone)
    assert got == tuple(
        UnmatchedReason.PROVIDERS_FULL if int(i) in has else w
        for i, w in zip(everyone, want, strict=True)
    )


def test_every_reason_is_reached_by_these_pools() -> None:
    """The comparison above is only as good as the reasons it meets: it meets all six."""
    seen: set[UnmatchedReason] = set()
    for variant in VARIANTS:
        for seed in range(5):
            rng = np.random.default_rng(2000 + seed)
            n, m = int(rng.integers(20, 90)), int(rng.integers(1, 60))
            requests, providers, coords = _pool_for(seed, n, m, variant)
            rid = int(rng.integers(1, n + 1))
            ex = np.column_stack([np.full(m, rid), 100 + np.arange(m)])
            p = prepare(requests, providers, CycleConfig(excluded_pairs=ex, min_score=90.0),
                        coords)
            seen.update(unmatched_reasons(p, _no_candidates(), np.arange(n, dtype=np.int64)))
    assert seen == set(UnmatchedReason) - {UnmatchedReason.PROVIDERS_FULL}
