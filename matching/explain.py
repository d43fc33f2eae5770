"""Explanations: why a request is unmatched, and diagnostics of a cycle's solution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .candidates import Candidates, self_pairs, unique_sorted
from .model import F64, FORMAT_IN_PERSON, FORMAT_REMOTE, I64, UnmatchedReason
from .scoring import Prepared, pair_compat, reaches

PAIRS_PER_CHUNK = 2_000_000
HISTOGRAM_EDGES = np.linspace(0.0, 100.0, 11)


def _ranges(count: I64, limit: int) -> list[tuple[int, int]]:
    """Consecutive ranges of items whose counts add up to about ``limit`` (at least one item)."""
    out: list[tuple[int, int]] = []
    csum = np.cumsum(count)
    a, n = 0, count.shape[0]
    while a < n:
        before = int(csum[a - 1]) if a else 0
        b = max(a + 1, int(np.searchsorted(csum, before + limit, side="right")))
        out.append((a, min(b, n)))
        a = b
    return out


def _compatible_counts(p: Prepared, req: I64) -> tuple[I64, I64, I64, I64, I64]:
    """For each request of ``req`` (distinct indices), the number of providers that accept its
    kind and stage; of those, that share a language; of those, that can meet it (remotely or
    in person); of those, that are neither excluded nor the same person; of those, with a
    place. Never request x provider: the kind, stage, language and remote checks depend on a
    few fields only and are made once per distinct combination of them; the in-person check
    looks only at the providers in or reaching the request's town; exclusions are sparse."""
    r, q = p.requests, p.providers
    m, k = p.m, req.shape[0]
    cap = q.capacity > 0
    remote = np.int8(FORMAT_REMOTE)
    in_person = np.int8(FORMAT_IN_PERSON)

    def sig(*cols: npt.NDArray[np.generic]) -> npt.NDArray[np.uint64]:
        return np.column_stack([np.asarray(c).astype(np.uint64) for c in cols])

    # 1. per distinct (kind, stage, languages, format) of the requests against every distinct
    # (kind, accepted stages, languages, format, has a place) of the providers
    rs = sig(r.kind[req].astype(np.int64), r.stage[req].astype(np.int64), r.languages[req],
             r.format[req].astype(np.int64))
    _, r_first, r_inv = np.unique(rs, axis=0, return_index=True, return_inverse=True)
    r_inv = r_inv.reshape(-1)
    ps = sig(q.kind.astype(np.int64), q.accepted_stages, q.languages,
             q.format.astype(np.int64), cap)
    _, p_first, p_cnt = np.unique(ps, axis=0, return_index=True, return_counts=True)
    n_up = p_first.shape[0]
    p_cap = cap[p_first]
    table = np.zeros((r_first.shape[0], 4), dtype=np.int64)
    for a, b in _ranges(np.full(r_first.shape[0], n_up, dtype=np.int64), PAIRS_PER_CHUNK):
        rr = np.repeat(req[r_first[a:b]], n_up)
        pp = np.tile(p_first, b - a)
        kind_ok, lang_ok, common = pair_compat(p, rr, pp)
        kl = (kind_ok & lang_ok).reshape(b - a, n_up)
        rem = kl & ((common & remote) != 0).reshape(b - a, n_up)
        table[a:b, 0] = kind_ok.reshape(b - a, n_up) @ p_cnt
        table[a:b, 1] = kl @ p_cnt
        table[a:b, 2] = rem @ p_cnt
        table[a:b, 3] = rem @ (p_cnt * p_cap)
    n_kind, n_lang = table[r_inv, 0], table[r_inv, 1]
    n_meet, n_meet_cap = table[r_inv, 2].copy(), table[r_inv, 3].copy()
    # 2. in person only (no common remote format): the providers in or reaching the town
    n_towns = p.town_coords.shape[0]
    keys = unique_sorted(np.concatenate([
        q.town.astype(np.int64) * m + np.arange(m, dtype=np.int64),
        (p.reach_key % n_towns) * m + p.reach_key // n_towns,
    ]))
    t_ptr = np.searchsorted(keys // m, np.arange(n_towns + 1))
    local = np.flatnonzero((r.format[req] & in_person) != 0)
    town = r.town[req[local]].astype(np.int64)
    count = (t_ptr[town + 1] - t_ptr[town]).astype(np.int64)
    for a, b in _ranges(count, PAIRS_PER_CHUNK):
        c = count[a:b]
        owner = np.repeat(np.arange(a, b, dtype=np.int64), c)
        off = np.arange(owner.shape[0], dtype=np.int64) - np.repeat(np.cumsum(c) - c, c)
        pj = keys[np.repeat(t_ptr[town[a:b]], c) + off] % m
        kind_ok, lang_ok, common = pair_compat(p, req[local[owner]], pj)
        meet = kind_ok & lang_ok & ((common & in_person) != 0) & ((common & remote) == 0)
        n_meet[local[a:b]] += np.bincount(owner - a, weights=meet, minlength=b - a).astype(np.int64)
        n_meet_cap[local[a:b]] += np.bincount(
            owner - a, weights=meet & cap[pj], minlength=b - a
        ).astype(np.int64)
    # 3. excluded pairs and the same person, among the providers counted in n_meet
    pos = np.full(p.n, -1, dtype=np.int64)
    pos[req] = np.arange(k, dtype=np.int64)
    s_ri, s_pj = self_pairs(p)
    ex = unique_sorted(np.concatenate([p.excluded_key, s_ri * m + s_pj]))
    ex_ri, ex_pj = ex // m, ex % m
    mine = pos[ex_ri] >= 0
    ex_ri, ex_pj = ex_ri[mine], ex_pj[mine]
    kind_ok, lang_ok, common = pair_compat(p, ex_ri, ex_pj)
    fmt_ok = ((common & remote) != 0) | (((common & in_person) != 0) & reaches(p, ex_ri, ex_pj))
    gone = kind_ok & lang_ok & fmt_ok
    n_ok = n_meet - np.bincount(pos[ex_ri], weights=gone, minlength=k).astype(np.int64)
    n_cap = n_meet_cap - np.bincount(
        pos[ex_ri], weights=gone & cap[ex_pj], minlength=k
    ).astype(np.int64)
    return n_kind, n_lang, n_meet, n_ok, n_cap


def unmatched_reasons(
    p: Prepared, cand: Candidates, unmatched: I64
) -> tuple[UnmatchedReason, ...]:
    """Reason of each unmatched request (indices), from the most basic cause.

    A request with a candidate pair lost it to other requests (``PROVIDERS_FULL``): in an
    optimal solution every one of its candidate providers is full. For the others, the first
    hard constraint that leaves no provider (counts from ``_compatible_counts``); if some
    provider passes them all and has a place, the pair scored under the minimum: an allowed
    pair with a free place that reached the minimum score would be a candidate.
    """
    if p.m == 0:
        return tuple(UnmatchedReason.NO_PROVIDER_OF_KIND for _ in range(unmatched.shape[0]))
    has_cand = np.zeros(p.n, dtype=bool)
    has_cand[cand.ri] = True
    out: list[UnmatchedReason] = [UnmatchedReason.PROVIDERS_FULL] * unmatched.shape[0]
    lonely = np.flatnonzero(~has_cand[unmatched])
    if lonely.size == 0:
        return tuple(out)
    req, first, inv = np.unique(unmatched[lonely], return_index=True, return_inverse=True)
    n_kind, n_lang, n_meet, n_ok, n_cap = _compatible_counts(p, req.astype(np.int64))
    reason = np.select(
        [n_kind == 0, n_lang == 0, n_meet == 0, n_ok == 0, n_cap == 0],
        [0, 1, 2, 3, 4],
        default=5,
    )[inv.reshape(-1)]
    names = (
        UnmatchedReason.NO_PROVIDER_OF_KIND,
        UnmatchedReason.NO_COMMON_LANGUAGE,
        UnmatchedReason.NOT_REACHABLE,
        UnmatchedReason.EXCLUDED,
        UnmatchedReason.NO_CAPACITY,
        UnmatchedReason.BELOW_MIN_SCORE,
    )
    for idx, code in zip(lonely.tolist(), reason.tolist(), strict=True):
        out[idx] = names[code]
    return tuple(out)


@dataclass(frozen=True)
class Diagnostics:
    """Plain-value diagnostics of a cycle's solution.

    - ``score_histogram``: counts of proposal scores in ``histogram_edges`` bins (10 points);
    - ``provider_ids``/``provider_capacity``/``provider_load``: places offered and used;
    - ``match_rate_by_tier``: {tier: (requests, matched, rate)};
    - ``blocking_*``: pairs of the candidate graph not proposed, where the request and the
      provider would both gain at least ``blocking_margin`` points by pairing instead (the
      request against its proposal, 0 if unmatched; the provider against its lowest-scoring
      proposal if full, 0 otherwise), the largest smallest-gain first, at most
      ``max_blocking_pairs`` of ``blocking_count``;
    - ``unmatched_by_reason``: {reason value: count}.
    """

    histogram_edges: F64
    score_histogram: I64
    mean_score: float
    provider_ids: I64
    provider_capacity: I64
    provider_load: I64
    utilisation: float
    match_rate_by_tier: dict[int, tuple[int, int, float]]
    blocking_margin: float
    blocking_count: int
    blocking_request_ids: I64
    blocking_provider_ids: I64
    blocking_request_gain: F64
    blocking_provider_gain: F64
    unmatched_by_reason: dict[str, int]
    candidate_pairs: int
    exact: bool


def diagnostics(
    p: Prepared,
    cand: Candidates,
    provider: I64,
    reasons: tuple[UnmatchedReason, ...],
) -> Diagnostics:
    r, q, cfg = p.requests, p.providers, p.config
    n, m = p.n, p.m
    matched = np.flatnonzero(provider >= 0)
    key = cand.ri * max(m, 1) + cand.pj
    chosen_pos = np.searchsorted(key, matched * max(m, 1) + provider[matched])
    chosen_score = cand.score[chosen_pos] if matched.size else np.zeros(0)
    cur = np.zeros(n)
    cur[matched] = chosen_score
    hist, _ = np.histogram(chosen_score, bins=HISTOGRAM_EDGES)
    load = np.bincount(provider[matched], minlength=m).astype(np.int64)
    cap = q.capacity.astype(np.int64)
    # lowest proposal score of each full provider (0 for providers with a free place)
    worst = np.full(m, np.inf)
    if matched.size:
        np.minimum.at(worst, provider[matched], chosen_score)
    worst = np.where(load >= cap, worst, 0.0)
    worst[cap == 0] = np.inf
    is_chosen = np.zeros(key.shape[0], dtype=bool)
    is_chosen[chosen_pos] = True
    g_req = cand.score - cur[cand.ri]
    g_prov = cand.score - worst[cand.pj]
    margin = cfg.blocking_margin
    block = (~is_chosen) & (g_req >= margin) & (g_prov >= margin) & np.isfinite(g_prov)
    bidx = np.flatnonzero(block)
    gmin = np.minimum(g_req[bidx], g_prov[bidx])
    order = np.lexsort((cand.pj[bidx], cand.ri[bidx], -gmin))[: cfg.max_blocking_pairs]
    bidx = bidx[order]
    tiers: dict[int, tuple[int, int, float]] = {}
    is_m = provider >= 0
    for t in (0, 1, 2):
        sel = r.priority_tier == t
        tot = int(sel.sum())
        got = int((sel & is_m).sum())
        tiers[t] = (tot, got, got / tot if tot else 0.0)
    by_reason: dict[str, int] = {}
    for reason in reasons:
        by_reason[reason.value] = by_reason.get(reason.value, 0) + 1
    return Diagnostics(
        histogram_edges=HISTOGRAM_EDGES.copy(),
        score_histogram=hist.astype(np.int64),
        mean_score=float(chosen_score.mean()) if matched.size else 0.0,
        provider_ids=q.ids.copy(),
        provider_capacity=cap,
        provider_load=load,
        utilisation=float(load.sum() / cap.sum()) if cap.sum() else 0.0,
        match_rate_by_tier=tiers,
        blocking_margin=float(margin),
        blocking_count=int(block.sum()),
        blocking_request_ids=r.ids[cand.ri[bidx]].copy(),
        blocking_provider_ids=q.ids[cand.pj[bidx]].copy(),
        blocking_request_gain=g_req[bidx].astype(np.float64),
        blocking_provider_gain=g_prov[bidx].astype(np.float64),
        unmatched_by_reason=by_reason,
        candidate_pairs=int(key.shape[0]),
        exact=cand.exact,
    )
