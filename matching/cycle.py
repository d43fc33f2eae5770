"""``solve_cycle``: score, prune, solve and explain one matching cycle."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .candidates import generate
from .explain import Diagnostics, diagnostics, unmatched_reasons
from .model import CRITERIA, F64, I64, CycleConfig, Providers, Requests, UnmatchedReason
from .scoring import SCORE_DECIMALS, prepare
from .solver import Edges, solve_edges

Progress = Callable[[str, float], None]
STAGES = ("prepare", "candidates", "solve", "explain")


@dataclass(frozen=True)
class CycleResult:
    """Proposals, unmatched requests with reasons, and diagnostics of one cycle.

    One row per proposal, sorted by request id: ``request_ids``, ``provider_ids``, ``scores``
    (0..100) and ``breakdown`` (points per criterion, columns named by ``criteria``, adding up
    to the score). ``objective`` is what the solver maximised: the sum of proposal scores plus
    the priority and waiting bonuses of the matched requests; ``total_score`` is the sum of
    scores alone. ``exact`` tells whether every allowed pair was considered (small pools) or
    the pruned candidate graph. ``input_hash`` is the sha256 of the canonicalised inputs and
    configuration: same hash, same result, bit for bit.
    """

    request_ids: I64
    provider_ids: I64
    scores: F64
    breakdown: F64
    criteria: tuple[str, ...]
    unmatched_request_ids: I64
    unmatched_reasons: tuple[UnmatchedReason, ...]
    objective: float
    total_score: float
    matched_count: int
    diagnostics: Diagnostics
    timings: dict[str, float]
    input_hash: str
    exact: bool = True


def _permute_csr(ptr: I64, order: I64, *cols: np.ndarray) -> tuple[I64, list[np.ndarray]]:
    counts = np.diff(ptr)[order]
    new_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    idx = np.repeat(ptr[:-1][order], counts) + (
        np.arange(int(new_ptr[-1]), dtype=np.int64) - np.repeat(new_ptr[:-1], counts)
    )
    row = np.repeat(np.arange(order.shape[0], dtype=np.int64), counts)
    out = [c[idx] for c in cols]
    # canonical order inside each row: by the listed columns
    within = np.lexsort(tuple(reversed([o.astype(np.int64) for o in out])) + (row,))
    return new_ptr, [o[within] for o in out]


def canonical(requests: Requests, providers: Providers) -> tuple[Requests, Providers]:
    """Rows sorted by id, CSR lists sorted inside each row: the order of the input is erased."""
    ro = np.argsort(requests.ids, kind="stable").astype(np.int64)
    need_ptr, (need_skill, need_imp) = _permute_csr(
        requests.need_ptr, ro, requests.need_skill, requests.need_importance
    )
    assert requests.pref_ptr is not None and requests.pref_provider_id is not None
    assert requests.user_key is not None and providers.user_key is not None
    pref_ptr, (pref_id,) = _permute_csr(requests.pref_ptr, ro, requests.pref_provider_id)
    req = Requests(
        ids=requests.ids[ro],
        town=requests.town[ro],
        format=requests.format[ro],
        languages=requests.languages[ro],
        availability=requests.availability[ro],
        priority_tier=requests.priority_tier[ro],
        waiting_days=requests.waiting_days[ro],
        sector=requests.sector[ro],
        stage=requests.stage[ro],
        kind=requests.kind[ro],
        need_ptr=need_ptr,
        need_skill=need_skill,
        need_importance=need_imp,
        user_key=requests.user_key[ro],
        pref_ptr=pref_ptr,
        pref_provider_id=pref_id,
    )
    po = np.argsort(providers.ids, kind="stable").astype(np.int64)
    reach_ptr, (reach_town,) = _permute_csr(providers.reach_ptr, po, providers.reach_town)
    skill_ptr, (skill_id, skill_level) = _permute_csr(
        providers.skill_ptr, po, providers.skill_id, providers.skill_level
    )
    prov = Providers(
        ids=providers.ids[po],
        kind=providers.kind[po],
        town=providers.town[po],
        reach_ptr=reach_ptr,
        reach_town=reach_town,
        format=providers.format[po],
        languages=providers.languages[po],
        availability=providers.availability[po],
        capacity=providers.capacity[po],
        sectors=providers.sectors[po],
        skill_ptr=skill_ptr,
        skill_id=skill_id,
        skill_level=skill_level,
        accepted_stages=providers.accepted_stages[po],
        user_key=providers.user_key[po],
    )
    return req, prov


def input_hash(
    requests: Requests, providers: Providers, config: CycleConfig, town_coords: F64
) -> str:
    """sha256 of canonical inputs (call on ``canonical`` data) and configuration."""
    h = hashlib.sha256(b"sociallab-matching/1\0")

    def put(name: str, value: Any) -> None:
        a = np.ascontiguousarray(value)
        h.update(f"{name}:{a.dtype.str}:{a.shape}\0".encode())
        h.update(a.tobytes())

    for obj, prefix in ((requests, "r"), (providers, "p")):
        for f in fields(obj):
            put(f"{prefix}.{f.name}", getattr(obj, f.name))
    ex = np.unique(np.asarray(config.excluded_pairs, dtype=np.int64), axis=0)
    for f in fields(config):
        if f.name == "weights":
            put("c.weights", config.weights.as_array())
        elif f.name == "excluded_pairs":
            put("c.excluded_pairs", ex.reshape(-1, 2))
        else:
            put(f"c.{f.name}", np.asarray(getattr(config, f.name), dtype=np.float64))
    put("town_coords", town_coords)
    return h.hexdigest()


def solve_cycle(
    requests: Requests,
    providers: Providers,
    config: CycleConfig | None = None,
    *,
    town_coords: Any,
    progress: Progress | None = None,
) -> CycleResult:
    """Solve one cycle: the proposals maximise the total score plus bonuses over the pool.

    ``progress(stage, fraction)`` is called as stages advance (stages: prepare, candidates,
    solve, explain; fraction in [0, 1]).
    """
    cfg = config if config is not None else CycleConfig()
    timings: dict[str, float] = {}

    last: dict[str, float] = {}

    def report(stage: str, frac: float) -> None:
        # at most about a hundred calls per stage: the backend may write each one
        if progress is None:
            return
        prev = last.get(stage)
        if prev is None or frac >= 1.0 or frac - prev >= 0.01:
            last[stage] = frac
            progress(stage, float(frac))

    t0 = time.perf_counter()
    report("prepare", 0.0)
    req, prov = canonical(requests, providers)
    coords = np.ascontiguousarray(town_coords, dtype=np.float64)
    p = prepare(req, prov, cfg, coords)
    digest = input_hash(req, prov, cfg, p.town_coords)
    timings["prepare"] = time.perf_counter() - t0
    report("prepare", 1.0)

    t0 = time.perf_counter()
    report("candidates", 0.0)
    exact = p.n * p.m <= cfg.exact_threshold
    cand = generate(p, exact=exact, progress=lambda f: report("candidates", f))
    timings["candidates"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report("solve", 0.0)
    bonus = np.round(cfg.unmatched_penalty(req), SCORE_DECIMALS)
    value = np.round((cand.score + bonus[cand.ri]) * 10**SCORE_DECIMALS).astype(np.int64)
    edges = Edges(n=p.n, m=p.m, row=cand.ri, col=cand.pj, score=cand.score)
    provider = solve_edges(edges, prov.capacity.astype(np.int64), value)
    timings["solve"] = time.perf_counter() - t0
    report("solve", 1.0)

    t0 = time.perf_counter()
    report("explain", 0.0)
    matched = np.flatnonzero(provider >= 0)
    m1 = max(p.m, 1)
    pos = np.searchsorted(cand.ri * m1 + cand.pj, matched * m1 + provider[matched])
    scores = cand.score[pos]
    breakdown = 100.0 * cand.crit[pos] * p.weights[None, :]
    unmatched = np.flatnonzero(provider < 0)
    reasons = unmatched_reasons(p, cand, unmatched)
    diag = diagnostics(p, cand, provider, reasons)
    total = float(np.sum(scores))
    objective = float(np.round(total + float(np.sum(bonus[matched])), SCORE_DECIMALS))
    timings["explain"] = time.perf_counter() - t0
    report("explain", 1.0)
    return CycleResult(
        request_ids=req.ids[matched].copy(),
        provider_ids=prov.ids[provider[matched]].copy(),
        scores=scores,
        breakdown=breakdown,
        criteria=CRITERIA,
        unmatched_request_ids=req.ids[unmatched].copy(),
        unmatched_reasons=reasons,
        objective=objective,
        total_score=float(np.round(total, SCORE_DECIMALS)),
        matched_count=int(matched.shape[0]),
        diagnostics=diag,
        timings=timings,
        input_hash=digest,
        exact=exact,
    )
