"""Explanations: why a request is unmatched, and diagnostics of a cycle's solution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .candidates import Candidates
from .model import F64, I64, UnmatchedReason
from .scoring import C_EXCLUDED, C_FORMAT, C_KIND, C_LANGUAGE, Prepared, constraint_codes

PAIRS_PER_CHUNK = 2_000_000
HISTOGRAM_EDGES = np.linspace(0.0, 100.0, 11)


def unmatched_reasons(
    p: Prepared, cand: Candidates, unmatched: I64
) -> tuple[UnmatchedReason, ...]:
    """Reason of each unmatched request (indices), from the most basic cause.

    A request with a candidate pair lost it to other requests (``PROVIDERS_FULL``): in an
    optimal solution every one of its candidate providers is full. Others are scanned against
    every provider to find the first hard constraint that removes all of them.
    """
    has_cand = np.zeros(p.n, dtype=bool)
    has_cand[cand.ri] = True
    out: list[UnmatchedReason] = [UnmatchedReason.PROVIDERS_FULL] * unmatched.shape[0]
    lonely = np.flatnonzero(~has_cand[unmatched])
    m = p.m
    if lonely.size == 0 or m == 0:
        if m == 0:
            return tuple(UnmatchedReason.NO_PROVIDER_OF_KIND for _ in out)
        return tuple(out)
    cap_ok = p.providers.capacity > 0
    per_chunk = max(1, PAIRS_PER_CHUNK // m)
    for c0 in range(0, lonely.shape[0], per_chunk):
        sel = lonely[c0 : c0 + per_chunk]
        ri = np.repeat(unmatched[sel], m)
        pj = np.tile(np.arange(m, dtype=np.int64), sel.shape[0])
        # no score needed: an allowed pair with a free place that reached the minimum score
        # would be a candidate, so such pairs here are below the minimum
        code = constraint_codes(p, ri, pj).reshape(sel.shape[0], m)
        any_kind = (code != C_KIND).any(axis=1)
        any_lang = ((code != C_KIND) & (code != C_LANGUAGE)).any(axis=1)
        base = (code != C_KIND) & (code != C_LANGUAGE) & (code != C_FORMAT)
        any_fmt = base.any(axis=1)
        ok_or_low = base & (code != C_EXCLUDED)  # OK or below the minimum score
        any_ok = ok_or_low.any(axis=1)
        any_cap = (ok_or_low & cap_ok[None, :]).any(axis=1)
        for k, idx in enumerate(sel.tolist()):
            if not any_kind[k]:
                out[idx] = UnmatchedReason.NO_PROVIDER_OF_KIND
            elif not any_lang[k]:
                out[idx] = UnmatchedReason.NO_COMMON_LANGUAGE
            elif not any_fmt[k]:
                out[idx] = UnmatchedReason.NOT_REACHABLE
            elif not any_ok[k]:
                out[idx] = UnmatchedReason.EXCLUDED
            elif not any_cap[k]:
                out[idx] = UnmatchedReason.NO_CAPACITY
            else:
                out[idx] = UnmatchedReason.BELOW_MIN_SCORE
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
