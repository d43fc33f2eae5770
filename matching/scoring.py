"""Pair scoring: hard constraints and the weighted score in [0, 100] with its breakdown.

The score of an allowed pair (request i, provider j) is

    score = 100 * sum_c w_c * x_c(i, j)          (w normalised to sum 1, x_c in [0, 1])

rounded to 6 decimals, with the criteria x_c of ``CRITERIA`` (see docs/matching.md).
Everything is vectorised over lists of pairs and computed in float64 without BLAS, so that the
same pairs always give the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .model import (
    CRITERIA,
    F64,
    FORMAT_IN_PERSON,
    FORMAT_REMOTE,
    I64,
    KIND_SPONSORSHIP,
    CycleConfig,
    Providers,
    Requests,
)

EARTH_RADIUS_KM = 6371.0088
SCORE_DECIMALS = 6

# Codes of the first hard constraint a pair violates (0: allowed).
OK = 0
C_KIND = 1  # kind (mentor / sponsorship) or project stage not accepted by the offer
C_LANGUAGE = 2
C_FORMAT = 3  # no common format, or in person only and not reachable
C_EXCLUDED = 4  # excluded pair or self-match
C_MIN_SCORE = 5
CONSTRAINT_NAMES = {
    OK: "",
    C_KIND: "kind_or_stage",
    C_LANGUAGE: "no_common_language",
    C_FORMAT: "format_or_reach",
    C_EXCLUDED: "excluded_or_self",
    C_MIN_SCORE: "below_min_score",
}

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount32(x: npt.NDArray[np.uint32]) -> npt.NDArray[np.int64]:
    """Number of set bits of each uint32."""
    b = np.ascontiguousarray(x, dtype=np.uint32).view(np.uint8).reshape(-1, 4)
    out: npt.NDArray[np.int64] = _POPCOUNT8[b].sum(axis=1, dtype=np.int64)
    return out


@dataclass(frozen=True)
class Prepared:
    """Derived arrays shared by scoring, candidate generation and explanations."""

    requests: Requests
    providers: Providers
    config: CycleConfig
    town_coords: F64  # (T, 2) degrees
    weights: F64  # normalised, order of CRITERIA
    n_skills: int
    need_skill: npt.NDArray[np.int32]  # dense skill index per need
    need_weight: F64  # importance / total importance of the request (0 if no needs)
    need_row: I64  # request index of each need
    level: npt.NDArray[np.int8]  # (m, n_skills) provider level per dense skill (0..3)
    reach_key: I64  # sorted provider * T + town, in-person reach besides own town
    excluded_key: I64  # sorted request_index * m + provider_index
    pref_key: I64  # sorted request_index * m + provider_index
    town_xyz: F64  # (T, 3) unit vectors of the towns

    @property
    def n(self) -> int:
        return self.requests.n

    @property
    def m(self) -> int:
        return self.providers.m


def _index_of(ids: I64, wanted: I64) -> I64:
    """Index of each wanted id in ids (-1 when absent)."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    pos = np.searchsorted(sorted_ids, wanted)
    pos = np.minimum(pos, max(sorted_ids.shape[0] - 1, 0))
    found = sorted_ids.shape[0] > 0
    out = np.full(wanted.shape[0], -1, dtype=np.int64)
    if found:
        hit = sorted_ids[pos] == wanted
        out[hit] = order[pos[hit]]
    return out


def prepare(
    requests: Requests, providers: Providers, config: CycleConfig, town_coords: Any
) -> Prepared:
    """Validate cross-references and precompute the arrays used by every stage."""
    coords = np.ascontiguousarray(town_coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError("town_coords: expected a float array of shape (T, 2) (lat, lon degrees)")
    if not np.isfinite(coords).all():
        raise ValueError("town_coords: coordinates must be finite")
    n_towns = coords.shape[0]
    for name, towns in (
        ("Requests.town", requests.town),
        ("Providers.town", providers.town),
        ("Providers.reach_town", providers.reach_town),
    ):
        if towns.size and towns.max() >= n_towns:
            raise ValueError(f"{name}: town index {int(towns.max())} >= len(town_coords)")
    n, m = requests.n, providers.m
    skills, inverse = np.unique(
        np.concatenate([requests.need_skill, providers.skill_id]), return_inverse=True
    )
    n_skills = int(skills.shape[0])
    need_skill = inverse[: requests.need_skill.shape[0]].astype(np.int32)
    prov_skill = inverse[requests.need_skill.shape[0] :].astype(np.int64)
    need_row = np.repeat(np.arange(n, dtype=np.int64), np.diff(requests.need_ptr))
    imp = requests.need_importance.astype(np.float64)
    total_imp = np.bincount(need_row, weights=imp, minlength=n)
    need_weight = imp / np.where(total_imp[need_row] > 0, total_imp[need_row], 1.0)
    level = np.zeros((m, n_skills), dtype=np.int8)
    prov_row = np.repeat(np.arange(m, dtype=np.int64), np.diff(providers.skill_ptr))
    # a skill listed twice counts at its highest level
    np.maximum.at(level, (prov_row, prov_skill), providers.skill_level)
    reach_row = np.repeat(np.arange(m, dtype=np.int64), np.diff(providers.reach_ptr))
    reach_key = np.unique(reach_row * n_towns + providers.reach_town.astype(np.int64))
    ex = config.excluded_pairs
    ri = _index_of(requests.ids, ex[:, 0])
    pj = _index_of(providers.ids, ex[:, 1])
    ok = (ri >= 0) & (pj >= 0)
    excluded_key = np.unique(ri[ok] * m + pj[ok])
    pref_row = np.repeat(np.arange(n, dtype=np.int64), np.diff(requests.pref_ptr_array))
    pp = _index_of(providers.ids, requests.pref_provider_id_array)
    pref_key = np.unique(pref_row[pp >= 0] * m + pp[pp >= 0])
    lat = np.radians(coords[:, 0])
    lon = np.radians(coords[:, 1])
    xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
    return Prepared(
        requests=requests,
        providers=providers,
        config=config,
        town_coords=coords,
        weights=config.weights.as_array(),
        n_skills=n_skills,
        need_skill=need_skill,
        need_weight=need_weight,
        need_row=need_row,
        level=level,
        reach_key=reach_key,
        excluded_key=excluded_key,
        pref_key=pref_key,
        town_xyz=xyz,
    )


def _in_sorted(keys: I64, sorted_keys: I64) -> npt.NDArray[np.bool_]:
    if sorted_keys.shape[0] == 0:
        return np.zeros(keys.shape[0], dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.shape[0] - 1)
    out: npt.NDArray[np.bool_] = sorted_keys[pos] == keys
    return out


def town_distance_km(p: Prepared, t1: I64, t2: I64) -> F64:
    """Great-circle distance between towns (vectorised)."""
    dot = np.einsum("ij,ij->i", p.town_xyz[t1], p.town_xyz[t2])
    out: F64 = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip((1.0 - dot) / 2.0, 0.0, 1.0)))
    return out


def proximity(p: Prepared, t1: I64, t2: I64) -> F64:
    """Distance criterion: 1 in the same town, halved every ``distance_half_km``."""
    d = town_distance_km(p, t1, t2)
    out: F64 = np.exp2(-d / p.config.distance_half_km)
    out[t1 == t2] = 1.0
    return out


def pair_compat(
    p: Prepared, ri: I64, pj: I64
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.int8]]:
    """Per pair: kind and stage accepted, a common language, and the common formats (bits)."""
    r, q = p.requests, p.providers
    rk, pk = r.kind[ri], q.kind[pj]
    kind_ok = ((rk & pk) != 0) & (
        (pk != KIND_SPONSORSHIP)
        | (((q.accepted_stages[pj] >> r.stage[ri].astype(np.uint64)) & np.uint64(1)) == 1)
    )
    lang_ok = (r.languages[ri] & q.languages[pj]) != 0
    common: npt.NDArray[np.int8] = r.format[ri] & q.format[pj]
    return kind_ok, lang_ok, common


def reaches(p: Prepared, ri: I64, pj: I64) -> npt.NDArray[np.bool_]:
    """Per pair: the provider is in the request's town or reaches it (for in-person)."""
    r, q = p.requests, p.providers
    t_r = r.town[ri].astype(np.int64)
    out: npt.NDArray[np.bool_] = (q.town[pj] == r.town[ri]) | _in_sorted(
        pj * p.town_coords.shape[0] + t_r, p.reach_key
    )
    return out


def constraint_codes(p: Prepared, ri: I64, pj: I64) -> npt.NDArray[np.int8]:
    """First hard constraint violated by each pair (``OK`` when allowed), min score excluded."""
    r, q = p.requests, p.providers
    code = np.zeros(ri.shape[0], dtype=np.int8)
    kind_ok, lang_ok, common = pair_compat(p, ri, pj)
    fmt_ok = ((common & FORMAT_REMOTE) != 0) | (
        ((common & FORMAT_IN_PERSON) != 0) & reaches(p, ri, pj)
    )
    ruk, quk = r.user_key_array, q.user_key_array
    self_match = (ruk[ri] == quk[pj]) & (ruk[ri] >= 0)
    excl = self_match | _in_sorted(ri * p.m + pj, p.excluded_key)
    code[excl] = C_EXCLUDED
    code[~fmt_ok] = C_FORMAT
    code[~lang_ok] = C_LANGUAGE
    code[~kind_ok] = C_KIND
    return code


def criteria(p: Prepared, ri: I64, pj: I64) -> F64:
    """(k, len(CRITERIA)) array of criteria in [0, 1] for the pairs (constraints not checked)."""
    r, q = p.requests, p.providers
    k = ri.shape[0]
    out = np.empty((k, len(CRITERIA)), dtype=np.float64)
    # skills: importance-weighted coverage of the needs by the provider's levels (level / 3)
    counts = np.diff(r.need_ptr)[ri]
    pair_of_need = np.repeat(np.arange(k, dtype=np.int64), counts)
    starts = r.need_ptr[ri]
    offs = np.arange(pair_of_need.shape[0], dtype=np.int64) - np.repeat(
        np.cumsum(counts) - counts, counts
    )
    need_idx = np.repeat(starts, counts) + offs
    lv = p.level[pj[pair_of_need], p.need_skill[need_idx]].astype(np.float64) / 3.0
    out[:, 0] = np.bincount(pair_of_need, weights=p.need_weight[need_idx] * lv, minlength=k)
    # sector: 1 if the provider covers the request's sector, 0 if not, 0.5 if unknown
    sec = r.sector[ri]
    known = sec >= 0
    bit = (q.sectors[pj] >> np.where(known, sec, 0).astype(np.uint64)) & np.uint64(1)
    out[:, 1] = np.where(known, bit.astype(np.float64), 0.5)
    # distance
    out[:, 2] = proximity(p, r.town[ri].astype(np.int64), q.town[pj].astype(np.int64))
    # availability: share of the request's slots the provider also has (0.5 if either is unset)
    ra, qa = r.availability[ri], q.availability[pj]
    both = popcount32(ra & qa).astype(np.float64)
    mine = popcount32(ra).astype(np.float64)
    out[:, 3] = np.where((ra == 0) | (qa == 0), 0.5, both / np.where(mine > 0, mine, 1.0))
    # preference: the request named this provider
    out[:, 4] = _in_sorted(ri * p.m + pj, p.pref_key).astype(np.float64)
    return out


def scores_from_criteria(p: Prepared, crit: F64) -> F64:
    """Score in [0, 100], rounded to ``SCORE_DECIMALS`` (the solver works on these values)."""
    # explicit left-to-right sum: no BLAS, so the bits do not depend on the machine
    acc = np.zeros(crit.shape[0], dtype=np.float64)
    for c in range(crit.shape[1]):
        acc = np.add(acc, np.multiply(crit[:, c], float(p.weights[c])))
    s: F64 = np.round(np.clip(np.multiply(acc, 100.0), 0.0, 100.0), SCORE_DECIMALS)
    return s


def score_pairs(p: Prepared, ri: I64, pj: I64) -> tuple[F64, F64, npt.NDArray[np.int8]]:
    """Scores, criteria and constraint codes (min score included) of the given pairs."""
    crit = criteria(p, ri, pj)
    s = scores_from_criteria(p, crit)
    code = constraint_codes(p, ri, pj)
    code[(code == OK) & (s < p.config.min_score)] = C_MIN_SCORE
    return s, crit, code


@dataclass(frozen=True)
class PairScore:
    """Score of one pair with its breakdown in points per criterion (they add up to score)."""

    request_id: int
    provider_id: int
    score: float
    breakdown: dict[str, float]
    allowed: bool
    constraint: str
    """Name of the first hard constraint the pair violates, "" if it is allowed."""


def score_pair(
    requests: Requests,
    providers: Providers,
    request_id: int,
    provider_id: int,
    *,
    town_coords: Any,
    config: CycleConfig | None = None,
) -> PairScore:
    """Score and breakdown of one pair, by ids, with the hard constraint it violates if any."""
    cfg = config if config is not None else CycleConfig()
    p = prepare(requests, providers, cfg, town_coords)
    ri = _index_of(requests.ids, np.array([request_id], dtype=np.int64))
    pj = _index_of(providers.ids, np.array([provider_id], dtype=np.int64))
    if ri[0] < 0:
        raise ValueError(f"request_id: unknown id {request_id}")
    if pj[0] < 0:
        raise ValueError(f"provider_id: unknown id {provider_id}")
    s, crit, code = score_pairs(p, ri, pj)
    pts = 100.0 * crit[0] * p.weights
    return PairScore(
        request_id=int(request_id),
        provider_id=int(provider_id),
        score=float(s[0]),
        breakdown={c: float(v) for c, v in zip(CRITERIA, pts, strict=True)},
        allowed=bool(code[0] == OK),
        constraint=CONSTRAINT_NAMES[int(code[0])],
    )
