"""Seeded, marketplace-like pools for tests and benchmarks (no real data).

Shape of the data: towns clustered around a few cities; skills with skewed popularity on the
demand side and a differently skewed supply (so that some skills are scarce); French spoken by
almost everyone plus a few other languages; a mix of in-person, remote and either formats;
mentors (capacity 1..3) and company offers (capacity 1..3, some project stages only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import F64, Providers, Requests


@dataclass(frozen=True)
class Pool:
    requests: Requests
    providers: Providers
    town_coords: F64


def _csr(rng: np.random.Generator, n: int, lo: int, hi: int, universe: int, p: F64) -> tuple[
    np.ndarray, np.ndarray
]:
    counts = rng.integers(lo, hi + 1, n)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    # draw with replacement, then drop the duplicates of a row
    items = rng.choice(universe, size=int(ptr[-1]), p=p).astype(np.int32)
    row = np.repeat(np.arange(n), counts)
    key = row.astype(np.int64) * universe + items
    _, first = np.unique(key, return_index=True)
    keep = np.zeros(key.shape[0], dtype=bool)
    keep[first] = True
    items = items[keep]
    row = row[keep]
    counts = np.bincount(row, minlength=n)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    order = np.lexsort((items, row))
    return ptr, items[order]


def marketplace(
    n_requests: int,
    n_providers: int,
    *,
    seed: int = 0,
    n_towns: int | None = None,
    n_skills: int = 40,
    n_sectors: int = 16,
) -> Pool:
    """A synthetic pool; same arguments, same pool."""
    rng = np.random.default_rng(seed)
    n, m = n_requests, n_providers
    t = n_towns if n_towns is not None else int(max(8, min(3000, (n + m) // 60)))
    n_cities = max(1, t // 25)
    city = np.column_stack([rng.uniform(43.0, 50.5, n_cities), rng.uniform(-1.5, 7.5, n_cities)])
    town_city = rng.integers(0, n_cities, t)
    coords = city[town_city] + rng.normal(0.0, 0.25, (t, 2))
    town_w = rng.lognormal(0.0, 1.0, t)
    town_w /= town_w.sum()
    # skills: demand and supply popularity differ
    demand = rng.lognormal(0.0, 1.0, n_skills)
    demand /= demand.sum()
    supply = rng.lognormal(0.0, 1.0, n_skills)
    supply /= supply.sum()
    need_ptr, need_skill = _csr(rng, n, 1, 4, n_skills, demand)
    need_imp = rng.choice([1, 2, 3], size=need_skill.shape[0], p=[0.3, 0.4, 0.3])
    skill_ptr, skill_id = _csr(rng, m, 2, 8, n_skills, supply)
    skill_level = rng.choice([1, 2, 3], size=skill_id.shape[0], p=[0.3, 0.45, 0.25])

    def langs(k: int, p_fr: float) -> np.ndarray:
        fr = rng.random(k) < p_fr
        other = np.uint64(1) << rng.integers(1, 8, k).astype(np.uint64)
        has_other = rng.random(k) < 0.25
        mask = np.where(fr, np.uint64(1), np.uint64(0)) | np.where(has_other, other, np.uint64(0))
        out: np.ndarray = np.where(mask == 0, np.uint64(1), mask)
        return out.astype(np.uint64)

    def avail(k: int) -> np.ndarray:
        bits = rng.random((k, 14)) < rng.uniform(0.2, 0.7, (k, 1))
        out: np.ndarray = (bits * (1 << np.arange(14))).sum(axis=1).astype(np.uint32)
        out[rng.random(k) < 0.05] = 0  # not stated
        return out

    r_town = rng.choice(t, size=n, p=town_w).astype(np.int32)
    p_town = rng.choice(t, size=m, p=town_w).astype(np.int32)
    # reach: a few towns of the same city
    reach_counts = rng.integers(0, 6, m)
    reach_ptr = np.concatenate([[0], np.cumsum(reach_counts)]).astype(np.int64)
    towns_by_city = np.argsort(town_city, kind="stable")
    city_start = np.searchsorted(town_city[towns_by_city], np.arange(n_cities))
    city_count = np.bincount(town_city, minlength=n_cities)
    pc = np.repeat(town_city[p_town], reach_counts)
    pick = city_start[pc] + (rng.random(pc.shape[0]) * city_count[pc]).astype(np.int64)
    reach_town = towns_by_city[pick].astype(np.int32)
    p_kind = np.where(rng.random(m) < 0.8, 1, 2).astype(np.int8)
    stages = rng.integers(0, 5, n).astype(np.int32)
    accepted = np.where(
        p_kind == 2,
        (rng.random((m, 5)) < 0.6) @ (1 << np.arange(5)),
        (1 << 5) - 1,
    ).astype(np.uint64)
    accepted[accepted == 0] = 1
    user_r = np.arange(n, dtype=np.int64)
    user_p = np.arange(n, n + m, dtype=np.int64)
    # a few entrepreneurs are also mentors (ambassadors): self-matching must be refused
    amb = rng.random(m) < 0.01
    user_p[amb] = rng.integers(0, max(n, 1), int(amb.sum()))
    pref_counts = (rng.random(n) < 0.03).astype(np.int64)
    pref_ptr = np.concatenate([[0], np.cumsum(pref_counts)]).astype(np.int64)
    pref_ids = (1_000_000 + rng.integers(0, max(m, 1), int(pref_counts.sum()))).astype(np.int64)
    requests = Requests(
        ids=np.arange(1, n + 1, dtype=np.int64),
        town=r_town,
        format=rng.choice([1, 2, 3], size=n, p=[0.35, 0.25, 0.40]).astype(np.int8),
        languages=langs(n, 0.97),
        availability=avail(n),
        priority_tier=rng.choice([0, 1, 2], size=n, p=[0.6, 0.3, 0.1]).astype(np.int8),
        waiting_days=rng.integers(0, 365, n).astype(np.int32),
        sector=np.where(rng.random(n) < 0.1, -1, rng.integers(0, n_sectors, n)).astype(np.int32),
        stage=stages,
        kind=rng.choice([1, 2, 3], size=n, p=[0.6, 0.15, 0.25]).astype(np.int8),
        need_ptr=need_ptr,
        need_skill=need_skill,
        need_importance=need_imp.astype(np.int8),
        user_key=user_r,
        pref_ptr=pref_ptr,
        pref_provider_id=pref_ids,
    )
    n_sec_p = rng.integers(1, 4, m)
    sec_bits = np.zeros(m, dtype=np.uint64)
    for k in range(3):
        b = rng.integers(0, n_sectors, m).astype(np.uint64)
        sec_bits |= np.where(n_sec_p > k, np.uint64(1) << b, np.uint64(0))
    providers = Providers(
        ids=np.arange(1_000_000, 1_000_000 + m, dtype=np.int64),
        kind=p_kind,
        town=p_town,
        reach_ptr=reach_ptr,
        reach_town=reach_town,
        format=rng.choice([1, 2, 3], size=m, p=[0.2, 0.3, 0.5]).astype(np.int8),
        languages=langs(m, 0.98),
        availability=avail(m),
        capacity=rng.integers(1, 4, m).astype(np.int32),
        sectors=sec_bits,
        skill_ptr=skill_ptr,
        skill_id=skill_id,
        skill_level=skill_level.astype(np.int8),
        accepted_stages=accepted,
        user_key=user_p,
    )
    return Pool(requests=requests, providers=providers, town_coords=coords)
